#!/usr/bin/env bash
# The device check (benchmarks/gpu_check.py): one table of bf16 vs fp32, model-only clips/s and MFU, GPU JPEG
# decoding and the end-to-end loop, on the machine it runs on. Usage: scripts/gpu_check.sh [--reduced] [--skip-train]
# It uses .venv when there is one (`make setup`), else the machine's python3 (a GPU image with PyTorch), with the
# platform's packages from this checkout on PYTHONPATH and any wheels carried in .whl/ (e.g. pydantic) installed
# into a private folder first, since a GPU machine without network cannot pip install.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ]; then PYTHON=${PYTHON:-.venv/bin/python}; else PYTHON=${PYTHON:-python3}; fi
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/sfp-site .whl/*.whl
  export PYTHONPATH="/tmp/sfp-site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="platform:preprocessing:training${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "$PYTHON" benchmarks/gpu_check.py "$@"
