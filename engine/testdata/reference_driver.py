#!/usr/bin/python3
"""Runs reference_score.py's scoring functions on many (competition,
holdout, submission) triples in one process, so pandas and sklearn load
once. Reads tab-separated triples on stdin, prints one JSON line each:
{"score": float, "rows": int} or {"error": str}.

Usage: reference_driver.py PATH/TO/reference_score.py < jobs.tsv
"""
import importlib.util
import json
import sys
import types

spec = importlib.util.spec_from_file_location("reference_score", sys.argv[1])
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)

for line in sys.stdin:
    comp, holdout, submission = line.rstrip("\n").split("\t")
    args = types.SimpleNamespace(competition=comp, holdout=holdout, submission=submission)
    try:
        if comp == "rsna-pneumonia-detection":
            score, rows = ref.rsna(args)
        else:
            score, rows = ref.classification(args, *ref.SPECS[comp])
        print(json.dumps({"score": score, "rows": rows}), flush=True)
    except SystemExit as e:
        print(json.dumps({"error": "reference rejected the submission (exit %s)" % e.code}), flush=True)
