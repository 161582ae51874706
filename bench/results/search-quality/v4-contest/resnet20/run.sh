#!/usr/bin/env bash
# resnet20 seeds 0-2 at 20% with contests decided against the measurement noise (`ContestDecision`), Seer with 32
# measurements and the sensitivity allocation, on the AMD EPYC's own AVX-512 code paths, two processes of one engine
# thread (18 minutes); then every contest decided both ways (../contest_tests.py). Run from the repository root after
# `bash scripts/setup.sh -Xswiftc -enable-testing` (commit d878d99 or later).
set -euo pipefail
bin=.build/release/seer-bench
out=runs/search-quality-v4-resnet20
here=bench/results/search-quality/v4-contest/resnet20
args=(--run resnet20:0-2:20 --methods seer,sensitivity --seer-counts 32 --baseline-counts 32 --label v4)
for i in 0 1; do $bin search-quality "${args[@]}" --out $out --shard $i/2 > /dev/null 2> runs/sq-v4-r20-$i.log & done
wait
cp $out/*.jsonl $here/
$bin search-quality --merge --out $here "${args[@]}" | tail -1 > $here/summary.json
python3 bench/results/search-quality/v4-contest/contest_tests.py $out > $here/contests.jsonl
