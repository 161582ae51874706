#!/usr/bin/env python3
"""Seer minus the sensitivity allocation per model, budget and seed, from search-quality JSON files (each test figure
the mean of the bench's --test-seeds fine-tunings): mean, standard error and per-seed differences. Usage: compare.py
FILE.json ..."""
import json, sys, statistics as st
for f in sys.argv[1:]:
    try: d = json.load(open(f))
    except Exception as e: print(f, e); continue
    for r in d["results"]:
        ps = r["per_seed"]
        seeds = [s for s in sorted(ps) if "seer_test_32" in ps[s] and "sensitivity_test" in ps[s]]
        diffs = [ps[s]["seer_test_32"] - ps[s]["sensitivity_test"] for s in seeds]
        print(f.split("/")[-1][:40], r["model"], r["budget"], "seer %.2f alloc %.2f diff %+.2f (se %.2f) per seed %s | pick-pred-err %.2f replaced %s" % (
            st.mean(ps[s]["seer_test_32"] for s in seeds), st.mean(ps[s]["sensitivity_test"] for s in seeds), st.mean(diffs),
            (st.stdev(diffs) / len(diffs) ** 0.5) if len(diffs) > 1 else 0, [round(x, 2) for x in diffs],
            st.mean(ps[s].get("pick_abs_error_32", float("nan")) for s in seeds), sum(ps[s].get("seer_replaced_32", 0) for s in seeds)))
