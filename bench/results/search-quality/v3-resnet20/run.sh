#!/usr/bin/env bash
cd /work/main
export SEER_SCRATCH=/work/sq/build-bench
exec nice -n 10 bench/search-quality --workers 3 --run resnet20:0-2:20 --seer-counts 16,32 --baseline-counts 32 --label v3
