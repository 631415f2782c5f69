#!/usr/bin/env bash
# RESULTS.md, goal reaching (issue #11): the exact runs, 2 at a time on a 2-core CPU, 1 torch thread each.
# Usage: [MODELS="sen none full"] bash results/run_goal.sh main|payoff [seeds...]
#   main:   the default command `python -m eqmbrl.run env=E worldmodel=W agent=search` for
#           E in shapes_goal cubes_goal;
#   payoff: shapes_goal trained without left pushes (trainer.train_directions=[0,2,3]) and no
#           online phase (its exploration would push left).
# Run dirs that exist already are skipped (eqmbrl never writes into an existing run). Each
# finished run is then scored on 150 fresh goals by results/goal_eval.py (split by unseen direction).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
what=$1; shift
seeds=${*:-0 1 2}
models=${MODELS:-sen none full}
prefix=$([ "$what" = main ] && echo goal || echo payoff)
jobs=()
for s in $seeds; do for wm in $models; do
  if [ "$what" = main ]; then
    for env in shapes_goal cubes_goal; do
      dir=results/runs/goal_${env}_${wm}_s$s
      [ -e "$dir" ] || jobs+=("env=$env worldmodel=$wm agent=search seed=$s hydra.run.dir=$dir")
    done
  else
    dir=results/runs/payoff_shapes_goal_${wm}_s$s
    [ -e "$dir" ] || jobs+=("env=shapes_goal worldmodel=$wm agent=search agent.episodes=0 'trainer.train_directions=[0,2,3]' seed=$s hydra.run.dir=$dir")
  fi
done; done
if [ ${#jobs[@]} -gt 0 ]; then
  printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} sh -c "$PY -m eqmbrl.run threads=1 {} > /dev/null 2>&1 || echo FAILED: {}"
fi
for run in results/runs/${prefix}_*; do
  if [ -f "$run/metrics.json" ] && [ ! -f "$run/FAILED" ] && [ ! -f "$run/goal_eval.json" ]; then echo "$run"; fi
done | xargs -r -P 2 -I{} sh -c "$PY results/goal_eval.py {} > /dev/null 2>&1 || echo FAILED: goal_eval {}"
