#!/usr/bin/env bash
# The measurements behind README's engine figures for issue 14, one thread each, on the shared AVX-512 Xeon.
# Run from the repository root after `bash scripts/setup.sh -Xswiftc -enable-testing` (the build `make test` uses;
# bench/conv and bench/engine build the same binary without -enable-testing). Each output is the JSON line the
# benchmark prints.
#   avx512-*: the host as it is (OpenBLAS 0.3.21 does not know this CPU model and picks its SSE3 "Prescott" kernels).
#   avx2-*:   DNNL_MAX_CPU_ISA=AVX2 (oneDNN generates AVX2 code) and OPENBLAS_CORETYPE=Haswell (OpenBLAS's AVX2 kernels,
#             what it picks on an AVX2 Zen 2 host): the AVX-512 host standing in for an AVX2 one. Not an AMD measurement.
set -euo pipefail
out=bench/results/issue-14
bench=.build/release/seer-bench
last() { tail -1; }
$bench conv --repeats 9 | last > $out/avx512-conv-b64.json
$bench conv --batch 1 --repeats 15 | last > $out/avx512-conv-b1.json
for backend in direct im2col onednn; do
  SEER_CONV_BACKEND=$backend $bench engine --repeats 7 | last > $out/avx512-engine-$backend.json
done
export DNNL_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell
$bench conv --repeats 9 | last > $out/avx2-conv-b64.json
$bench conv --batch 1 --repeats 15 | last > $out/avx2-conv-b1.json
for backend in im2col onednn; do
  SEER_CONV_BACKEND=$backend $bench engine --repeats 7 | last > $out/avx2-engine-$backend.json
done
