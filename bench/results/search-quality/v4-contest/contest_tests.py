#!/usr/bin/env python3
"""Every contest of the v4 campaigns, decided both ways, with the test accuracy of each side.

For each Seer campaign under OUT/campaigns (default runs/search-quality-v4) that held a contest, the rival sample's
test accuracy is measured as the campaign measures a replacement (`seer-agent evaluate`: the campaign's seed, 40
fine-tuning steps, batch 64, 128 calibration images, the whole test split); the pick's test accuracy is the campaign's
own. Prints one line per contest and a JSON summary on the last line: the mean test accuracy reported by the
plain rule (the higher two-measurement mean wins) and by the noise margin (`ContestDecision`)."""
import glob, json, os, re, sqlite3, subprocess, sys, tempfile

out = sys.argv[1] if len(sys.argv) > 1 else "runs/search-quality-v4"
agent = ".build/release/seer-agent"
rows = []
for db in sorted(glob.glob(f"{out}/campaigns/*/seer.sqlite")):
    m = re.search(r"sq-(\w+)-s(\d+)-b(\d+)-n(\d+)", db)
    model, seed, budget = m.group(1), int(m.group(2)), int(m.group(3)) / 100
    c = sqlite3.connect(db)
    acc = dict(c.execute("select job_id, accuracy from measurement"))
    pol = dict(c.execute("select job_id, policy from measurement"))
    rechecks = [j for j in acc if ":recheck:" in j]
    if not rechecks:
        continue
    cid = rechecks[0].split(":recheck:")[0]
    b = rechecks[0].split(":recheck:")[1].split(":")[0]
    pick = [acc[f"{cid}:final:{b}:validation"], acc[f"{cid}:recheck:{b}:pick"]]
    sample = [acc[f"{cid}:recheck:{b}:sample"], acc[f"{cid}:recheck:{b}:sample-again"]]
    pick_test = acc[f"{cid}:final:{b}:test"]
    rival_test = acc.get(f"{cid}:final:{b}:measured-best:test")
    source = "measured" if rival_test is not None else "optimizer"
    if rival_test is None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(pol[f"{cid}:recheck:{b}:sample"])
        r = subprocess.run([agent, "evaluate", "--model", model, "--policy", f.name, "--finetune-steps", "40",
                            "--finetune-batch-size", "64", "--calibration-images", "128", "--split", "test",
                            "--seed", str(seed), "--json"], capture_output=True, text=True, check=True)
        os.unlink(f.name)
        rival_test = json.loads(r.stdout.strip().splitlines()[-1])["accuracy"]
    pm, sm = sum(pick) / 2, sum(sample) / 2
    row = dict(model=model, seed=seed, budget=b, pick=pick, sample=sample, pick_test=pick_test,
               rival_test=rival_test, margin_rule=source, plain_rule="measured" if sm > pm else "optimizer")
    row["plain_test"] = rival_test if row["plain_rule"] == "measured" else pick_test
    row["margin_test"] = rival_test if source == "measured" else pick_test
    print(json.dumps(row))
    rows.append(row)
n = len(rows)
summary = dict(contests=n,
               plain_rule_replaced=sum(r["plain_rule"] == "measured" for r in rows),
               margin_rule_replaced=sum(r["margin_rule"] == "measured" for r in rows),
               plain_rule_test=sum(r["plain_test"] for r in rows) / max(n, 1),
               margin_rule_test=sum(r["margin_test"] for r in rows) / max(n, 1),
               pick_test=sum(r["pick_test"] for r in rows) / max(n, 1),
               rival_test=sum(r["rival_test"] for r in rows) / max(n, 1))
print(json.dumps(summary))
