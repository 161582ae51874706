#!/usr/bin/env bash
# The Winograd step's figures on this host: the per-layer harness (oneDNN's direct kernel against the engine's
# Winograd, AVX2 and AVX-512 layouts), then bench/onnx on the AVX2 stand-in (bench/avx2-stand-in/run) with
# SEER_WINOGRAD=auto (the default: Winograd on oneDNN's AVX2 layout) and off (oneDNN's direct kernels, as before),
# alternating within each round, and once on the host's own ISA (auto takes no Winograd step there). One thread.
# Run from the repository root after `bash scripts/setup.sh -Xswiftc -enable-testing`, machine quiet.
# The committed files came from three builds: the harness output and the stand-in and host-resnet20 JSON at 368199c
# (Winograd with the ReLU epilogue only); avx2-stand-in-resnet20-auto-quantizers.json, the same stand-in command with
# SEER_WINOGRAD=auto, at 1bcef92 (fake quantizations fused too); host-mobilenetv2-tiny-{0,1,2}.json, the last loop,
# at 0ba9fbe (0, its build holding an experiment left unused) and ca02dec (1, 2); the host's float programs take no
# Winograd step under auto at any of them.
set -euo pipefail
out=bench/results/issue-14/winograd
bench=.build/release/seer-bench
export SEER_PYTHON=${SEER_PYTHON:-$PWD/.venv/bin/python}
clang -O3 -ISources/Shims/CSeerKernels/include $out/winograd_harness.c Sources/Shims/CSeerKernels/*.c \
  -o .build/winograd_harness -ldnnl -lm
OMP_NUM_THREADS=1 DNNL_MAX_CPU_ISA=AVX2 .build/winograd_harness > $out/harness-avx2.txt
OMP_NUM_THREADS=1 BLOCK16=1 .build/winograd_harness > $out/harness-host.txt
for round in 1 2 3; do
  for setting in auto off; do
    SEER_WINOGRAD=$setting bench/avx2-stand-in/run $bench onnx --model resnet20 --rounds 5 | tail -1 \
      > $out/avx2-stand-in-resnet20-$setting-$round.json
  done
done
for setting in auto off; do
  SEER_WINOGRAD=$setting bench/avx2-stand-in/run $bench onnx --model mobilenetv2-tiny --rounds 5 | tail -1 \
    > $out/avx2-stand-in-mobilenetv2-tiny-$setting.json
done
$bench onnx --model resnet20 --rounds 5 | tail -1 > $out/host-resnet20-auto.json
SEER_WINOGRAD=auto bench/avx2-stand-in/run $bench onnx --model resnet20 --rounds 5 | tail -1 \
  > $out/avx2-stand-in-resnet20-auto-quantizers.json
for run in 0 1 2; do
  $bench onnx --model mobilenetv2-tiny --rounds 5 | tail -1 > $out/host-mobilenetv2-tiny-$run.json
done
