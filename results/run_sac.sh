#!/usr/bin/env bash
# RESULTS.md, SB3 section: SAC on Reacher from pixels with NatureCNN, frozen SEN and frozen
# `none` features (the world models of results/run_mpc.sh reacher, after their online phase),
# 3 seeds, 2 runs at a time with 1 torch thread each. Usage: bash results/run_sac.sh [steps]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-4000}
jobs=()
for s in 0 1 2; do
  jobs+=("agent.features=nature_cnn hydra.run.dir=results/runs/sac_reacher_nature_cnn_s$s seed=$s")
  for wm in sen none; do
    jobs+=("worldmodel=$wm agent.checkpoint=results/runs/mpc_reacher_${wm}_s$s/checkpoint_final.pt hydra.run.dir=results/runs/sac_reacher_${wm}_s$s seed=$s")
  done
done
printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} sh -c \
  ".venv/bin/python -m eqmbrl.run threads=1 env=reacher agent=sac agent.total_steps=$steps agent.eval_every=500 {} > /dev/null 2>&1 || echo FAILED: {}"
