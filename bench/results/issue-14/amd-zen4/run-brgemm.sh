#!/usr/bin/env bash
# After the shim passes over oneDNN's brgemm kernels on AMD CPUs (SEER_ONEDNN_BRGEMM, default off there) and, without
# them on AVX-512, asks for the producer's layout on both sides of a depthwise convolution before reordering:
# bench/onnx on this AMD EPYC (Zen 4), the host as it is with brgemm passed over (the new default, `brgemm-off`) and
# allowed (oneDNN's own choice, as before, `brgemm-on`), and the AVX2 stand-in (`after`), one after the other.
# One thread. Run from the repository root after `bash scripts/setup.sh -Xswiftc -enable-testing`, machine quiet.
# (The three avx512-brgemm-off-engine-*.json rounds ran while a DNNL_VERBOSE profile ran on the other core.)
set -euo pipefail
out=bench/results/issue-14/amd-zen4
bench=.build/release/seer-bench
export SEER_PYTHON=${SEER_PYTHON:-$PWD/.venv/bin/python}
SEER_ONEDNN_BRGEMM=on $bench onnx --model mobilenetv2-tiny --rounds 5 | tail -1 > $out/avx512-brgemm-on-mobilenetv2-tiny.json
SEER_ONEDNN_BRGEMM=on $bench onnx --model resnet20 --rounds 5 | tail -1 > $out/avx512-brgemm-on-resnet20.json
for round in 1 2 3; do
  $bench engine --repeats 7 | tail -1 > $out/avx512-brgemm-off-engine-$round.json
done
for model in resnet20 mobilenetv2-tiny; do
  bench/avx2-stand-in/run $bench onnx --model $model --rounds 5 | tail -1 > $out/avx2-stand-in-after-$model.json
  $bench onnx --model $model --rounds 5 | tail -1 > $out/avx512-brgemm-off-$model.json
done
for round in 2 3; do
  $bench onnx --model mobilenetv2-tiny --rounds 5 | tail -1 > $out/avx512-brgemm-off-mobilenetv2-tiny-$round.json
  SEER_ONEDNN_BRGEMM=on $bench onnx --model mobilenetv2-tiny --rounds 5 | tail -1 \
    > $out/avx512-brgemm-on-mobilenetv2-tiny-$round.json
done
# At the last commit of the session (one more run, a search-quality worker on the other core):
$bench onnx --model mobilenetv2-tiny --rounds 5 | tail -1 > $out/avx512-brgemm-off-mobilenetv2-tiny-4.json
# The kernel-level figures (resnet20's 3x3 shapes per layout and kernel, native and capped at AVX2):
cc -O2 $out/conv_harness.c -o /tmp/conv_harness -ldnnl
OMP_NUM_THREADS=1 /tmp/conv_harness
OMP_NUM_THREADS=1 DNNL_MAX_CPU_ISA=AVX2 /tmp/conv_harness
