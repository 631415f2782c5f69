#!/bin/bash
# RESULTS §22-23: fine-tuned sen + auxiliary loss from the pretrained checkpoint of results/runs/sac_ft/sen_aux_sS,
# with both of §22's options (ARM=stable, the §22 recipe), one of them, or neither.
# total_steps=10000: nothing is evicted from a 10k buffer before 10k steps, so the first 10k steps
# are those of a 100k run, with a 0.5 GB instead of a 4.9 GB replay pickle.
# Usage: results/sac_ft_ablation.sh S ARM, ARM = stable (both options), plain (neither),
# norm (normalize_features only), bn (fixed_batchnorm only). Run dir: results/runs/sac_ft/ARM_sS.
S=$1
ARM=$2
case "$ARM" in
    stable) NORM=true; BN=true ;;
    plain) NORM=false; BN=false ;;
    norm) NORM=true; BN=false ;;
    bn) NORM=false; BN=true ;;
    *) echo "sac_ft_ablation.sh: ARM must be stable, plain, norm or bn, got '$ARM'" >&2; exit 2 ;;
esac
MUJOCO_GL=egl .venv/bin/python -m eqmbrl.run experiment=reacher_mpc agent=sac agent.total_steps=10000 \
    agent.eval_every=1000 worldmodel=sen seed=$S agent.freeze=false agent.aux_weight=1.0 \
    agent.normalize_features=$NORM agent.fixed_batchnorm=$BN \
    "agent.checkpoint='results/runs/sac_ft/sen_aux_s$S/checkpoint.pt'" hydra.run.dir=results/runs/sac_ft/${ARM}_s$S
