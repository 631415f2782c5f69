#!/usr/bin/env bash
# RESULTS.md, planning section: the exact runs (2 at a time on a 2-core CPU, 1 torch thread each).
# Usage: bash results/run_mpc.sh reacher|blocks [seeds...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
what=$1; shift
seeds=${*:-0 1 2}
jobs=()
if [ "$what" = reacher ]; then
  for s in $seeds; do for wm in sen none; do
    jobs+=("env=reacher worldmodel=$wm agent=cem seed=$s agent.episodes=10 hydra.run.dir=results/runs/mpc_reacher_${wm}_s$s")
  done; done
else
  for s in $seeds; do for env in cubes_goal shapes_goal; do for wm in sen none full; do
    jobs+=("env=$env worldmodel=$wm agent=search seed=$s agent.episodes=0 agent.eval_episodes=50 hydra.run.dir=results/runs/mpc_${env}_${wm}_s$s")
  done; done; done
fi
printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} sh -c "$PY -m eqmbrl.run threads=1 {} > /dev/null 2>&1 || echo FAILED: {}"
