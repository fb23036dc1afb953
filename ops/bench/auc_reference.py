"""ROC AUC reference for ops/bench/bench-auc.sh: pandas + sklearn.

Usage: auc_reference.py HOLDOUT.csv SUBMISSION.csv
Reads both CSVs (id,malignant), aligns the submission to the holdout by id
and prints {"primary_score": roc_auc_score, "rows": n, "metric_ms": time of
roc_auc_score alone} as one JSON line. Run with Debian's /usr/bin/python3.
"""
import json
import sys
import time

import pandas as pd
from sklearn.metrics import roc_auc_score

hold = pd.read_csv(sys.argv[1])
sub = pd.read_csv(sys.argv[2])
merged = hold.merge(sub, on="id", suffixes=("_true", "_pred"), validate="one_to_one")
if len(merged) != len(hold):
    sys.exit("submission ids do not match the holdout")
t0 = time.perf_counter()
auc = roc_auc_score(merged["malignant_true"], merged["malignant_pred"])
ms = (time.perf_counter() - t0) * 1000
print(json.dumps({"primary_score": float(auc), "rows": len(merged), "metric_ms": ms}))
