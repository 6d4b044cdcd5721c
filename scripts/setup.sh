#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine: a virtual environment with the
# pinned Python packages, the smart-turn model (inside pipecat-ai, installed without its dependency
# tree), and Debian's Chromium for the browser tests. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
VENV=${VENV:-.venv}

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[all]"
# smart-turn v3 end-of-turn model: the wheel alone, not pipecat's ~450 MB of dependencies
"$VENV/bin/python" -m pip install -q --no-deps "pipecat-ai==1.14.0"
"$VENV/bin/python" -m realtime_nb.engine.models --check
