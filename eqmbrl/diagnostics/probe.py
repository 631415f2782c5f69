"""What a world model's latent knows about the env state: linear (ridge) probes, R² per target.

    python -m eqmbrl.diagnostics.probe RUN_DIR [--episodes 100] [--length 20] [--alpha 1.0]

Encodes every observation of fresh random episodes (:mod:`eqmbrl.diagnostics.common`), fits a
ridge regression from the flattened latent (standardised, plus an unpenalised bias) to each
target of the underlying state (:func:`state_targets`) on the first ``train_fraction`` of the
episodes and reports R² on the others (1 - squared error / variance, pooled over the target's
columns: 1 is a perfect linear read-out, 0 no better than the mean, below 0 worse).

Targets: block pushing ``positions`` (every object's cell); Reacher ``angles`` (sin and cos of both
joints in the newest frame), ``previous_angles`` (the frame before, with ``frame_stack > 1``),
``velocities`` (joint velocities), ``fingertip`` and ``goal`` (positions) and ``distance``
(fingertip to goal); any other env its whole state vector, ``state``. A planner needs the arm's
angles and velocities to predict where an action takes it; a latent can tell random-goal states
apart by the goal alone, which is all the contrastive loss asks for.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from agents.random_agent import RandomAgent
from envs.block_pushing import BlockPushingEnv
from envs.reacher import ReacherPixelsEnv
from eqmbrl.collect import collect
from eqmbrl.core.seeds import DIAGNOSTICS_ENV
from eqmbrl.diagnostics.common import Source, model_and_env, open_run, parser, result_path, save_result
from worldmodels.metrics import chunked
from worldmodels.persistence import evaluating


def state_targets(env: gym.Env, states: np.ndarray) -> dict[str, np.ndarray]:
    """Probe targets ``{name: [N, d]}`` of env states ``[N, *S]`` (module doc)."""
    base = env.unwrapped
    if isinstance(base, BlockPushingEnv):
        return {"positions": states.reshape(len(states), -1).astype(np.float64)}
    if not isinstance(base, ReacherPixelsEnv):
        return {"state": states.reshape(len(states), -1).astype(np.float64)}
    k = base.frame_stack  # layout: envs/reacher.py; angles of the newest frame at 2(k-1), 2k-1
    q, dq = states[:, 2 * k - 2 : 2 * k], states[:, 2 * k : 2 * k + 2]
    points = base.state_points(states).astype(np.float64)  # [N, 5, 2]: elbow, fingertip, goal, velocities
    out = {"angles": np.concatenate([np.sin(q), np.cos(q)], 1)}
    if k > 1:
        q_prev = states[:, 2 * k - 4 : 2 * k - 2]
        out["previous_angles"] = np.concatenate([np.sin(q_prev), np.cos(q_prev)], 1)
    out.update(velocities=dq, fingertip=points[:, 1], goal=points[:, 2])
    out["distance"] = np.linalg.norm(points[:, 1] - points[:, 2], axis=1, keepdims=True)
    return out


def ridge_r2(x: np.ndarray, y: np.ndarray, train: np.ndarray, alpha: float = 1.0) -> float:
    """Held-out R² of a ridge fit of ``y [N, d]`` on ``x [N, D]``: fitted on rows ``train`` (bool
    ``[N]``), scored on the others; ``x`` standardised and ``y`` centred on the training rows (so
    the bias is not penalised), penalty ``alpha``; R² pooled over the d columns."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if not 0 < train.sum() < len(train):
        raise ValueError(f"need training and held-out rows, got {int(train.sum())} of {len(train)} for training")
    mean, std = x[train].mean(0), x[train].std(0) + 1e-8
    xs, y_mean = (x - mean) / std, y[train].mean(0)
    a = xs[train]
    w = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ (y[train] - y_mean))
    test = y[~train]
    residual = ((xs[~train] @ w + y_mean - test) ** 2).sum()
    return float(1 - residual / max(((test - test.mean(0)) ** 2).sum(), 1e-12))


def probe(
    source: Source,
    env: gym.Env | None = None,
    episodes: int = 100,
    length: int = 20,
    train_fraction: float = 0.7,
    alpha: float = 1.0,
    seed: int = DIAGNOSTICS_ENV,
) -> dict[str, float]:
    """Held-out R² per target (module doc) of a run (its dir or :func:`eqmbrl.load.load_run`'s;
    ``env`` None: the run's env) or of a world model on ``env``, on ``episodes`` fresh random
    episodes of at most ``length`` steps (env seeds ``seed + i``), every observation, split by episode."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    with model_and_env(source, env) as (model, env):
        buffer = collect(env, RandomAgent(env.action_space, seed), episodes, length, seed=seed, desc="probe")
        assert buffer.states is not None  # collect() stores states
        rows = slice(0, len(buffer))
        obs, states = torch.from_numpy(buffer.obs[rows]), buffer.states[rows]  # [N, C, H, W], [N, *S]
        with evaluating(model):
            z = chunked(model.encode, obs, device=model.device).flatten(1).cpu().numpy()  # [N, K * C]
        train = buffer.episode[rows] < int(train_fraction * episodes)
        return {name: ridge_r2(z, y, train, alpha) for name, y in state_targets(env, states).items()}


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = parser(__doc__)
    p.add_argument("--episodes", type=int, default=100, help="fresh random episodes (default 100)")
    p.add_argument("--length", type=int, default=20, help="most steps per episode (default 20)")
    p.add_argument("--alpha", type=float, default=1.0, help="ridge penalty on the standardised latent (default 1)")
    args = p.parse_args(argv)
    out = result_path(args.run_dir, "probe", args.out)
    with open_run(args) as run:
        return save_result(out, probe(run, episodes=args.episodes, length=args.length, alpha=args.alpha))


if __name__ == "__main__":
    main()
