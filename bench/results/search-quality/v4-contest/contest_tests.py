#!/usr/bin/env python3
"""Every contest of the v4 campaigns, decided both ways, with the test accuracy of each side.

For each Seer campaign under OUT/campaigns (default runs/search-quality-v4) that held a contest, the rival sample's
test accuracy is measured as the campaign measures a replacement (`seer-agent evaluate` with the campaign's own
measurement settings and seed, on the whole test split); the pick's test accuracy is the campaign's own. Prints one
line per contest, then one JSON summary on the last line: per model and budget the mean test accuracy Seer reports
under the plain rule (the higher two-measurement mean wins) and under the noise margin (`ContestDecision`), over every
campaign (an uncontested one reports its pick under both); and over the contests, the rival's test minus the pick's
(mean, sd, standard error) and what an oracle choosing the better side of each would gain over the picks."""
import glob, json, os, sqlite3, statistics, sys
from collections import defaultdict

out = sys.argv[1] if len(sys.argv) > 1 else "runs/search-quality-v4"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_evaluate import test_accuracy  # noqa: E402


contests, reported = [], defaultdict(lambda: {"plain": [], "margin": []})
for db in sorted(glob.glob(f"{out}/campaigns/*/seer.sqlite")):
    c = sqlite3.connect(db)
    config = json.loads(c.execute("select config from campaign").fetchone()[0])
    model, seed, cid = config["model"], config["seed"], config["name"]
    acc = dict(c.execute("select job_id, accuracy from measurement"))
    pol = dict(c.execute("select job_id, policy from measurement"))
    b = next(j.split(":final:")[1].split(":")[0] for j in acc if ":final:" in j)
    pick_test = acc[f"{cid}:final:{b}:test"]
    key = f"{model} {b}"
    if f"{cid}:recheck:{b}:sample" not in acc:
        reported[key]["plain"].append(pick_test)
        reported[key]["margin"].append(pick_test)
        continue
    pick = [acc[f"{cid}:final:{b}:validation"], acc[f"{cid}:recheck:{b}:pick"]]
    sample = [acc[f"{cid}:recheck:{b}:sample"], acc[f"{cid}:recheck:{b}:sample-again"]]
    replaced_test = acc.get(f"{cid}:final:{b}:measured-best:test")
    rival = replaced_test if replaced_test is not None else test_accuracy(model, pol[f"{cid}:recheck:{b}:sample"], seed,
                                                                       config["measurement"])
    row = dict(model=model, seed=seed, budget=b, pick=pick, sample=sample, pick_test=pick_test, rival_test=rival,
               margin_rule="measured" if replaced_test is not None else "optimizer",
               plain_rule="measured" if sum(sample) > sum(pick) else "optimizer")
    row["plain_test"] = rival if row["plain_rule"] == "measured" else pick_test
    row["margin_test"] = rival if row["margin_rule"] == "measured" else pick_test
    print(json.dumps(row))
    contests.append(row)
    reported[key]["plain"].append(row["plain_test"])
    reported[key]["margin"].append(row["margin_test"])

differences = [r["rival_test"] - r["pick_test"] for r in contests]
summary = dict(
    contests=len(contests),
    plain_rule_replaced=sum(r["plain_rule"] == "measured" for r in contests),
    margin_rule_replaced=sum(r["margin_rule"] == "measured" for r in contests),
    seer_test={k: {rule: round(statistics.mean(v), 3) for rule, v in rules.items()} | {"campaigns": len(rules["plain"])}
               for k, rules in sorted(reported.items())})
if len(differences) >= 2:
    summary["rival_minus_pick_test"] = dict(mean=statistics.mean(differences), sd=statistics.stdev(differences),
                                            se=statistics.stdev(differences) / len(differences) ** 0.5,
                                            min=min(differences), max=max(differences))
    summary["oracle_gain_over_picks"] = statistics.mean(max(d, 0) for d in differences)
print(json.dumps(summary))
