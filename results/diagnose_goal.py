"""Why latent goal search fails at small budgets: one-step goals, model step vs. true next state.

    .venv/bin/python results/diagnose_goal.py results/runs/mpc_cubes_goal_sen_s0 [episodes]

For goals one move away (the evaluation seeds of the MPC runs), scores each of the 20 actions by
the energy between the goal's latent and (a) the model's predicted next latent, (b) the
encoding of the true next observation. Counts how often the action that reaches the goal has
the lowest energy, and compares the predicted step's size with the one-move latent distance.
"""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import torch
from omegaconf import OmegaConf

import envs  # noqa: F401
from envs.block_pushing import step_states
from eqmbrl.core.seeds import EVAL_ENV
from eqmbrl.core.symmetry import env_contract
from eqmbrl.core.types import to_float_images
from worldmodels.persistence import load_world_model


def main(run: str, episodes: int = 50) -> None:
    cfg = OmegaConf.load(f"{run}/.hydra/config.yaml")
    model = load_world_model(f"{run}/checkpoint_final.pt")  # eval mode, rebuilt from its stored kwargs
    env = gym.make(cfg.env.id)
    base = env_contract(env)
    hits_model = hits_true = 0
    ratio = []
    enc = lambda x: model.encode(to_float_images(torch.as_tensor(np.asarray(x))))  # noqa: E731
    for i in range(episodes):
        obs, _ = env.reset(seed=EVAL_ENV + i, options={"goal_distance": 1})
        nexts = step_states(np.repeat(base.get_state()[None], 20, 0), np.arange(20), base.width)
        good = {a for a in range(20) if np.array_equal(nexts[a], base.goal_state)}
        with torch.no_grad():
            z, zg = enc(obs[None]), enc(base.goal_obs[None])
            pred = model.step(z.expand(20, -1, -1), torch.arange(20))
            true = enc(base.render_states(nexts))
            hits_model += int(model.energy(pred, zg.expand_as(pred)).argmin()) in good
            hits_true += int(model.energy(true, zg.expand_as(true)).argmin()) in good
            a = next(iter(good))
            ratio.append(float((pred[a] - z[0]).norm() / (true[a] - z[0]).norm()))
    print(
        f"{run}: {episodes} one-move goals; lowest energy is the goal-reaching action: "
        f"model step {100 * hits_model / episodes:.0f}%, true next state {100 * hits_true / episodes:.0f}%; "
        f"|predicted step| / |true step| in latent space: median {np.median(ratio):.2f}"
    )


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:3]))
