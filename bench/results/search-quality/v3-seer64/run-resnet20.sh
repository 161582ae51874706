#!/usr/bin/env bash
# resnet20 seeds 0-2 at 20%: Seer campaigns with 64 measurements. Resumable.
cd /work/main
exec /work/sq/build-bench/release/seer-bench search-quality --run resnet20:0-2:20 --methods seer --seer-counts 64 --label v3
