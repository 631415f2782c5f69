#!/usr/bin/env bash
# RESULTS §19: the §16 pretraining recipe (w = 10 state head, 1,000 random episodes, 10 epochs, reward-head
# refit) on SEN's limited Reacher data (2nd joint's torque >= 0 only), then 20 fresh goals, the pose split
# and the reward along 12-decision rollouts (RUN/mpc_fresh.json, pose_split.json, rollout_r2.json).
# usage: bash results/reacher_limited_w10.sh MODEL SEED     (MODEL = sen | none | full)
set -euo pipefail
M=$1; S=$2; RUN=results/runs/dagger/lim_w10_${M}_s$S
export MUJOCO_GL=egl
.venv/bin/python -m eqmbrl.run experiment=reacher_mpc agent.episodes=0 trainer.episodes=1000 \
    trainer.epochs=10 trainer.reward_refit_steps=4000 worldmodel=$M seed=$S worldmodel.state_weight=10.0 \
    'trainer.train_action_low=[-1,0]' hydra.run.dir=$RUN
bash results/score_reacher_run.sh $RUN
