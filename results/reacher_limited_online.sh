#!/usr/bin/env bash
# RESULTS §20: §16's online phase (MPC episodes with all torques, half of every refit batch from them) on §19's
# limited-torque pretrained model, cut to EPISODES (default 40), then the reward-head refit (§17); then the same
# scoring as §19 (RUN/mpc_fresh.json, pose_split.json, rollout_r2.json). FROM (default §19's run dir) may be an
# online run to continue (its episodes count towards EPISODES), e.g. results/runs/dagger/lim_online40_sen_s0.
# usage: bash results/reacher_limited_online.sh MODEL SEED [EPISODES [FROM]]     (MODEL = sen | none | full)
set -euo pipefail
M=$1; S=$2; EP=${3:-40}; PRE=${4:-results/runs/dagger/lim_w10_${M}_s$S}; RUN=results/runs/dagger/lim_online${EP}_${M}_s$S
export MUJOCO_GL=egl
.venv/bin/python results/online_from_pretrain.py $PRE $RUN agent.episodes=$EP agent.refit_every=50 \
    agent.refit_steps=15 agent.refit_online_fraction=0.5 agent.final_reward_refit=true agent.eval_every=40
bash results/score_reacher_run.sh $RUN
