#!/usr/bin/env bash
# Issue 14's figures on an AMD EPYC host (family 25 model 17, Zen 4: AVX-512 with VNNI, executed on 256-bit units),
# the host as it is and the AVX2 stand-in on the same AMD cores (bench/avx2-stand-in/run: onnxruntime's MLAS and the
# engine's C kernels on AVX2 code, DNNL_MAX_CPU_ISA=AVX2, OPENBLAS_CORETYPE=Haswell), alternating within each round.
# One thread. Run from the repository root after `bash scripts/setup.sh -Xswiftc -enable-testing`, machine quiet.
set -euo pipefail
out=bench/results/issue-14/amd-zen4
bench=.build/release/seer-bench
export SEER_PYTHON=${SEER_PYTHON:-$PWD/.venv/bin/python}
for round in 1 2 3; do
  $bench engine --repeats 7 | tail -1 > $out/avx512-engine-$round.json
  bench/avx2-stand-in/run $bench engine --repeats 7 | tail -1 > $out/avx2-stand-in-engine-$round.json
done
for model in resnet20 mobilenetv2-tiny; do
  $bench onnx --model $model --rounds 5 | tail -1 > $out/avx512-$model.json
  bench/avx2-stand-in/run $bench onnx --model $model --rounds 5 | tail -1 > $out/avx2-stand-in-$model.json
done
