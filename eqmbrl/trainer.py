"""The world-model trainer, in phases: collect data -> build evaluation data -> fit -> refit.

:meth:`WorldModelTrainer.collect` fills (or loads) the training replay buffer with a random agent,
:meth:`~WorldModelTrainer.eval_data` builds the evaluation episodes and their symmetric twins once
per run, :meth:`~WorldModelTrainer.fit` trains for ``epochs`` with per-epoch evaluation and keeps
the best checkpoint, and :meth:`~WorldModelTrainer.refit` takes further gradient steps (the online
agents' refits). Agent loops use these phases and nothing else of the trainer.
"""

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
from eqmbrl.checkpoint import load_checkpoint
from eqmbrl.collect import collect, episode_tensors, twin_episodes
from eqmbrl.logger import Logger
from eqmbrl.seeds import EVAL_DATA_AGENT, EVAL_DATA_ENV
from eqmbrl.symmetry import env_contract
from eqmbrl.types import EvalData, SequenceBatch
from worldmodels.metrics import evaluate
from worldmodels.persistence import load_weights, save_world_model
from worldmodels.world_model import WorldModel


class WorldModelTrainer:
    """Fits a world model on random-agent data and evaluates it as SEN does.

    Args:
        env, model, logger, out_dir, seed: given by run.py.
        episodes, episode_length: training data (random agent).
        eval_episodes, eval_length: evaluation episodes (metrics after 1, 5 and 10 steps).
        epochs, batch_size, lr: Adam on the contrastive hinge loss; the checkpoint kept is the one
            with the lowest training loss (as SEN), and final metrics are computed with it.
        train_directions: restrict training pushes to these directions (0 up, 1 left, 2 down,
            3 right) for the limited-actions experiment; evaluation always uses all actions.
        eval_every: evaluate every this many epochs (and after the last).
        twin_element: group element g whose twins measure EE and DIE (1 = a quarter turn).
        buffer_path: reuse a saved training buffer instead of collecting (it is never overwritten).
        warmup_steps: random steps taken before recording each episode (SEN's Reacher: 50).
    """

    def __init__(
        self,
        env: gym.Env,
        model: WorldModel,
        logger: Logger,
        out_dir: str | os.PathLike,
        episodes: int = 100,
        episode_length: int = 50,
        eval_episodes: int = 100,
        eval_length: int = 10,
        epochs: int = 10,
        batch_size: int = 256,
        lr: float = 5e-4,
        train_directions: list[int] | None = None,
        eval_every: int = 1,
        twin_element: int = 1,
        buffer_path: str | None = None,
        warmup_steps: int = 0,
        seed: int = 0,
    ) -> None:
        check_trainer_values(
            episodes=episodes,
            episode_length=episode_length,
            eval_episodes=eval_episodes,
            eval_length=eval_length,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            eval_every=eval_every,
            warmup_steps=warmup_steps,
        )
        group = env_contract(env).symmetry.group
        if twin_element not in group.elements:
            raise ValueError(
                f"trainer.twin_element {twin_element} is not an element of {group.name} (0..{group.order - 1})"
            )
        self.env, self.model, self.logger, self.out = env, model, logger, Path(out_dir)
        self.episodes, self.episode_length = episodes, episode_length
        self.eval_episodes, self.eval_length = eval_episodes, eval_length
        self.epochs, self.batch_size, self.eval_every = epochs, batch_size, eval_every
        self.train_directions, self.twin_element = train_directions, twin_element
        self.buffer_path, self.warmup, self.seed = buffer_path, warmup_steps, seed
        self.rng = np.random.default_rng(seed)
        self.opt = torch.optim.Adam(model.parameters(), lr=lr)

    # ------------------------------------------------------------------ data
    def collect(self) -> ReplayBuffer:
        """Load ``buffer_path`` if given, else collect with a random agent and save to ``buffer.npz``."""
        if self.buffer_path:
            return ReplayBuffer.load(self.buffer_path)
        agent = RandomAgent(self.env.action_space, self.seed, self.train_directions)
        buf = collect(
            self.env,
            agent,
            self.episodes,
            self.episode_length,
            seed=self.seed,
            warmup=self.warmup,
            desc="collect train",
        )
        buf.save(self.out / "buffer.npz")
        return buf

    def eval_data(self) -> EvalData:
        """Evaluation episodes (all actions, their own seeds) and their twins under ``twin_element``."""
        agent = RandomAgent(self.env.action_space, self.seed + EVAL_DATA_AGENT)
        buf = collect(
            self.env,
            agent,
            self.eval_episodes,
            self.eval_length,
            seed=self.seed + EVAL_DATA_ENV,
            warmup=self.warmup,
            desc="collect eval",
        )
        data = episode_tensors(buf, self.eval_length)
        twin_obs, twin_actions = twin_episodes(self.env, data["actions"], data["states"], self.twin_element)
        t = {
            k: torch.from_numpy(np.ascontiguousarray(v))
            for k, v in dict(
                obs=data["obs"],
                actions=data["actions"],
                rewards=data["rewards"],
                twin_obs=twin_obs,
                twin_actions=twin_actions,
            ).items()
        }
        return EvalData(**t, g=self.twin_element)

    # ------------------------------------------------------------------ training
    def fit(self, buffer: ReplayBuffer, eval_data: EvalData) -> dict[str, float]:
        """Train for ``epochs`` on ``buffer``, evaluating on ``eval_data``; keeps the lowest-loss
        weights in ``checkpoint.pt`` (with the kwargs that rebuild the model), loads them back and
        returns their metrics (and ``train_loss``)."""
        self.logger.images("data/observations", eval_data.obs[:8, 0].numpy())
        self.logger.images("data/twins", eval_data.twin_obs[:8, 0].numpy())
        best, t0, path = float("inf"), time.time(), self.out / "checkpoint.pt"
        for epoch in tqdm(range(self.epochs), desc="train", unit="epoch"):
            loss = self.fit_epoch(buffer, epoch)
            if loss < best:
                best = loss
                save_world_model(path, self.model, epoch=epoch, loss=loss)
            if (epoch + 1) % self.eval_every == 0 or epoch + 1 == self.epochs:
                self.logger.record_dict("eval", evaluate(self.model, **eval_data.tensors(), seed=self.seed))
            rate = (epoch + 1) * len(buffer.valid_starts(1)) / (time.time() - t0)
            self.logger.record("train/transitions_per_s", rate)
            self.logger.dump(epoch + 1)
        load_weights(self.model, load_checkpoint(path, self.model.device)["model"], f"checkpoint {path}")
        return {**evaluate(self.model, **eval_data.tensors(), seed=self.seed), "train_loss": best}

    def fit_epoch(self, buffer: ReplayBuffer, epoch: int) -> float:
        """One pass over all transitions in random order; returns the mean loss."""
        self.model.train()
        starts = self.rng.permutation(buffer.valid_starts(1))
        n_batches = max(1, len(starts) // self.batch_size)
        losses = []
        for b in tqdm(range(n_batches), desc=f"epoch {epoch + 1}/{self.epochs}", unit="batch", leave=False):
            batch = buffer.gather(starts[b * self.batch_size : (b + 1) * self.batch_size], 1, self.model.device)
            losses.append(self.update(batch))
        return float(np.mean(losses))

    def refit(self, buffer: ReplayBuffer, steps: int) -> float:
        """``steps`` gradient steps on random batches of ``buffer`` (online refits); mean loss."""
        self.model.train()
        return float(
            np.mean([self.update(buffer.sample(self.batch_size, 1, self.model.device, self.rng)) for _ in range(steps)])
        )

    def update(self, batch: SequenceBatch) -> float:
        """One gradient step of the world-model loss on ``batch``; logs ``wm/*``; returns the loss."""
        out = self.model.loss(batch)
        self.opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        self.opt.step()
        for k, v in out.items():
            self.logger.record(f"wm/{k}", v.item())
        return out["loss"].item()


def check_trainer_values(
    episodes: int = 100,
    episode_length: int = 50,
    eval_episodes: int = 100,
    eval_length: int = 10,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 5e-4,
    eval_every: int = 1,
    warmup_steps: int = 0,
) -> None:
    """Value checks of the trainer's arguments, run before any env or model is built (run.py calls
    them on the config): counts >= 1, ``warmup_steps`` >= 0 and a positive learning rate."""
    values = dict(
        episodes=episodes,
        episode_length=episode_length,
        eval_episodes=eval_episodes,
        eval_length=eval_length,
        epochs=epochs,
        batch_size=batch_size,
        eval_every=eval_every,
        warmup_steps=warmup_steps,
    )
    for name, value in values.items():
        low = 0 if name == "warmup_steps" else 1
        if value < low:
            raise ValueError(f"trainer.{name} must be >= {low}, got {value}")
    if not lr > 0:
        raise ValueError(f"trainer.lr must be > 0, got {lr}")
