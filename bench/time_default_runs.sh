#!/usr/bin/env bash
# Wall clock and result of the main job, `python -m eqmbrl.run seed=S`, one run at a time (run it
# on an idle machine). Usage: bash bench/time_default_runs.sh [SEEDS...] (default: 0 1 2).
# Prints one Markdown row per seed: seed, wall seconds, the agent's success, the random agent's.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(mktemp -d)
echo "| seed | wall s | agent success | random success | no-op success | hits@1/10step | epochs |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for S in "${@:-0 1 2}"; do
  for seed in $S; do
    start=$(date +%s.%N)
    .venv/bin/python -m eqmbrl.run seed="$seed" hydra.run.dir="$OUT/$seed" > "$OUT/$seed.log" 2>&1
    end=$(date +%s.%N)
    .venv/bin/python - "$OUT/$seed/metrics.json" "$seed" "$start" "$end" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
seed, wall = sys.argv[2], float(sys.argv[4]) - float(sys.argv[3])
print(f"| {seed} | {wall:.0f} | {100 * m['success']:.1f}% | {100 * m['random_success']:.1f}% | "
      f"{100 * m['still_success']:.1f}% | {m['hits@1/10step']:.1f} | {m['pretrain/epochs']:.0f} |")
PY
  done
done
rm -rf "$OUT"
