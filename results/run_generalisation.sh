#!/usr/bin/env bash
# RESULTS.md, generalisation to unseen actions (SEN's headline): train on limited push directions,
# evaluate on all. 2 runs at a time on a 2-core CPU, 1 torch thread each.
# Usage: bash results/run_generalisation.sh shapes|cubes FORM [seeds...]    (FORM: conv | remap)
#   shapes: 2D shapes trained on {up} only; cubes: 3D cubes trained on {up, right, down}.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
what=$1; form=$2; shift 2
seeds=${*:-0 1 2}
if [ "$what" = shapes ]; then dirs="[0]"; else dirs="[0,2,3]"; fi
jobs=()
for s in $seeds; do for wm in sen none; do
  jobs+=("env=$what worldmodel=$wm +env.model.embedding=$form 'trainer.train_directions=$dirs' trainer.episodes=200 trainer.epochs=25 seed=$s hydra.run.dir=results/runs/gen_${what}_${form}_${wm}_s$s")
done; done
printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} sh -c "$PY -m eqmbrl.run threads=1 {} > /dev/null 2>&1 || echo FAILED: {}"
