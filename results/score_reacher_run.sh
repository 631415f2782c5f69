#!/usr/bin/env bash
# §19-§20's scoring of one Reacher run dir: MPC on 20 fresh goals (RUN/mpc_fresh.json), the pose split on
# all-torque episodes (pose_split.json) and the reward along 12-decision rollouts (rollout_r2.json).
# usage: bash results/score_reacher_run.sh RUN
set -euo pipefail
RUN=$1
export MUJOCO_GL=egl
.venv/bin/python results/mpc_horizon.py $RUN --horizons 12 --episodes 20 --fresh --out mpc_fresh.json
.venv/bin/python results/reacher_pose_split.py $RUN
.venv/bin/python results/reacher_rollout_r2.py $RUN
