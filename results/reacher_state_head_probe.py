"""Can an equivariant head read the arm's state off a trained Reacher latent, and in which frame?

    MUJOCO_GL=egl .venv/bin/python results/reacher_state_head_probe.py RUN_OR_SWEEP_DIR... [--episodes 300]

Encodes the start states of ``--episodes`` x 10 random-torque transitions (env seeds
``76,000,000 + i``, used nowhere else) with the run's frozen model, and fits three heads from the
latent to :func:`envs.reacher.state_points` (elbow, fingertip, goal, elbow and fingertip
velocities; 10 numbers), 1,500 Adam steps (lr 1e-3, batch 256) on the first 80%, scored on the rest:

- ``planar``: the state head of ``worldmodel.state_weight`` (escnn MLP into
  :func:`worldmodels.fields.planar`, vectors turned as escnn turns a map's pixels);
- ``d4_irrep``: the same MLP into D4's irrep (1, 1), which is the same rotation but whose element
  4 flips y instead of x (what ``planar`` used before RESULTS.md §15);
- ``plain``: an unconstrained MLP (256 hidden) on the flattened latent.

Prints and writes ``RUN_DIR/state_head_probe.json``: per head, the held-out MSE and R² of the
positions (6 numbers) and of the velocities (4), against the targets' variance. An equivariant
head whose representation is the wrong one can fit nothing (R² about 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from escnn import nn as enn
from reacher_reward import for_each_run, load_run, random_transitions  # results/ is the script's own directory

from eqmbrl.core.types import to_float_images
from worldmodels.fields import mlp, planar
from worldmodels.persistence import evaluating

SEED_BASE = 76_000_000
STEPS = 1500


def fit(head: torch.nn.Module, z: torch.Tensor, y: torch.Tensor, split: int) -> torch.Tensor:
    """Train ``head`` on ``z[:split] -> y[:split]``; its held-out squared errors ``[N - split, F]``."""
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(STEPS):
        b = torch.randint(0, split, (256,), generator=gen)
        loss = (head(z[b]) - y[b]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return (head(z[split:]) - y[split:]).pow(2)


def probe(run: Path, episodes: int = 300) -> dict[str, dict[str, float]]:
    """The held-out fits of the module doc for ``run``; also written to ``run/state_head_probe.json``."""
    model, env = load_run(run)
    data = random_transitions(env, episodes, SEED_BASE)
    y = torch.from_numpy(env.unwrapped.state_points(data["states"])).flatten(1)  # N x 10
    obs = torch.from_numpy(data["obs"])
    with evaluating(model), torch.no_grad():
        z = torch.cat([model.encode(to_float_images(obs[i : i + 500])) for i in range(0, len(obs), 500)]).flatten(1)
    env.close()
    split, gs, in_type = int(0.8 * len(z)), model.latent_type.gspace, model.latent_type
    heads: dict[str, torch.nn.Module] = {"planar": mlp(in_type, 128, planar(gs, 5))}
    if gs.fibergroup.name == "D4":
        heads["d4_irrep"] = mlp(in_type, 128, enn.FieldType(gs, [gs.fibergroup.irrep(1, 1)] * 5))
    heads["plain"] = torch.nn.Sequential(torch.nn.Linear(z.shape[1], 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    variance = y[split:].var(0)
    out: dict[str, dict[str, float]] = {}
    for name, head in heads.items():
        torch.manual_seed(0)
        err = fit(head, z, y, split).mean(0)
        out[name] = {
            f"{part}_{key}": round(float(value), 3)
            for part, cols in (("positions", slice(0, 6)), ("velocities", slice(6, 10)))
            for key, value in (("mse", err[cols].mean()), ("r2", 1 - err[cols].sum() / variance[cols].sum()))
        }
        print(f"{run.name[:40]} {name:9s} {out[name]}", flush=True)
    (run / "state_head_probe.json").write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    for_each_run(__doc__.split("\n\n")[0], probe)
