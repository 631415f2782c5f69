#!/bin/bash
# RESULTS §23: which of §22's two options keeps the fine-tuned SAC critic bounded. The §22 command
# with one option, the other or neither, from the same pretrained checkpoint.
# Usage: results/sac_ft_ablation.sh S ARM, ARM = plain (neither), norm (normalize_features only),
# bn (fixed_batchnorm only). Run dir: results/runs/sac_ft/ARM_sS.
S=$1
ARM=$2
case "$ARM" in
    plain) NORM=false; BN=false ;;
    norm) NORM=true; BN=false ;;
    bn) NORM=false; BN=true ;;
    *) echo "sac_ft_ablation.sh: ARM must be plain, norm or bn, got '$ARM'" >&2; exit 2 ;;
esac
MUJOCO_GL=egl .venv/bin/python -m eqmbrl.run experiment=reacher_mpc agent=sac agent.total_steps=10000 \
    agent.eval_every=1000 worldmodel=sen seed=$S agent.freeze=false agent.aux_weight=1.0 \
    agent.normalize_features=$NORM agent.fixed_batchnorm=$BN \
    "agent.checkpoint='results/runs/sac_ft/sen_aux_s$S/checkpoint.pt'" hydra.run.dir=results/runs/sac_ft/${ARM}_s$S
