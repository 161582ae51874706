#!/usr/bin/env bash
# bench/search-quality's 12% goal (Seer with 32 measurements against the sensitivity allocation) on the AMD EPYC's
# own AVX-512 code paths (family 25 model 17, Zen 4; oneDNN's brgemm kernels passed over, the Winograd step not taken
# there), resnet8 seeds 0-4, one process, one engine thread. Run from the repository root after
# `bash scripts/setup.sh -Xswiftc -enable-testing`; the log was runs/sq-amd512.log.
set -euo pipefail
bin=.build/release/seer-bench
$bin search-quality --run resnet8:0-4:12 --methods seer,sensitivity --seer-counts 32 --baseline-counts 32 --label v3 \
    --out runs/search-quality-amd512 > /dev/null 2> runs/sq-amd512.log
cp runs/search-quality-amd512/*.jsonl bench/results/search-quality/v3-amd-avx512/
$bin search-quality --merge --out bench/results/search-quality/v3-amd-avx512 --run resnet8:0-4:12 \
    --methods seer,sensitivity --seer-counts 32 --baseline-counts 32 --label v3 | tail -1 \
    > bench/results/search-quality/v3-amd-avx512/summary.json
