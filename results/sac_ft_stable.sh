#!/bin/bash
# RESULTS §22: fine-tuned sen + auxiliary loss with layer-normalised features and BatchNorm on its
# running statistics, from the same pretrained checkpoints as §21's fine-tuned and frozen runs.
# total_steps=10000: nothing is evicted from a 10k buffer before 10k steps, so the first 10k steps
# are those of a 100k run, with a 0.5 GB instead of a 4.9 GB replay pickle. Usage: results/sac_ft_stable.sh S
S=$1
MUJOCO_GL=egl .venv/bin/python -m eqmbrl.run experiment=reacher_mpc agent=sac agent.total_steps=10000 \
    agent.eval_every=1000 worldmodel=sen seed=$S agent.freeze=false agent.aux_weight=1.0 \
    agent.normalize_features=true agent.fixed_batchnorm=true \
    "agent.checkpoint='results/runs/sac_ft/sen_aux_s$S/checkpoint.pt'" hydra.run.dir=results/runs/sac_ft/stable_s$S
