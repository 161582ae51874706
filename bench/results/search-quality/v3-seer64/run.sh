#!/usr/bin/env bash
# resnet8 seeds 0-4 at 12/20/30%: Seer campaigns with 64 measurements (the third count). Resumable.
cd /work/main
exec /work/sq/build-bench/release/seer-bench search-quality --run resnet8:0-4:12,20,30 --methods seer --seer-counts 64 --label v3
