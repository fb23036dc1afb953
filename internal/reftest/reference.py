#!/usr/bin/python3
"""MedForge's own reference scorer, kept in the repository for the agreement tests.

It is written the way a competition host would write it with pandas, numpy and
sklearn, independently of the Go and WebAssembly scorers it checks. It needs
Debian's python3-pandas and python3-sklearn and runs under /usr/bin/python3.

Batch protocol (one process scores many sets, so pandas loads once): stdin
carries one job per line, tab-separated "competition<TAB>holdout.csv<TAB>
submission.csv"; stdout answers one JSON line per job, in order:
  {"score": float, "rows": int}   the primary score and the scored row count
  {"error": "..."}                the reference rejected the submission

Metrics:
  titanic-survival, cifar-100-classification: sklearn's accuracy_score over the
    holdout joined with the submission on the id column; rows = joined rows.
  rsna-pneumonia-detection: mean average precision over IoU thresholds
    0.40, 0.45, ..., 0.75. Per image, predictions are ranked by confidence,
    highest first (a stable sort: ties keep their PredictionString order);
    at each threshold every truth box, in holdout order, claims the first
    unclaimed prediction with IoU >= t (true positive) or counts as a false
    negative; unclaimed predictions are false positives; the image's value is
    the mean over thresholds of TP / (TP + FP + FN). An image with neither truth
    nor predictions is left out; one with predictions but no truth scores 0.
    The score is the mean over the images not left out (1.0 if none remain);
    rows = submission rows.
"""
import json
import sys

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score

CLASSIFICATION = {
    "titanic-survival": ("PassengerId", "Survived"),
    "cifar-100-classification": ("image_id", "label"),
}
RSNA = "rsna-pneumonia-detection"
THRESHOLDS = [0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75]


class Rejected(Exception):
    """The submission is not scorable; the message says why."""


def same_ids(sub_ids, truth_ids, id_col):
    if sub_ids.duplicated().any():
        raise Rejected(f"duplicate {id_col} {sub_ids[sub_ids.duplicated()].iloc[0]}")
    extra = set(sub_ids) - set(truth_ids)
    if extra:
        raise Rejected(f"unknown {id_col} {min(extra)}")
    if len(set(truth_ids)) != len(sub_ids):
        raise Rejected(f"{id_col} values missing")


def classification(holdout, submission, id_col, target):
    truth = pd.read_csv(holdout, dtype={id_col: str})
    sub = pd.read_csv(submission, dtype={id_col: str})
    if set(sub.columns) != {id_col, target} or len(sub.columns) != 2:
        raise Rejected(f"columns must be {id_col},{target}")
    if not pd.api.types.is_integer_dtype(sub[target]):
        raise Rejected(f"{target} must be an integer")
    same_ids(sub[id_col], truth[id_col], id_col)
    joined = truth[[id_col, target]].merge(sub, on=id_col, how="inner", suffixes=("", "_pred"))
    return float(accuracy_score(joined[target], joined[target + "_pred"])), len(joined)


def iou_matrix(truth, pred):
    """IoU of every truth box (rows) with every predicted box (columns)."""
    tx, ty, tw, th = (truth[:, i:i + 1] for i in range(4))
    px, py, pw, ph = (pred[:, i] for i in range(4))
    iw = np.minimum(tx + tw, px + pw) - np.maximum(tx, px)
    ih = np.minimum(ty + th, py + ph) - np.maximum(ty, py)
    inter = iw * ih
    iou = inter / (tw * th + pw * ph - inter)
    return np.where((iw > 0) & (ih > 0), iou, 0.0)


def image_value(truth, pred):
    """truth: (n, 4) boxes; pred: (m, 5) conf+box rows. None when left out."""
    if len(truth) == 0:
        return None if len(pred) == 0 else 0.0
    order = np.argsort(-pred[:, 0], kind="stable")
    iou = iou_matrix(truth, pred[order, 1:]) if len(pred) else np.zeros((len(truth), 0))
    values = []
    for t in THRESHOLDS:
        claimed = np.zeros(iou.shape[1], dtype=bool)
        tp = 0
        for row in iou:
            free = np.flatnonzero((row >= t) & ~claimed)
            if len(free):
                claimed[free[0]] = True
                tp += 1
        fn = len(truth) - tp
        fp = iou.shape[1] - tp
        values.append(tp / (tp + fp + fn))
    return float(np.mean(values))


def rsna(holdout, submission):
    truth = pd.read_csv(holdout, dtype={"patientId": str})
    sub = pd.read_csv(submission, dtype=str, keep_default_na=False)
    if list(sorted(sub.columns)) != ["PredictionString", "patientId"]:
        raise Rejected("columns must be patientId,PredictionString")
    same_ids(sub["patientId"], truth["patientId"], "patientId")
    boxes = truth[truth["Target"] == 1]
    by_image = {pid: g[["x", "y", "width", "height"]].to_numpy(dtype=float)
                for pid, g in boxes.groupby("patientId", sort=False)}
    empty = np.zeros((0, 4))
    values = []
    for pid, text in zip(sub["patientId"], sub["PredictionString"]):
        try:
            flat = np.array([float(v) for v in text.split()], dtype=float)
        except ValueError:
            raise Rejected(f"patientId {pid}: PredictionString holds a non-number")
        if len(flat) % 5:
            raise Rejected(f"patientId {pid}: PredictionString needs groups of 5")
        pred = flat.reshape(-1, 5)
        if (pred[:, 3] <= 0).any() or (pred[:, 4] <= 0).any():
            raise Rejected(f"patientId {pid}: boxes need a positive width and height")
        v = image_value(by_image.get(pid, empty), pred)
        if v is not None:
            values.append(v)
    return (float(np.mean(values)) if values else 1.0), len(sub)


def score(competition, holdout, submission):
    if competition == RSNA:
        return rsna(holdout, submission)
    if competition in CLASSIFICATION:
        return classification(holdout, submission, *CLASSIFICATION[competition])
    raise Rejected(f"unknown competition {competition}")


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        competition, holdout, submission = line.rstrip("\n").split("\t")
        try:
            s, rows = score(competition, holdout, submission)
            answer = {"score": s, "rows": rows}
        except Rejected as e:
            answer = {"error": str(e)}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
