#!/usr/bin/env bash
# RESULTS.md, goal reaching (issue #11): the exact runs, 2 at a time on a 2-core CPU, 1 torch thread each.
# Usage: bash results/run_goal.sh main|payoff [seeds...]
#   main:   the default command `python -m eqmbrl.run env=E worldmodel=W agent=search` for
#           E in cubes_goal shapes_goal and W in sen none full;
#   payoff: shapes_goal trained without left pushes (trainer.train_directions=[0,2,3]) and no
#           online phase (its exploration would push left), W in sen none full.
# Each run is then scored on 150 fresh goals by results/goal_eval.py (split by unseen direction).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
what=$1; shift
seeds=${*:-0 1 2}
jobs=()
for s in $seeds; do for wm in sen none full; do
  if [ "$what" = main ]; then
    for env in shapes_goal cubes_goal; do
      jobs+=("env=$env worldmodel=$wm agent=search seed=$s hydra.run.dir=results/runs/goal_${env}_${wm}_s$s")
    done
  else
    jobs+=("env=shapes_goal worldmodel=$wm agent=search agent.episodes=0 'trainer.train_directions=[0,2,3]' seed=$s hydra.run.dir=results/runs/payoff_shapes_goal_${wm}_s$s")
  fi
done; done
printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} sh -c "$PY -m eqmbrl.run threads=1 {} > /dev/null 2>&1 || echo FAILED: {}"
for run in results/runs/${what/main/goal}_*; do
  [ -f "$run/metrics.json" ] && [ ! -f "$run/goal_eval.json" ] && echo "$run" 
done | xargs -P 2 -I{} sh -c "$PY results/goal_eval.py {} > /dev/null 2>&1 || echo FAILED: goal_eval {}"
