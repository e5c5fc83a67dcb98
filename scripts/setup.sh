#!/usr/bin/env bash
# Idempotent set-up: ffmpeg (apt-get), a virtualenv with the pinned dependencies, the project installed editable.
# Usage: scripts/setup.sh [VENV]   (default .venv). A second run with nothing changed takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
PYTHON="${PYTHON:-python3.11}"

if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ffmpeg with apt-get"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null) \
      || { echo "setup: apt-get could not install ffmpeg; install it (apt-get install -y ffmpeg) and rerun" >&2; exit 1; }
  else
    echo "setup: ffmpeg is missing; install it (sudo apt-get install -y ffmpeg, or brew install ffmpeg) and rerun" >&2
    exit 1
  fi
fi

# Chromium and its WebDriver: only the browser test of the MLflow UI needs them (it is skipped without them).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing chromium and chromium-driver with apt-get"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
      || echo "setup: apt-get could not install chromium; the browser test will be skipped" >&2
  else
    echo "setup: chromium is missing (sudo apt-get install -y chromium chromium-driver); the browser test will be skipped" >&2
  fi
fi

command -v "$PYTHON" >/dev/null || { echo "setup: $PYTHON not found; install Python 3.11 or set PYTHON=" >&2; exit 1; }
stamp="$VENV/.sfp-deps-$(cat pyproject.toml requirements.lock | sha1sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: creating $VENV with the pinned dependencies (first time: a few minutes)"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade "pip>=24" 2>&1 | grep -v "is ignored" || true
  "$VENV/bin/python" -m pip install -q -c requirements.lock -e ".[dev]" 2>&1 | grep -v "is ignored" || true
  "$VENV/bin/python" -c "import sfp, sfp_train, sfp_preprocess, torch, ray, deepspeed, mlflow" \
    || { echo "setup: the install did not complete; see the pip output above" >&2; exit 1; }
  rm -f "$VENV"/.sfp-deps-*
  touch "$stamp"
fi
# The project itself is installed editable from this checkout (a shared venv may point at another one).
if [ "$("$VENV/bin/python" -c 'import sfp, pathlib; print(pathlib.Path(sfp.__file__).resolve().parents[2])' 2>/dev/null)" != "$(pwd -P)" ]; then
  "$VENV/bin/python" -m pip install -q --no-deps -e . 2>&1 | grep -v "is ignored" || true
fi
