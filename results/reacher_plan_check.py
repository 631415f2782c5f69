"""Does a trained Reacher model prefer the plans that reach? Model vs simulator on the same plans.

    .venv/bin/python results/reacher_plan_check.py RUN_DIR [--starts 20] [--horizon 12]

From ``--starts`` fresh reset states (env seeds ``72,000,000 + i``, used nowhere else) it scores
``--horizon``-step action sequences twice: with the run's world model (the reward objective the
MPC agent maximises: open-loop latent rollout from the encoded start, sum of predicted rewards)
and with the simulator (the true sum of rewards of the same actions, from the same start).

Sequences per start:
- ``zero``: no torque;
- ``pd``: the actions of a state-based PD controller on the inverse-kinematics joint angles of
  the target (gains 0.7 / 0.1: about -4.6 per 50-step episode on Reacher-v5), a good plan the
  model has to rank above ``zero``;
- ``cem``: the plan of CEM (population 500, 50 elites, 6 iterations) on the model;
- 16 ``random`` sequences, uniform in [-1, 1].

Prints and writes ``RUN_DIR/plan_check.json``: mean true and predicted return per kind (and their
distance terms: the prediction minus the known torque term), how often the model ranks ``pd``
above ``zero`` (the simulator does on every start where reaching pays within the horizon), and
the correlation of predicted and true returns (and distance terms) over all sequences.
``pd_latent/*`` (latent norms after the PD plan, mean over starts): ``moved`` = |z_H - z_0| of the
encoded frames, ``rollout_error`` = |rollout_H - z_H| of the open-loop rollout of the PD actions
(``moved`` is what predicting no motion would score) and ``action_effect`` = |rollout_H -
rollout_H(zero torques)|, which is about 0 for a transition that ignores its actions. If the model
ranks ``pd`` above ``zero`` but ``cem`` finds neither, the search fails; if it ranks them wrongly,
the model does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from omegaconf import OmegaConf

import envs  # noqa: F401  (registers the eqmbrl/ ids)
from agents.mpc import reward_objective
from agents.planners import CEM
from envs.reacher import LINK_LENGTHS
from eqmbrl.core.types import to_float_images
from worldmodels.persistence import evaluating, load_world_model

SEED_BASE = 72_000_000
LINKS = LINK_LENGTHS  # Reacher's upper arm and forearm-to-fingertip lengths (m)
PD_GAINS = (0.7, 0.1)


def inverse_kinematics(target: np.ndarray) -> np.ndarray:
    """Joint angles ``[2]`` (elbow sign +) that put the fingertip on ``target [2]`` (clipped to the reach)."""
    l1, l2 = LINKS
    r2 = min(float(target @ target), (l1 + l2 - 1e-4) ** 2)
    q1 = np.arccos(np.clip((r2 - l1**2 - l2**2) / (2 * l1 * l2), -1.0, 1.0))
    q0 = np.arctan2(target[1], target[0]) - np.arctan2(l2 * np.sin(q1), l1 + l2 * np.cos(q1))
    return np.array([q0, q1])


def pd_action(qpos: np.ndarray, qvel: np.ndarray, target: np.ndarray) -> np.ndarray:
    """PD torques ``[2]`` towards the nearer of the two IK solutions."""
    kp, kd = PD_GAINS
    best = None
    for elbow in (1.0, -1.0):
        q = inverse_kinematics(target)
        if elbow < 0:  # the mirrored solution: same fingertip, elbow on the other side
            q = np.array([q[0] + 2 * np.arctan2(LINKS[1] * np.sin(q[1]), LINKS[0] + LINKS[1] * np.cos(q[1])), -q[1]])
        err = np.array([(q[0] - qpos[0] + np.pi) % (2 * np.pi) - np.pi, q[1] - qpos[1]])
        if best is None or np.abs(err).sum() < np.abs(best).sum():
            best = err
    return np.clip(kp * best - kd * qvel, -1.0, 1.0)


def true_return(env: gym.Env, seed: int, actions: np.ndarray) -> tuple[float, float]:
    """Sums of rewards and of their distance terms for ``actions [H, 2]`` from the reset state of ``seed``."""
    env.reset(seed=seed)
    steps = [env.step(a) for a in actions]
    return float(sum(s[1] for s in steps)), float(sum(s[4]["reward_dist"] for s in steps))


def pd_episode(env: gym.Env, seed: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """The PD controller run closed loop from the reset state of ``seed``: its actions ``[H, 2]``
    and the observations ``uint8 [H + 1, C, H_img, W_img]`` it sees."""
    obs = [env.reset(seed=seed)[0]]
    sim = env.unwrapped._sim
    out = []
    for _ in range(horizon):
        a = pd_action(sim.data.qpos[:2], sim.data.qvel[:2], sim.data.qpos[2:4].copy())
        out.append(a)
        obs.append(env.step(a)[0])
    return np.asarray(out, dtype=np.float32), np.stack(obs)


def action_sensitivity(model: torch.nn.Module, obs: np.ndarray, actions: np.ndarray) -> tuple[float, float, float]:
    """Latent norms after the last of ``actions [H, 2]`` (obs ``[H + 1, ...]`` the frames seen):
    how far the encoded state moved from the start, how far the open-loop rollout is from it, and
    how far that rollout is from the rollout of zero torques (0: the transition ignores actions)."""
    z = model.encode(to_float_images(torch.as_tensor(obs)))
    a = torch.from_numpy(actions)[None]
    rolled, still = model.rollout(z[:1], a)[0, -1], model.rollout(z[:1], torch.zeros_like(a))[0, -1]
    return float((z[-1] - z[0]).norm()), float((rolled - z[-1]).norm()), float((rolled - still).norm())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--horizon", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = OmegaConf.load(args.run / ".hydra" / "config.yaml")
    final = args.run / "checkpoint_final.pt"
    model = load_world_model(final if final.is_file() else args.run / "checkpoint.pt").export()
    env = gym.make(cfg.env.id, **cfg.env.kwargs)
    rng = np.random.default_rng(0)
    moves = []
    rows: dict[str, list[tuple[float, float, float]]] = {"zero": [], "pd": [], "cem": [], "random": []}
    for i in range(args.starts):
        seed = SEED_BASE + i
        obs, _ = env.reset(seed=seed)
        with evaluating(model), torch.inference_mode():
            z0 = model.encode(to_float_images(torch.as_tensor(obs)[None]))
            score = reward_objective(model, z0)
            planner = CEM(args.horizon, 2, 500, 50, 6, seed=i)
            pd_plan, pd_obs = pd_episode(env, seed, args.horizon)
            moves.append(action_sensitivity(model, pd_obs, pd_plan))
            plans = {
                "zero": np.zeros((args.horizon, 2), np.float32),
                "pd": pd_plan,
                "cem": planner.plan(score).numpy(),
            }
            randoms = rng.uniform(-1, 1, (16, args.horizon, 2)).astype(np.float32)
            for kind, acts in [*plans.items(), *(("random", r) for r in randoms)]:
                predicted = float(score(torch.from_numpy(acts)[None])[0])
                rows[kind].append((*true_return(env, seed, acts), predicted))
    env.close()
    out: dict[str, float] = {}
    for kind, triples in rows.items():
        true, true_dist, pred = np.array(triples).T
        out[f"{kind}/true"], out[f"{kind}/predicted"] = float(true.mean()), float(pred.mean())
        out[f"{kind}/true_distance"] = float(true_dist.mean())
        out[f"{kind}/predicted_distance"] = float((pred - (true - true_dist)).mean())
    pd_, zero = np.array(rows["pd"]), np.array(rows["zero"])
    out["pd_above_zero/true"] = float(np.mean(pd_[:, 0] > zero[:, 0]))
    out["pd_above_zero/predicted"] = float(np.mean(pd_[:, 2] > zero[:, 2]))
    every = np.concatenate([np.array(t) for t in rows.values()])
    out["corr_return"] = float(np.corrcoef(every[:, 0], every[:, 2])[0, 1])
    # the distance part of the prediction: the prediction minus the (known) torque term
    out["corr_distance"] = float(np.corrcoef(every[:, 1], every[:, 2] - (every[:, 0] - every[:, 1]))[0, 1])
    moved, error, effect = np.mean(moves, 0)
    out |= {
        "pd_latent/moved": float(moved),
        "pd_latent/rollout_error": float(error),
        "pd_latent/action_effect": float(effect),
    }
    (args.run / "plan_check.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
