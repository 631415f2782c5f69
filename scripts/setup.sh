#!/usr/bin/env bash
# One-shot set-up for a fresh Debian machine: system packages, a virtual environment in .venv,
# the CPU build of torch first, then eqmbrl with all its dependencies (editable, with test extras).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
need_apt=0
command -v gfortran >/dev/null || need_apt=1              # py3nj (needed by escnn) builds with Fortran
ldconfig -p | grep -q libEGL_mesa || need_apt=1            # headless MuJoCo rendering via EGL + Mesa llvmpipe
ldconfig -p | grep -q libOSMesa || need_apt=1              # OSMesa fallback
if [ "$need_apt" = 1 ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq gfortran libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 libopengl0 libglvnd0 libgbm1 libosmesa6 >/dev/null
fi

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"          # local CPU build; installed first so nothing pulls a CUDA build
.venv/bin/python -m pip install -q -e ".[dev]"
echo "eqmbrl set-up done: activate with 'source .venv/bin/activate'"
