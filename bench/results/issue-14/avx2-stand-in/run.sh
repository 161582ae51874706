#!/usr/bin/env bash
# bench/onnx with every runtime on AVX2 code (bench/avx2-stand-in/run: CPUID without AVX-512/VNNI/AMX for onnxruntime
# and the engine's C kernels, DNNL_MAX_CPU_ISA=AVX2 for oneDNN, OPENBLAS_CORETYPE=Haswell), and the host as it is,
# alternating per model; 5 rounds each (engine and onnxruntime alternate within a round). One thread.
# Run from the repository root after `bash scripts/setup.sh -Xswiftc -enable-testing`.
set -euo pipefail
out=bench/results/issue-14/avx2-stand-in
export SEER_PYTHON=${SEER_PYTHON:-$PWD/.venv/bin/python}
for model in resnet20 mobilenetv2-tiny; do
  bench/avx2-stand-in/run .build/release/seer-bench onnx --model $model --rounds 5 | tail -1 > $out/avx2-$model.json
  .build/release/seer-bench onnx --model $model --rounds 5 | tail -1 > $out/avx512-$model.json
done
