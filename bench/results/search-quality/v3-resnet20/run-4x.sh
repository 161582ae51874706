#!/usr/bin/env bash
# resnet20 seeds 0-2 at 20%: random search and evolution at 64 and 128 (the 4x baselines). Resumable.
cd /work/main
export SEER_SCRATCH=/work/sq/build-bench
exec nice -n 19 bench/search-quality --workers 1 --run resnet20:0-2:20 --methods random,evolution --seer-counts 16,32 --baseline-counts 32,64,128 --label v3
