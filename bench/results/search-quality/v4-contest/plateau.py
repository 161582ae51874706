#!/usr/bin/env python3
"""How far above the sensitivity allocation do the policies a 12% campaign measured really lie?

For each 12% Seer campaign under OUT/campaigns (default runs/search-quality-v4), the allocation (round 0's first
sample), the campaign's reported choice and every informative sample (rounds >= 1) are fine-tuned again with fine-tune
seeds that no campaign used (--seeds, default 101,102,103) and measured on the whole test split, with the campaign's
own measurement settings. The campaign's single measurements cannot tell these policies apart (their spread is about
the measurement noise); the repeats can: per campaign, the between-policy standard deviation of the true test accuracy
is the observed spread of the policy means less the part the fine-tuning noise explains (a one-way random-effects
estimate), and each policy's gap to the allocation is a mean over seeds.

One JSON line per measured policy, then a JSON summary on the last line. Two measurements run at a time."""
import glob, json, os, sqlite3, statistics, sys
from concurrent.futures import ThreadPoolExecutor

out = sys.argv[1] if len(sys.argv) > 1 else "runs/search-quality-v4"
seeds = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "101,102,103").split(",")]
budget_tag = "-b1200-"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_evaluate import test_accuracy  # noqa: E402


campaigns = []
for db in sorted(glob.glob(f"{out}/campaigns/*{budget_tag}*/seer.sqlite")):
    c = sqlite3.connect(db)
    config = json.loads(c.execute("select config from campaign").fetchone()[0])
    chosen = c.execute("select policy from chosen_policy").fetchone()[0]
    rows = c.execute("select round, position, policy, accuracy from measurement "
                     "where purpose = 'sample' and split = 'validation' and accuracy is not null "
                     "and (round >= 1 or position = 0) order by round, position").fetchall()
    policies = {}  # policy JSON -> (role, campaign validation)
    for rnd, pos, policy, accuracy in rows:
        policies.setdefault(policy, ("allocation" if rnd == 0 else f"round {rnd}", accuracy))
    role, validation = policies.get(chosen, ("chosen", None))
    policies[chosen] = ("chosen" if role != "allocation" else "allocation=chosen", validation)
    campaigns.append((config, policies))

jobs = [(config, policy, seed) for config, policies in campaigns for policy in policies for seed in seeds]
with ThreadPoolExecutor(max_workers=2) as pool:
    results = list(pool.map(lambda j: test_accuracy(j[0]["model"], j[1], j[2], j[0]["measurement"]), jobs))
tests = {}
for (config, policy, seed), accuracy in zip(jobs, results):
    tests.setdefault((config["name"], policy), []).append(accuracy)

per_campaign = []
for config, policies in campaigns:
    means = {}
    for policy, (role, validation) in policies.items():
        t = tests[(config["name"], policy)]
        means[policy] = statistics.mean(t)
        print(json.dumps(dict(campaign=config["name"], seed=config["seed"], role=role, validation=validation, tests=t,
                              mean=round(means[policy], 3), policy=json.loads(policy))), flush=True)
    allocation = next(p for p, (r, _) in policies.items() if r.startswith("allocation"))
    chosen = next(p for p, (r, _) in policies.items() if "chosen" in r)
    within = statistics.mean(statistics.variance(tests[(config["name"], p)]) for p in policies)
    observed = statistics.variance(list(means.values()))
    between = max(0.0, observed - within / len(seeds))
    per_campaign.append(dict(seed=config["seed"], policies=len(policies), allocation=means[allocation],
                             chosen=means[chosen], best=max(means.values()),
                             best_minus_allocation=max(means.values()) - means[allocation],
                             chosen_minus_allocation=means[chosen] - means[allocation],
                             noise_sd=within ** 0.5, between_policy_sd=between ** 0.5))


def stats(key):
    xs = [c[key] for c in per_campaign]
    return dict(mean=round(statistics.mean(xs), 3), sd=round(statistics.stdev(xs), 3) if len(xs) > 1 else None)


print(json.dumps(dict(budget="12%", fine_tune_seeds=seeds, campaigns=per_campaign,
                      **{k: stats(k) for k in ["allocation", "chosen", "best", "chosen_minus_allocation",
                                               "best_minus_allocation", "noise_sd", "between_policy_sd"]})))
