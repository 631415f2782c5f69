#!/usr/bin/env bash
# Wall-clock time of the default runs quoted in the README, one after another on this machine.
#   bash bench/time_default_runs.sh [OUT_DIR]     (default: a new /tmp/eqmbrl_default_runs_TIME; eqmbrl never reuses a run dir)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-/tmp/eqmbrl_default_runs_$(date +%s)}"
mkdir -p "$out"
run() {  # name, overrides...
  local name="$1"; shift
  local start end
  start=$(date +%s)
  .venv/bin/python -m eqmbrl.run "$@" "hydra.run.dir=$out/$name" > "$out/$name.log" 2>&1
  end=$(date +%s)
  echo "| \`python -m eqmbrl.run $*\` | $((end - start)) s |"
}
echo "| command | wall clock |"
echo "|---|---:|"
run default
run cubes_goal_search env=cubes_goal agent=search
run reacher_cem env=reacher agent=cem
