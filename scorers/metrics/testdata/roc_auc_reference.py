"""Reference ROC AUC for scorers/metrics tests: sklearn.metrics.roc_auc_score.

Reads JSON from stdin: a list of cases {"truth": [0/1...], "pred": [floats]}.
Writes a JSON list: per case {"auc": float} or {"error": "one_class"} when
sklearn refuses (only one class present). Run with Debian's /usr/bin/python3.
"""
import json
import sys

from sklearn.metrics import roc_auc_score

out = []
for case in json.load(sys.stdin):
    try:
        out.append({"auc": float(roc_auc_score(case["truth"], case["pred"]))})
    except ValueError as e:
        if "Only one class" not in str(e):
            raise
        out.append({"error": "one_class"})
json.dump(out, sys.stdout)
