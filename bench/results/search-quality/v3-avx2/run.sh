#!/usr/bin/env bash
# bench/search-quality on the AVX2 code paths: the AVX2 stand-in (bench/avx2-stand-in/run: CPUID without AVX-512 for
# the engine's kernels and onnxruntime, DNNL_MAX_CPU_ISA=AVX2, OPENBLAS_CORETYPE=Haswell) on an AMD EPYC (Zen 4),
# resnet8 seeds 0-4 at 12 / 20 / 30%: Seer with 32 measurements and the sensitivity allocation in one process, random
# search with 32 in a second one beside it (one engine thread each). The results' `cpu` reads "AMD EPYC (avx512f)":
# the bench then took the ISA from /proc/cpuinfo, which the stand-in does not mask; it now takes CPUID's, as the
# merged summary's `cpu` (avx2) shows. The stand-in reproduces a Xeon stand-in run to the last digit (README, demo), so
# these are the AVX2 code paths' figures on either CPU. Run from the repository root after
# `bash scripts/setup.sh -Xswiftc -enable-testing`; the logs in this folder are runs/search-quality-avx2{,-random}/.
set -euo pipefail
bin=.build/release/seer-bench
bench/avx2-stand-in/run $bin search-quality --run resnet8:0-4:12,20,30 --methods seer,sensitivity --seer-counts 32 \
    --baseline-counts 32 --label v3 --out runs/search-quality-avx2 > /dev/null 2> runs/sq-avx2.log &
bench/avx2-stand-in/run $bin search-quality --run resnet8:0-4:12,20,30 --methods random --seer-counts 32 \
    --baseline-counts 32 --label v3 --out runs/search-quality-avx2-random > /dev/null 2> runs/sq-avx2-random.log &
wait
# Merged here (measurements.*.jsonl and results.*.jsonl copied from those two folders):
bench/avx2-stand-in/run $bin search-quality --merge --out bench/results/search-quality/v3-avx2 \
    --run resnet8:0-4:12,20,30 --methods seer,random,sensitivity --seer-counts 32 --baseline-counts 32 --label v3 \
    --plots bench/results/search-quality/v3-avx2/plots | tail -1 > bench/results/search-quality/v3-avx2/summary.json
