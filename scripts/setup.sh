#!/usr/bin/env bash
# Idempotent set-up: ffmpeg (apt-get), a virtualenv with the pinned dependencies, the project installed editable.
# Usage: scripts/setup.sh [VENV]   (default .venv). A second run with nothing changed takes a few seconds.
# It prints one line per step (what it does: done, or skipped and why); apt-get's and pip's own output goes to
# $SFP_HOME/logs/setup-<time>-<pid>.log (SFP_HOME defaults to ~/.sfp), made only when a step runs one of them. Its
# path is printed at the end, and its last lines when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
PYTHON="${PYTHON:-python3.11}"
LOG="${SFP_HOME:-$HOME/.sfp}/logs/setup-$(date +%Y%m%d-%H%M%S)-$$.log"

# quietly CMD...: run CMD with its output appended to the log; its exit status is returned.
quietly() {
  mkdir -p "$(dirname "$LOG")"
  echo "+ $*" >>"$LOG"
  "$@" >>"$LOG" 2>&1
}
# fail WHAT: the step's line ends in "failed", then one error line naming the log, then the log's last lines.
fail() {
  echo "failed"
  echo "setup: error: $1 (log: $LOG)" >&2
  if [ -f "$LOG" ]; then tail -n 20 "$LOG" | sed 's/^/  | /' >&2; fi
  exit 1
}
apt_install() {
  quietly apt-get update -qq && DEBIAN_FRONTEND=noninteractive quietly apt-get install -y -qq "$@"
}
can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

if command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null; then
  echo "setup: ffmpeg: found, skipped"
elif can_apt; then
  printf "setup: ffmpeg: installing with apt-get ... "
  apt_install ffmpeg || fail "apt-get could not install ffmpeg; install it (apt-get install -y ffmpeg) and rerun"
  echo "done"
else
  echo "setup: error: ffmpeg is missing; install it (sudo apt-get install -y ffmpeg, or brew install ffmpeg)" \
    "and rerun" >&2
  exit 1
fi

# Chromium and its WebDriver: only the browser test of the MLflow UI needs them (it is skipped without them).
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  echo "setup: chromium and chromedriver (browser test): found, skipped"
elif can_apt; then
  printf "setup: chromium and chromedriver (browser test): installing with apt-get ... "
  if apt_install chromium chromium-driver; then
    echo "done"
  else
    echo "failed, the browser test will be skipped (log: $LOG)"
  fi
else
  echo "setup: chromium and chromedriver (browser test): missing, skipped; the browser test will be skipped" \
    "(sudo apt-get install -y chromium chromium-driver)"
fi

if ! command -v "$PYTHON" >/dev/null; then
  echo "setup: error: $PYTHON not found; install Python 3.11 or set PYTHON=" >&2
  exit 1
fi
stamp="$VENV/.sfp-deps-$(cat pyproject.toml requirements.lock | sha1sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  echo "setup: pinned dependencies in $VENV: up to date, skipped"
else
  printf "setup: pinned dependencies in %s: installing (first time: a few minutes) ... " "$VENV"
  [ -x "$VENV/bin/python" ] || quietly "$PYTHON" -m venv "$VENV" || fail "$PYTHON could not create the virtualenv $VENV"
  quietly "$VENV/bin/python" -m pip install --upgrade "pip>=24" || fail "pip could not upgrade itself in $VENV"
  quietly "$VENV/bin/python" -m pip install -c requirements.lock -e ".[dev]" \
    || fail "pip could not install the dependencies"
  quietly "$VENV/bin/python" -c "import sfp, sfp_train, sfp_preprocess, torch, ray, deepspeed, mlflow" \
    || fail "the install did not complete: the project or a dependency does not import"
  rm -f "$VENV"/.sfp-deps-*
  touch "$stamp"
  echo "done"
fi
# The project itself is installed editable from this checkout (a shared venv may point at another one).
here="$(pwd -P)"
installed="$("$VENV/bin/python" -c 'import sfp, pathlib; print(pathlib.Path(sfp.__file__).resolve().parents[2])' \
  2>/dev/null || true)"
if [ "$installed" = "$here" ]; then
  echo "setup: sfp installed editable from $here: yes, skipped"
else
  printf "setup: sfp installed editable from %s: installing ... " "$here"
  quietly "$VENV/bin/python" -m pip install --no-deps -e . || fail "pip could not install the project editable"
  echo "done"
fi
if [ -f "$LOG" ]; then echo "setup: ready: $VENV (apt-get and pip output: $LOG)"; else echo "setup: ready: $VENV"; fi
