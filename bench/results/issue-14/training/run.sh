#!/usr/bin/env bash
# README's training-step figures (issue 14): bench/engine on the default backend (oneDNN), three rounds alternating the
# host as it is (AVX-512) with the AVX2 stand-in (DNNL_MAX_CPU_ISA=AVX2, which also caps the engine's own C kernels,
# and OPENBLAS_CORETYPE=Haswell), then bench/evaluate's time split of one measurement. One thread each.
# Run from the repository root after `bash scripts/setup.sh -Xswiftc -enable-testing`.
set -euo pipefail
out=bench/results/issue-14/training
bench=.build/release/seer-bench
for round in 1 2 3; do
  $bench engine --repeats 7 | tail -1 > $out/avx512-engine-$round.json
  DNNL_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell $bench engine --repeats 7 | tail -1 > $out/avx2-engine-$round.json
done
# bench/evaluate just before and just after the activation quantizer's C kernel, one after the other (another
# engineer's build on the other core):
# avx512-evaluate-{before,after}-quantizer-kernel.json; avx512-evaluate-loaded.json is this line, run while another
# engineer's tests ran.
$bench evaluate | tail -1 > $out/avx512-evaluate-loaded.json
# After bench/engine timed the float program (forward_gflops) with Graph.forward beside it: two rounds alternating the
# host as it is with the AVX2 stand-in (which also hides AVX-512 from the engine's own kernels).
for round in 1 2; do
  $bench engine --repeats 7 | tail -1 > $out/avx512-engine-program-$round.json
  bench/avx2-stand-in/run $bench engine --repeats 7 | tail -1 > $out/avx2-stand-in-engine-program-$round.json
done
