#!/usr/bin/env bash
# Idempotent set-up: installs what is missing (Debian packages, a Python venv for interop tests), then builds.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -f /usr/include/zmq.h ] || need+=(libzmq3-dev)
[ -f /usr/include/x86_64-linux-gnu/cblas.h ] || [ -f /usr/include/cblas.h ] || need+=(libopenblas-dev)
ls /usr/lib/*/libopenblas.so >/dev/null 2>&1 || need+=(libopenblas-dev)
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
[ -f /usr/include/oneapi/dnnl/dnnl.h ] || need+=(libdnnl-dev)
# Image-folder datasets: PNG and JPEG decoding.
[ -f /usr/include/png.h ] || need+=(libpng-dev)
[ -f /usr/include/jpeglib.h ] || need+=(libjpeg62-turbo-dev)
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Python side of the interoperability tests (safetensors, onnxruntime), of the runtime agent in agents/python
# (pyzmq, pytest) and of the data tests and examples/byo (numpy writes npz files, Pillow images): a project-local venv.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import safetensors, numpy, onnxruntime, onnx, zmq, pytest, PIL' >/dev/null 2>&1; then
  echo "setup: preparing .venv (safetensors, numpy, onnx, onnxruntime, pyzmq, pytest, pillow)"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check safetensors numpy onnx onnxruntime pyzmq pytest pillow
fi

echo "setup: building (release)"
# The filter only hides per-file progress lines; pipefail keeps a failed build failing.
swift build -c release "$@" 2>&1 | { grep -vE '^\[[0-9]+/[0-9]+\]' || true; }
test -x .build/release/seer-coordinator && test -x .build/release/seer-agent
