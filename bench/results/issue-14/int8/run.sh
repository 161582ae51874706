#!/usr/bin/env bash
# The int8 inference figures in README (issue 14, item 2): bench/onnx on resnet20 (8/8 unpruned and 4/4/0.5), one
# thread, the engine's float path, its int8 path (QuantizedInference) and onnxruntime 1.32 (float QDQ export and the
# int8 QLinearConv export) alternating in 3 rounds. Run from the repository root after `bash scripts/setup.sh`.
#   avx512-onnx.json: the host as it is (oneDNN picks avx512_core_vnni int8 kernels).
#   avx2-onnx.json:   DNNL_MAX_CPU_ISA=AVX2 (oneDNN's AVX2 code, no VNNI: 8/8 layers stay float, see docs/LATENCY.md).
set -euo pipefail
out=bench/results/issue-14/int8
bench=.build/release/seer-bench
export SEER_PYTHON="${SEER_PYTHON:-$PWD/.venv/bin/python}"
$bench onnx --rounds 3 | tail -1 > $out/avx512-onnx.json
DNNL_MAX_CPU_ISA=AVX2 $bench onnx --rounds 3 | tail -1 > $out/avx2-onnx.json
