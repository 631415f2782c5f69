"""Is the Reacher reward R² bounded by the latent or by the reward head? Refit heads on a frozen model.

    .venv/bin/python results/reacher_head_refit.py RUN_OR_SWEEP_DIR... [--episodes 100]

For each run: encode its training buffer (``buffer.npz``) once with the run's final world model,
frozen, and fit new invariant reward heads on the latents the planner scores (``step(z, a)`` for
``reward_from=next``), with the run's target (the reward plus the known torque cost), by Adam
(lr 1e-3, batch 256, 4,000 steps, seed 0). Heads:

- ``same``: the run's head architecture (:class:`worldmodels.reward.RewardHead`), re-initialised;
- ``wide``: the same with 4x the hidden channels (4x the pooled invariants);
- ``deep``: ``wide`` with 3 equivariant layers and a 2-layer MLP after the group pooling.

Every head, and the run's own jointly trained one (``trained``), is scored by the R² of the
distance term on the fresh transitions of ``results/reacher_pose_split.py`` (env seeds
74,000,000 + i, random torques, 10 steps each). If a refitted head on the frozen latent beats the
trained one by far, the head (or its joint training) bounds the R²; if none does, the latent does.
Writes ``RUN_DIR/head_refit.json`` and prints one line per run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from reacher_pose_split import SEED_BASE
from reacher_reward import for_each_run, load_run, predicted_rewards, random_transitions, reward_split
from torch import nn

from eqmbrl.core.buffer import ReplayBuffer
from worldmodels.actions import encode_actions
from worldmodels.fields import action_type, mlp, regular
from worldmodels.layers import group_pool
from worldmodels.metrics import chunked
from worldmodels.persistence import evaluating
from worldmodels.reward import RewardHead
from worldmodels.world_model import WorldModel


class DeepHead(nn.Module):
    """Invariant head: 3-layer equivariant MLP, max over each fibre, 2-layer MLP. ``[B, K, C] -> [B]``."""

    def __init__(self, in_type, hidden: int) -> None:  # noqa: ANN001  (an escnn FieldType)
        super().__init__()
        hid = regular(in_type.gspace, hidden)
        self.order = in_type.gspace.fibergroup.order()
        self.features = nn.Sequential(mlp(in_type, hidden, hid, layers=3), nn.ReLU())
        self.out = nn.Sequential(nn.Linear(len(hid), 128), nn.ReLU(), nn.Linear(128, 1))

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        pooled = group_pool(self.features(torch.cat([z, a], dim=-1)), self.order)
        return self.out(pooled).squeeze(-1).sum(-1)


def head_inputs(model: WorldModel, obs: np.ndarray, actions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The latents the model's reward head reads ``[N, K, C]`` and the encoded actions ``[N, K, Ca]``."""

    def latents(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        z = model.encode(x)
        return model.step(z, a.float()) if model.reward_from == "next" else z

    with evaluating(model), torch.inference_mode():
        act = torch.from_numpy(actions).float()
        z = chunked(latents, torch.from_numpy(obs), torch.from_numpy(actions))
        return z.clone(), encode_actions(act, model.action_encoding, model.slots).clone()


def fit(head: nn.Module, z: torch.Tensor, a: torch.Tensor, target: torch.Tensor, steps: int) -> nn.Module:
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(len(z), (256,), generator=gen)
        loss = (head(z[idx], a[idx]) - target[idx]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return head


def refit(run: Path, episodes: int = 100, steps: int = 4000) -> dict[str, float]:
    torch.manual_seed(0)
    model, env = load_run(run)
    fresh = random_transitions(env, episodes, SEED_BASE)
    env.close()
    buf = ReplayBuffer.load(run / "buffer.npz")
    rows = np.flatnonzero(buf.has_next[: buf.size])
    z, a = head_inputs(model, buf.obs[rows], buf.actions[rows])
    rewards = torch.from_numpy(buf.rewards[rows]).float()
    target = rewards + model.action_penalty(torch.from_numpy(buf.actions[rows]))
    fz, fa = head_inputs(model, fresh["obs"], fresh["actions"])
    penalty = model.action_penalty(torch.from_numpy(fresh["actions"])).numpy()
    out = {
        "trained": reward_split(predicted_rewards(model, fresh["obs"], fresh["actions"]), fresh["dist"], fresh["ctrl"])[
            "r2_distance"
        ]
    }
    in_type = model.reward_head.features[0][0].in_type  # latent + action fields
    a_type = action_type(in_type.gspace, model.action_encoding, a.shape[-1])
    hidden = model.reward_head.out.in_features * model.reward_head.order
    heads: dict[str, nn.Module] = {
        "same": RewardHead(model.latent_type, a_type, hidden),
        "wide": RewardHead(model.latent_type, a_type, 4 * hidden),
        "deep": DeepHead(in_type, 4 * hidden),
    }
    for name, head in heads.items():
        fit(head, z, a, target, steps)
        with torch.no_grad():
            r_hat = head(fz, fa).numpy() - penalty
        out[name] = reward_split(r_hat, fresh["dist"], fresh["ctrl"])["r2_distance"]
        with torch.no_grad():
            out[f"{name}/train_r2"] = 1 - float((head(z, a) - target).pow(2).mean() / target.var(unbiased=False))
    out["train_transitions"] = float(len(rows))
    (run / "head_refit.json").write_text(json.dumps(out, indent=2))
    print(run.name, json.dumps({k: round(v, 3) for k, v in out.items()}), flush=True)
    return out


if __name__ == "__main__":
    for_each_run(__doc__.split("\n\n")[0], refit)
