#!/usr/bin/env bash
# RESULTS.md, generalisation to unseen actions (SEN's headline): train on limited push directions,
# evaluate on all. 2 runs at a time on a 2-core CPU, 1 torch thread each.
# Usage: [MODELS="sen none full"] bash results/run_generalisation.sh shapes|cubes [seeds...]
#   shapes: 2D shapes trained on {up} only (conv embedding, the env default);
#   cubes:  3D cubes trained on {up, right, down} (remap embedding, the env default).
# Data: 1000 random episodes x 10 steps (10,000 transitions; short episodes keep the states
# diverse when every push goes the same way), 25 epochs. Existing run dirs are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
what=$1; shift
seeds=${*:-0 1 2}
models=${MODELS:-sen none full}
if [ "$what" = shapes ]; then dirs="[0]"; else dirs="[0,2,3]"; fi
jobs=()
for s in $seeds; do for wm in $models; do
  dir=results/runs/gen10_${what}_${wm}_s$s
  [ -e "$dir" ] || jobs+=("env=$what worldmodel=$wm 'trainer.train_directions=$dirs' trainer.episodes=1000 trainer.episode_length=10 trainer.epochs=25 seed=$s hydra.run.dir=$dir")
done; done
if [ ${#jobs[@]} -gt 0 ]; then
  printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} sh -c "$PY -m eqmbrl.run threads=1 {} > /dev/null 2>&1 || echo FAILED: {}"
fi
