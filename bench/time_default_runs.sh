#!/usr/bin/env bash
# Wall clock and result of the main job, `python -m eqmbrl.run seed=S [OVERRIDES]`, one run at a
# time (run it on an idle machine). Usage: bash bench/time_default_runs.sh [SEEDS...] [OVERRIDES...]
# (seeds default to 0 1 2; an argument with `=` is a Hydra override, e.g. env=cubes_goal).
# Prints one Markdown row per seed: seed, wall seconds, the agent's success, the random agent's.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(mktemp -d)
SEEDS=()
OVERRIDES=()
for arg in "$@"; do
  if [[ $arg == *=* ]]; then OVERRIDES+=("$arg"); else SEEDS+=("$arg"); fi
done
[[ ${#SEEDS[@]} -gt 0 ]] || SEEDS=(0 1 2)
echo "| seed | wall s | agent success | random success | no-op success | hits@1/10step | epochs |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for seed in "${SEEDS[@]}"; do
  start=$(date +%s.%N)
  .venv/bin/python -m eqmbrl.run seed="$seed" "${OVERRIDES[@]}" hydra.run.dir="$OUT/$seed" > "$OUT/$seed.log" 2>&1
  end=$(date +%s.%N)
  .venv/bin/python - "$OUT/$seed/metrics.json" "$seed" "$start" "$end" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
seed, wall = sys.argv[2], float(sys.argv[4]) - float(sys.argv[3])
print(f"| {seed} | {wall:.0f} | {100 * m['success']:.1f}% | {100 * m['random_success']:.1f}% | "
      f"{100 * m['still_success']:.1f}% | {m['hits@1/10step']:.1f} | {m['pretrain/epochs']:.0f} |")
PY
done
rm -rf "$OUT"
