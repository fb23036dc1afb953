"""Writes a breast-cancer-diagnosis-format holdout and submission of N rows
for ops/bench/bench-auc.sh: id,malignant with 0/1 truth (37% positive) and
probabilities rounded to 4 decimals (so there are many ties), seeded.

Usage: auc_data.py N OUTDIR
"""
import os
import sys

import numpy as np

n, out = int(sys.argv[1]), sys.argv[2]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(569)
truth = (rng.random(n) < 0.37).astype(int)
pred = np.clip(0.35 * truth + rng.normal(0.4, 0.2, n), 0, 1).round(4)
ids = np.arange(1, n + 1)
perm = rng.permutation(n)  # the submission in another order
with open(os.path.join(out, "holdout.csv"), "w") as f:
    f.write("id,malignant\n")
    f.write("\n".join(f"{i},{t}" for i, t in zip(ids, truth)))
    f.write("\n")
with open(os.path.join(out, "submission.csv"), "w") as f:
    f.write("id,malignant\n")
    f.write("\n".join(f"{ids[j]},{pred[j]:.4f}" for j in perm))
    f.write("\n")
