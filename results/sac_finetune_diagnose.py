"""Why a fine-tuned SAC critic diverges: latent scale, BatchNorm mode and Q values of a saved run.

For each SB3 run directory (``sb3_resume.zip`` + ``sb3_replay.pkl`` as :class:`eqmbrl.rl.SB3Learner`
saves them), on ``--batch`` transitions drawn from the run's own replay buffer (fixed seed):

- ``|z|``: mean L2 norm of the features of the actor's, critic's and target critic's extractors
  (eval mode), and of the pretrained ``world_model.pt`` the run started from;
- ``bn``: relative change of the critic's features between train mode (BatchNorm on batch
  statistics, as SB3's ``SAC.train`` sees them) and eval mode (running statistics, as the target
  critic and the acting policy see them);
- ``Q``: mean min-over-critics Q(s, a) in train and eval mode, next to the mean reward's
  discounted sum ``r_mean / (1 - gamma)`` (the scale Q should have), and the mean absolute
  Bellman residual in each mode against the target critic (eval mode) at the actor's eval-mode
  next actions (SB3's `SAC.train` draws them in train mode).

Prints one JSON line per run.

    .venv/bin/python results/sac_finetune_diagnose.py results/runs/sac_ft/ft_s*/ results/runs/sac_ft/frozen10k_s0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.preprocessing import preprocess_obs

from agents.sb3 import latent_features
from worldmodels.persistence import load_world_model


def _norm(x: torch.Tensor) -> float:
    return float(x.flatten(1).norm(dim=1).mean())


@torch.no_grad()
def diagnose(run: Path, batch: int, seed: int) -> dict[str, float]:
    algo = SAC.load(run / "sb3_resume.zip", device="cpu")
    algo.load_replay_buffer(run / "sb3_replay.pkl")
    buf = algo.replay_buffer
    n = buf.buffer_size if buf.full else buf.pos
    idx = np.random.default_rng(seed).choice(n, size=min(batch, n), replace=False)
    data = buf._get_samples(idx)
    pol = algo.policy
    # SB3's networks take the buffer's observations as stored: SB3 divides images by 255 itself
    obs, act, nxt = data.observations.float(), data.actions, data.next_observations.float()
    out: dict[str, float] = {"steps": float(algo.num_timesteps)}
    if obs.dim() == 2:  # cached latents (a frozen run): the observations are the features
        out["|z| cached"] = _norm(obs)
    else:
        images = preprocess_obs(obs, algo.observation_space)  # [B, C, H, W] in [0, 1], as the extractors get them
        out["|z| pretrained"] = _norm(load_world_model(run / "world_model.pt").eval().encode(images))
    for name, net in (("actor", pol.actor), ("critic", pol.critic), ("target", pol.critic_target)):
        ext = net.features_extractor
        if hasattr(ext, "world_model"):
            ext.world_model.eval()
            out[f"|z| {name}"] = _norm(latent_features(ext.world_model.encode(images)))
    gamma, alpha = algo.gamma, float(torch.exp(algo.log_ent_coef.detach())) if algo.log_ent_coef is not None else 0.0
    pol.actor.set_training_mode(False)
    next_a, logp = pol.actor.action_log_prob(nxt)
    pol.critic_target.set_training_mode(False)
    q_next = torch.cat(pol.critic_target(nxt, next_a), 1).min(1, keepdim=True)[0] - alpha * logp.reshape(-1, 1)
    target = data.rewards + (1 - data.dones) * gamma * q_next
    feats: dict[str, torch.Tensor] = {}
    for mode in ("eval", "train"):  # eval first: a train-mode forward moves BatchNorm's running statistics
        pol.critic.set_training_mode(mode == "train")
        if hasattr(pol.critic.features_extractor, "world_model"):
            feats[mode] = pol.critic.extract_features(obs, pol.critic.features_extractor)
            out[f"|f| critic {mode}"] = _norm(feats[mode])
        q = torch.cat(pol.critic(obs, act), 1).min(1, keepdim=True)[0]
        out[f"Q {mode}"] = float(q.mean())
        out[f"bellman {mode}"] = float((q - target).abs().mean())
    if feats:
        f_train, f_eval = feats["train"], feats["eval"]
        out["bn"] = float((f_train - f_eval).norm(dim=1).mean() / f_eval.norm(dim=1).mean())
    out["r_mean/(1-gamma)"] = float(data.rewards.mean()) / (1 - gamma)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for run in args.runs:
        print(
            json.dumps({"run": str(run), **{k: round(v, 4) for k, v in diagnose(run, args.batch, args.seed).items()}})
        )


if __name__ == "__main__":
    main()
