#!/usr/bin/python3
"""Independent numpy/scipy reference for competitions/signif (issue 13).

Reads JSON on stdin: {"entries": [[per-unit values, NaN as null], ...] (rank
order, entries[0] the leader), "higher_is_better": bool, "resamples": int,
"seed": int} and writes, per entry, the paired bootstrap comparison with the
leader computed with numpy's own generator (not MedForge's stream), plus
scipy.stats.bootstrap's paired percentile interval of the difference of
means as a second opinion:

  {"figures": [{"p_value", "diff", "diff_low", "diff_high", "rank_low",
                "rank_high", "tied", "scipy_low", "scipy_high"}, ...]}

Definitions (the same as signif's): every resample draws n unit indices with
replacement, shared by all entries; an entry's resampled score is the mean of
its non-NaN drawn values; diff = entry - leader; p = min(1, 2 * min(share of
diffs <= 0, share >= 0)); intervals are numpy "linear" percentiles at 2.5 and
97.5; rank = 1 + entries strictly better in the resample; the rank interval
is widened to include the observed rank; tied = p >= 0.05.
"""
import json
import math
import sys

import numpy as np
from scipy import stats


def main():
    req = json.load(sys.stdin)
    X = np.array([[np.nan if v is None else v for v in e] for e in req["entries"]], dtype=float)
    higher = bool(req["higher_is_better"])
    B = int(req["resamples"])
    rng = np.random.default_rng(int(req["seed"]))
    k, n = X.shape
    valid = ~np.isnan(X)
    Xz = np.where(valid, X, 0.0)
    S = np.empty((k, B))
    for b in range(B):
        w = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(float)
        num = Xz @ w
        den = valid.astype(float) @ w
        obs = np.nanmean(X, axis=1)
        S[:, b] = np.where(den > 0, num / np.where(den > 0, den, 1), obs)
    obs = np.nanmean(X, axis=1)
    keys = -S if higher else S
    ranks = np.empty((k, B))
    for b in range(B):
        col = np.sort(keys[:, b])
        ranks[:, b] = np.searchsorted(col, keys[:, b], side="left") + 1
    out = []
    for j in range(k):
        d = S[j] - S[0]
        le, ge = np.sum(d <= 0), np.sum(d >= 0)
        p = 1.0 if j == 0 else float(min(1.0, 2 * min(le, ge) / B))
        r = np.sort(ranks[j])
        lo = int(r[int(math.floor(0.025 * (B - 1)))])
        hi = int(r[int(math.ceil(0.975 * (B - 1)))])
        fig = {
            "p_value": p,
            "diff": float(obs[j] - obs[0]),
            "diff_low": float(np.percentile(d, 2.5)),
            "diff_high": float(np.percentile(d, 97.5)),
            "rank_low": min(lo, j + 1),
            "rank_high": max(hi, j + 1),
            "tied": bool(p >= 0.05),
        }
        if j > 0 and valid[j].all() and valid[0].all():
            res = stats.bootstrap((X[j], X[0]), lambda a, c, axis=-1: np.mean(a, axis=axis) - np.mean(c, axis=axis),
                                  paired=True, vectorized=True, n_resamples=B, method="percentile",
                                  random_state=np.random.default_rng(int(req["seed"]) + j))
            fig["scipy_low"] = float(res.confidence_interval.low)
            fig["scipy_high"] = float(res.confidence_interval.high)
        out.append(fig)
    json.dump({"figures": out}, sys.stdout)


if __name__ == "__main__":
    main()
