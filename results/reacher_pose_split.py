"""Where a Reacher world model trained on limited torques fails: by the elbow's side and the torque's sign.

    .venv/bin/python results/reacher_pose_split.py RUN_OR_SWEEP_DIR... [--episodes 100]

With the second joint's torque positive only (``trainer.train_action_low=[-1,0]``), random
episodes do not only lack negative torques: the elbow folds to its positive limit within a few
steps, so the training data also lack the poses with the elbow bent the other way (q1 < 0).
SEN's equivariant encoder and transition map those poses onto seen ones by a reflection, but its
free embedding network has never seen their images. This script measures both gaps on
``--episodes`` random all-torque episodes x 10 steps from Reacher's own starts (env seeds
``74,000,000 + i``, used nowhere else), for every run given:

- ``train_q1_negative`` and ``train_q1_folded``: the fractions of the run's training states with
  q1 < 0 and with the elbow folded near its limit (|q1| > 2.5);
- ``hits@1``: 1-step successor accuracy (the predicted next latent ranks the encoded true next
  observation first among all of them), over all transitions and split by ``q1 < 0`` / ``q1 >= 0``
  (the start state's elbow) and ``tau1 < 0`` / ``tau1 >= 0`` (the torque, unseen when negative);
- ``r2_distance``: the reward head's R^2 of the distance term (``results/reacher_reward.py``),
  over all transitions and split by the elbow's side.

Writes ``RUN_DIR/pose_split.json`` and prints one line per run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from reacher_reward import for_each_run, load_run, predicted_rewards, random_transitions, reward_split

from worldmodels.metrics import chunked, ranks
from worldmodels.persistence import evaluating
from worldmodels.world_model import WorldModel

SEED_BASE = 74_000_000
Q1 = 3  # the newest frame's elbow angle in a frame_stack=2 state (envs/reacher.py)
FOLDED = 2.5  # |q1| above this: the elbow near its limit of 3 rad, the fingertip near the base


def successor_hits(model: WorldModel, obs: np.ndarray, next_obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """bool ``[N]``: the 1-step prediction from ``obs[i]`` is closest to the encoding of ``next_obs[i]``
    among all ``next_obs`` (ties count as hits, as SEN's H@1)."""
    with evaluating(model), torch.inference_mode():
        z, z_next = (chunked(model.encode, torch.from_numpy(x)) for x in (obs, next_obs))
        pred = model.step(z, torch.from_numpy(actions).float())
        return (ranks(pred, z_next) == 1).numpy()


def split(run: Path, episodes: int = 100) -> dict[str, float]:
    """The figures of the module doc for ``run``; also written to ``run/pose_split.json``."""
    model, env = load_run(run)
    data = random_transitions(env, episodes, SEED_BASE)
    env.close()
    buffer = np.load(run / "buffer.npz")
    train_q1 = buffer["states"][: int(buffer["meta"][1]), Q1]
    hits = successor_hits(model, data["obs"], data["next_obs"], data["actions"])
    r_hat = predicted_rewards(model, data["obs"], data["actions"])
    q1_neg, tau1_neg = data["states"][:, Q1] < 0, data["actions"][:, 1] < 0
    out = {
        "train_q1_negative": float(np.mean(train_q1 < 0)),
        "train_q1_folded": float(np.mean(np.abs(train_q1) > FOLDED)),
        "hits@1": 100.0 * float(hits.mean()),
    }
    for name, mask in (("q1<0", q1_neg), ("q1>=0", ~q1_neg), ("tau1<0", tau1_neg), ("tau1>=0", ~tau1_neg)):
        out[f"hits@1/{name}"] = 100.0 * float(hits[mask].mean())
    out["r2_distance"] = reward_split(r_hat, data["dist"], data["ctrl"])["r2_distance"]
    for name, mask in (("q1<0", q1_neg), ("q1>=0", ~q1_neg)):
        out[f"r2_distance/{name}"] = reward_split(r_hat[mask], data["dist"][mask], data["ctrl"][mask])["r2_distance"]
    out["share_q1<0"] = float(q1_neg.mean())
    out["share_folded"] = float(np.mean(np.abs(data["states"][:, Q1]) > FOLDED))
    (run / "pose_split.json").write_text(json.dumps(out, indent=2))
    print(run.name, json.dumps({k: round(v, 3) for k, v in out.items()}), flush=True)
    return out


if __name__ == "__main__":
    for_each_run(__doc__.split("\n\n")[0], split)
