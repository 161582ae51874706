#!/usr/bin/env bash
# bench/search-quality with contests decided against the measurement noise (`ContestDecision`, commit d878d99), on
# the AMD EPYC's own AVX-512 code paths (family 25 model 17), resnet8 seeds 0-4 at 12/20/30%, Seer with 32
# measurements and the sensitivity allocation, two processes of one engine thread. Then every contest decided both
# ways, the rival's test accuracy measured as a replacement would be (contest_tests.py). Run from the repository root
# after `bash scripts/setup.sh -Xswiftc -enable-testing`.
set -euo pipefail
bin=.build/release/seer-bench
out=runs/search-quality-v4
here=bench/results/search-quality/v4-contest
args=(--run resnet8:0-4:12,20,30 --methods seer,sensitivity --seer-counts 32 --baseline-counts 32 --label v4)
for i in 0 1; do $bin search-quality "${args[@]}" --out $out --shard $i/2 > /dev/null 2> runs/sq-v4-$i.log & done
wait
cp $out/*.jsonl $here/
$bin search-quality --merge --out $here "${args[@]}" | tail -1 > $here/summary.json
python3 $here/contest_tests.py $out > $here/contests.jsonl
