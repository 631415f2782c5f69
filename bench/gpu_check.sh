#!/usr/bin/env bash
# The GPU check of a session whose task is lent a GPU (about 5 min): the CUDA tests, then imagined
# transitions/s at N = 1k/10k/100k with CEM latency per action, and training transitions/s, each on
# the card and on the machine's CPU in the same call. Usage: bash bench/gpu_check.sh [PYTHON]
# (default .venv/bin/python, else python3). Paste the tables into BENCHMARKS.md with the card's name.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
date -u
"$PY" -m pytest -q -m "slow or not slow" tests/test_layers.py tests/test_planners.py tests/test_failures.py -k cuda
for device in cuda cpu; do
  "$PY" bench/bench_planning.py --device "$device" --sizes 1000 10000 100000 --repeats 3 --mpc-repeats 3
  "$PY" bench/bench_training.py --device "$device" --configs default-cubes paper-cubes --repeats 3
done
