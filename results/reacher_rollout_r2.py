"""How far ahead can a Reacher world model's reward be trusted? R² of the reward along open-loop rollouts.

    MUJOCO_GL=egl .venv/bin/python results/reacher_rollout_r2.py RUN_OR_SWEEP_DIR... [--episodes 100]

The MPC agent scores a plan by the rewards its reward head predicts along an open-loop latent
rollout (``agents.mpc.reward_objective``). ``reacher_reward.py`` measures that head one step
ahead, from encoded frames; this script measures it ``k = 1 .. 12`` decisions ahead. From
``--episodes`` fresh reset states (env seeds ``75,000,000 + i``, used nowhere else) it plays
12-decision sequences of two kinds in the simulator, encodes the first observation only, rolls
the same actions out in latent space and compares the predicted distance term at every step
(prediction minus the known torque cost) with the true one:

- ``random``: uniform torques;
- ``pd``: a state-based PD controller towards the goal (``reacher_plan_check.pd_action``), the
  kind of plan that reaches and that the planner must rank well.

Prints and writes ``RUN_DIR/rollout_r2.json``: per kind and step k, R² of the distance term (over
the episodes, against the variance of the true term at that k), the correlation, the RMSE, and
the mean and std of the true term and the mean of the predicted one. Under PD the true term's
variance shrinks towards 0 as the arms arrive, so read the RMSE there, not the R².

For a model with a state head (``worldmodel.state_weight > 0``) it also writes, per kind and
k = 0..12, the RMSE of the decoded fingertip position and velocity (``tip_rmse``,
``tip_speed_rmse``, in :func:`envs.reacher.state_points` units) against the simulator's, and the
mean decoded and true fingertip speeds (does the imagined arm keep moving?), and the RMSE of the
distance term computed from the decoded fingertip and goal (``decoded_rmse``, k = 1..12, next to
the reward head's ``rmse``; with n physics steps per decision the term sums n distances, taken
as linear between the decisions' decoded ones).
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from reacher_plan_check import pd_action  # results/ is the script's own directory
from reacher_reward import for_each_run, load_run

from envs.reacher import distance_terms
from eqmbrl.core.types import to_float_images
from worldmodels.persistence import evaluating

SEED_BASE = 75_000_000
HORIZON = 12


def play(env: gym.Env, seed: int, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """First observation ``[C, H, W]``, actions ``[12, 2]``, true distance terms ``[12]`` and
    states ``[13, S]`` of one sequence."""
    obs, info = env.reset(seed=seed)
    states = [info["state"]]
    rng = np.random.default_rng(seed)
    data = env.unwrapped.mj_data
    actions, dist = [], []
    for _ in range(HORIZON):
        if kind == "random":
            action = rng.uniform(-1.0, 1.0, 2)
        else:
            action = pd_action(data.qpos[:2].copy(), data.qvel[:2].copy(), data.qpos[2:4].copy())
        info = env.step(action.astype(np.float32))[4]
        states.append(info["state"])
        actions.append(action)
        dist.append(info["reward_dist"])
    return obs, np.asarray(actions, np.float32), np.asarray(dist), np.asarray(states)


def rollout_r2(run: Path, episodes: int = 100) -> dict[str, dict[str, list[float]]]:
    """The per-step R² and correlations of the module doc for ``run``; also written to ``run/rollout_r2.json``."""
    model, env = load_run(run)
    out: dict[str, dict[str, list[float]]] = {}
    for kind in ("random", "pd"):
        rows = [play(env, SEED_BASE + i, kind) for i in range(episodes)]
        obs = torch.from_numpy(np.stack([r[0] for r in rows]))
        actions = torch.from_numpy(np.stack([r[1] for r in rows]))  # [E, 12, 2]
        dist = np.stack([r[2] for r in rows])  # [E, 12]
        with evaluating(model), torch.inference_mode():
            z = model.rollout(model.encode(to_float_images(obs)), actions)  # [E, 13, K, C]
            flat = actions.flatten(0, 1)
            r_hat = model.reward(z[:, :-1].flatten(0, 1), flat, z[:, 1:].flatten(0, 1)).view(episodes, HORIZON)
            est = (r_hat + model.action_penalty(flat).view(episodes, HORIZON)).numpy()  # the distance term
            decoded = None if model.state_head is None else model.decode_state(z).unflatten(-1, (-1, 2)).numpy()
        r2 = 1.0 - ((est - dist) ** 2).mean(0) / dist.var(0)
        corr = [float(np.corrcoef(est[:, k], dist[:, k])[0, 1]) for k in range(HORIZON)]
        rmse = np.sqrt(((est - dist) ** 2).mean(0))
        out[kind] = {
            "r2": [round(float(v), 3) for v in r2],
            "corr": [round(c, 3) for c in corr],
            "rmse": [round(float(v), 4) for v in rmse],
            "true_mean": [round(float(v), 4) for v in dist.mean(0)],
            "true_std": [round(float(v), 4) for v in dist.std(0)],
            "predicted_mean": [round(float(v), 4) for v in est.mean(0)],
        }
        if decoded is not None:  # [E, 13, P, 2]: tip is point 1, its velocity point 4
            true = env.unwrapped.state_points(np.stack([r[3] for r in rows]))
            for key, i in (("tip_rmse", 1), ("tip_speed_rmse", 4)):
                err = np.sqrt(((decoded[:, :, i] - true[:, :, i]) ** 2).sum(-1).mean(0))
                out[kind][key] = [round(float(v), 4) for v in err]
            est_d = distance_terms(decoded, env.unwrapped.action_repeat)  # [E, 12]
            out[kind]["decoded_rmse"] = [round(float(v), 4) for v in np.sqrt(((est_d - dist) ** 2).mean(0))]
            out[kind]["tip_speed_true"] = [round(float(v), 4) for v in np.linalg.norm(true[:, :, 4], axis=-1).mean(0)]
            out[kind]["tip_speed_decoded"] = [
                round(float(v), 4) for v in np.linalg.norm(decoded[:, :, 4], axis=-1).mean(0)
            ]
        print(f"{run.name[:40]} {kind:6s} R² by step: {' '.join(f'{v:.2f}' for v in r2)}", flush=True)
        for key in [k for k in out[kind] if k not in ("r2", "corr")]:
            print(f"{'':47s}{key:>14s}: {' '.join(f'{v:.3f}' for v in out[kind][key])}", flush=True)
    env.close()
    (run / "rollout_r2.json").write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    for_each_run(__doc__.split("\n\n")[0], rollout_r2)
