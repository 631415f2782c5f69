"""The world-model training loop: collect -> replay buffer -> fit -> evaluate -> log -> checkpoint."""
from __future__ import annotations

import os
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from tqdm import tqdm

from agents.random_agent import RandomAgent
from eqmbrl.buffer import ReplayBuffer
from eqmbrl.checkpoint import load_checkpoint, save_checkpoint, write_json
from eqmbrl.collect import collect, episode_tensors, twin_episodes
from eqmbrl.logger import Logger
from eqmbrl.types import SequenceBatch
from worldmodels.metrics import evaluate
from worldmodels.world_model import WorldModel


class WorldModelTrainer:
    """Fits a world model on random-agent data and evaluates it as SEN does.

    Args:
        episodes, episode_length: training data (random agent).
        eval_episodes, eval_length: evaluation episodes (metrics after 1, 5 and 10 steps).
        epochs, batch_size, lr: Adam on the contrastive hinge loss; the checkpoint kept is the one
            with the lowest training loss (as SEN), and final metrics are computed with it.
        train_directions: restrict training pushes to these directions (0 up, 1 left, 2 down,
            3 right) for the limited-actions experiment; evaluation always uses all actions.
        twin_element: group element g whose twins measure EE and DIE (1 = a quarter turn).
        buffer_path: reuse a saved training buffer instead of collecting (it is never overwritten).
        warmup_steps: random steps taken before recording each episode (SEN's Reacher: 50).
    """

    def __init__(self, env: gym.Env, model: WorldModel, logger: Logger, out_dir: str | os.PathLike,
                 episodes: int = 100, episode_length: int = 50, eval_episodes: int = 100, eval_length: int = 10,
                 epochs: int = 10, batch_size: int = 256, lr: float = 5e-4,
                 train_directions: list[int] | None = None, eval_every: int = 1, twin_element: int = 1,
                 buffer_path: str | None = None, warmup_steps: int = 0, seed: int = 0) -> None:
        self.env, self.model, self.logger, self.out = env, model, logger, Path(out_dir)
        self.episodes, self.episode_length, self.eval_episodes = episodes, episode_length, eval_episodes
        self.eval_length, self.epochs, self.batch_size, self.lr = eval_length, epochs, batch_size, lr
        self.train_directions, self.eval_every, self.g = train_directions, eval_every, twin_element
        self.buffer_path, self.warmup, self.seed = buffer_path, warmup_steps, seed
        self.rng = np.random.default_rng(seed)
        if twin_element not in env.unwrapped.symmetry.group.elements:
            raise ValueError(f"twin_element {twin_element} is not an element of "
                             f"{env.unwrapped.symmetry.group.name} (0..{env.unwrapped.symmetry.group.order - 1})")

    def train_buffer(self) -> ReplayBuffer:
        """Load ``buffer_path`` if given, else collect with a random agent and save to ``buffer.npz``."""
        if self.buffer_path:
            return ReplayBuffer.load(self.buffer_path)
        agent = RandomAgent(self.env.action_space, self.seed, self.train_directions)
        buf = collect(self.env, agent, self.episodes, self.episode_length, seed=self.seed, warmup=self.warmup,
                      desc="collect train")
        buf.save(self.out / "buffer.npz")
        return buf

    def eval_data(self) -> dict[str, torch.Tensor]:
        """Evaluation episodes (all actions, other seeds) and their twins under ``twin_element``."""
        agent = RandomAgent(self.env.action_space, self.seed + 1)
        buf = collect(self.env, agent, self.eval_episodes, self.eval_length, seed=self.seed + 10_000_000,
                      warmup=self.warmup, desc="collect eval")
        data = episode_tensors(buf, self.eval_length)
        data["twin_obs"], data["twin_actions"] = twin_episodes(self.env, data["actions"], data.pop("states"), self.g)
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in data.items()}

    def fit_epoch(self, buffer: ReplayBuffer, opt: torch.optim.Optimizer, epoch: int) -> float:
        """One pass over all transitions in random order; returns the mean loss."""
        starts = self.rng.permutation(buffer.valid_starts(1))
        n_batches = max(1, len(starts) // self.batch_size)
        losses = []
        for b in tqdm(range(n_batches), desc=f"epoch {epoch + 1}/{self.epochs}", unit="batch", leave=False):
            batch = buffer.gather(starts[b * self.batch_size:(b + 1) * self.batch_size], 1, self.model.device)
            losses.append(self.update(batch, opt))
        return float(np.mean(losses))

    def update(self, batch: SequenceBatch, opt: torch.optim.Optimizer) -> float:
        """One gradient step of the world-model loss on ``batch``; logs ``wm/*``; returns the loss."""
        out = self.model.loss(batch)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        for k, v in out.items():
            self.logger.record(f"wm/{k}", v.item())
        return out["loss"].item()

    def refit(self, buffer: ReplayBuffer, opt: torch.optim.Optimizer, steps: int) -> float:
        """``steps`` gradient steps on random batches of ``buffer`` (online refits); mean loss."""
        self.model.train()
        return float(np.mean([self.update(buffer.sample(self.batch_size, 1, self.model.device, self.rng), opt)
                              for _ in range(steps)]))

    def run(self) -> dict[str, float]:
        """Collect, train, evaluate; writes checkpoint.pt and metrics.json; returns final metrics."""
        self.buffer, self.eval_tensors = buffer, data = self.train_buffer(), self.eval_data()
        self.logger.images("data/observations", data["obs"][:8, 0].numpy())
        self.logger.images("data/twins", data["twin_obs"][:8, 0].numpy())
        opt = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        best, t0 = float("inf"), time.time()
        for epoch in tqdm(range(self.epochs), desc="train", unit="epoch"):
            loss = self.fit_epoch(buffer, opt, epoch)
            if loss < best:
                best = loss
                save_checkpoint(self.out / "checkpoint.pt", self.model, epoch=epoch, loss=loss)
            if (epoch + 1) % self.eval_every == 0 or epoch + 1 == self.epochs:
                self.logger.record_dict("eval", evaluate(self.model, **data, seed=self.seed))
            rate = (epoch + 1) * len(buffer.valid_starts(1)) / (time.time() - t0)
            self.logger.record("train/transitions_per_s", rate)
            self.logger.dump(epoch + 1)
        load_checkpoint(self.out / "checkpoint.pt", self.model, map_location=self.model.device)
        metrics = evaluate(self.model, **data, seed=self.seed)
        metrics["train_loss"] = best
        write_json(self.out / "metrics.json", metrics)
        return metrics
