# Sourced by bench/torchvision-import and bench/torchvision-trained: sets $python to an interpreter with torch,
# torchvision, onnx, onnxruntime and onnxscript, and $agent to a release seer-agent built here.
# PyTorch is too heavy for the project's .venv (a few GB with the CUDA wheels): $SEER_TORCH_PYTHON, else .venv-torch
# (made here on first use from PyPI). SEER_SCRATCH_PATH picks another build directory than .build.
python="${SEER_TORCH_PYTHON:-.venv-torch/bin/python}"
if ! "$python" -c 'import torch, torchvision, onnx, onnxruntime, onnxscript' >/dev/null 2>&1; then
  if [ -n "${SEER_TORCH_PYTHON:-}" ]; then
    echo "$(basename "$0"): $python lacks torch, torchvision, onnx, onnxruntime or onnxscript" >&2; exit 2
  fi
  echo "$(basename "$0"): preparing .venv-torch (torch, torchvision, onnx, onnxruntime, onnxscript)" >&2
  python3 -m venv .venv-torch
  .venv-torch/bin/pip install -q --disable-pip-version-check torch torchvision onnx onnxruntime onnxscript >&2
fi
scratch="${SEER_SCRATCH_PATH:-.build}"
swift build -c release --scratch-path "$scratch" --product seer-agent 2>&1 | { grep -vE '^\[[0-9]+/[0-9]+\]' || true; } >&2
agent="$scratch/release/seer-agent"
