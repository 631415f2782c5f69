"""The world-model trainer, in phases: collect data -> build evaluation data -> fit -> refit.

:meth:`WorldModelTrainer.collect` fills (or loads) the training replay buffer with a random agent,
:meth:`~WorldModelTrainer.eval_data` builds the evaluation episodes and their symmetric twins once
per run, :meth:`~WorldModelTrainer.fit` trains for ``epochs`` (or until a validation metric stops
improving) with per-epoch evaluation and keeps the best checkpoint, and
:meth:`~WorldModelTrainer.refit` takes further gradient steps (the online agents' refits).
Agent loops use these phases and nothing else of the trainer.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch
from tqdm import tqdm

from agents.random_agent import RandomAgent
from eqmbrl.collect import collect, episode_tensors, successor_sets, twin_episodes
from eqmbrl.core.buffer import ReplayBuffer
from eqmbrl.core.checkpoint import load_checkpoint, save_checkpoint
from eqmbrl.core.choices import check_choice
from eqmbrl.core.logger import Logger
from eqmbrl.core.seeds import EVAL_DATA_AGENT, EVAL_DATA_ENV, VAL_DATA_AGENT, VAL_DATA_ENV
from eqmbrl.core.symmetry import env_contract
from eqmbrl.core.types import EvalData, SequenceBatch, to_float_images
from worldmodels.metrics import evaluate, successor_accuracy
from worldmodels.persistence import evaluating, load_weights, save_world_model
from worldmodels.world_model import WorldModel

MAX_BAD_STEPS = 5  # non-finite gradient steps in a row that stop the training
LR_SCHEDULES = ("constant", "cosine")


class DivergedError(RuntimeError):
    """The world-model loss or gradients stayed non-finite for ``MAX_BAD_STEPS`` steps in a row."""


class WorldModelTrainer:
    """Fits a world model on random-agent data and evaluates it as SEN does.

    Args:
        env, model, logger, out_dir, seed: given by run.py.
        episodes, episode_length: training data (random agent).
        eval_episodes, eval_length: evaluation episodes (metrics after 1, 5 and 10 steps).
        epochs, batch_size, lr: Adam on the contrastive hinge loss for at most ``epochs``; with
            ``patience=0`` the checkpoint kept is the one with the lowest training loss (as SEN),
            and final metrics are computed with it.
        lr_schedule: ``constant`` (SEN's) or ``cosine``: epoch e trains at
            ``lr * (1 + cos(pi * e / epochs)) / 2``, so the last epochs settle instead of jumping
            between solutions at the full rate. Online refits always use ``lr``.
        patience, val_episodes: early stopping. With ``patience > 0``, ``val_episodes`` held-out
            episodes (the training agent's, so limited-action runs stay limited) are scored after
            every epoch: successor accuracy where the env has discrete known dynamics (it must rise),
            else the validation loss (it must fall by 0.1%). The last epoch with the best score is
            kept: at a plateau of the accuracy, the longest-trained weights.
            Training stops after ``patience``
            epochs without improvement (but not before ``min_epochs``: some models plateau for a
            while before they learn), and the best validation checkpoint is kept.
        train_directions: restrict training pushes to these directions (0 up, 1 left, 2 down,
            3 right) for the limited-actions experiment; evaluation always uses all actions.
        train_action_low, train_action_high: the same for continuous actions: the random agent's
            torques are drawn from this sub-box of the action space (one entry per action
            dimension; None keeps the space's bound), e.g. ``train_action_low=[-1, 0]`` for SEN's
            limited Reacher data (second joint's torque positive only).
        train_action_scale: ``full`` (default: uniform torques) or ``episode``: every training
            episode's torques are scaled by one factor s ~ U(0, 1) (:class:`agents.random_agent.RandomAgent`),
            so the data also hold slow and settled arms, not only the fast spin of uniform torques.
        train_reset_options: ``env.reset`` options of the training and validation episodes (not
            the evaluation's), e.g. ``{random_arm: true}`` on Reacher: every arm pose, so that
            limited torques limit the actions and not the poses the data visits.
        eval_every: evaluate every this many epochs (and after the last).
        twin_element: group element g whose twins measure EE and DIE (1 = a quarter turn).
        buffer_path: reuse a saved training buffer instead of collecting (it is never overwritten).
        warmup_steps: random steps taken before recording each episode (SEN's Reacher: 50).
        rollout_steps: k of the k-step loss (:meth:`WorldModel.loss`): predictions roll out k steps
            from each sampled start (1 = SEN's one-step loss; more trains the model for planning
            horizons, at about (k + 1) / 2 times the cost of a step).
        episode_negatives: add the same-episode negative of :meth:`WorldModel.loss` (each
            sequence's start against a random other frame of its episode) to training batches.
        reward_refit_steps: after the last epoch, this many Adam steps (at ``lr``) on the reward
            head alone, on the frozen model's latents of the training transitions (see
            :meth:`fit_reward_head`); 0 (the default, SEN's) skips it. Needs a reward head.
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
        lr_schedule: str = "constant",
        patience: int = 0,
        min_epochs: int = 0,
        val_episodes: int = 20,
        train_directions: list[int] | None = None,
        train_action_low: list[float] | None = None,
        train_action_high: list[float] | None = None,
        train_action_scale: str = "full",
        train_reset_options: dict[str, Any] | None = None,
        eval_every: int = 1,
        twin_element: int = 1,
        buffer_path: str | None = None,
        warmup_steps: int = 0,
        rollout_steps: int = 1,
        episode_negatives: bool = False,
        reward_refit_steps: int = 0,
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
            lr_schedule=lr_schedule,
            eval_every=eval_every,
            warmup_steps=warmup_steps,
            rollout_steps=rollout_steps,
            patience=patience,
            min_epochs=min_epochs,
            val_episodes=val_episodes,
            reward_refit_steps=reward_refit_steps,
        )
        check_reward_refit(reward_refit_steps, model.reward_weight)
        group = env_contract(env).symmetry.group
        if twin_element not in group.elements:
            raise ValueError(
                f"trainer.twin_element {twin_element} is not an element of {group.name} (0..{group.order - 1})"
            )
        self.env, self.model, self.logger, self.out = env, model, logger, Path(out_dir)
        self.episodes, self.episode_length = episodes, episode_length
        self.eval_episodes, self.eval_length = eval_episodes, eval_length
        self.epochs, self.batch_size, self.eval_every = epochs, batch_size, eval_every
        self.patience, self.min_epochs, self.val_episodes = patience, min_epochs, val_episodes
        self.train_directions, self.twin_element = train_directions, twin_element
        self.train_box, self.train_scale = (train_action_low, train_action_high), train_action_scale
        for name, scale in (("train_action_low/train_action_high", "full"), ("train_action_scale", train_action_scale)):
            try:  # the box alone first, so that each error names the option that caused it
                RandomAgent(env.action_space, low=train_action_low, high=train_action_high, scale=scale)
            except ValueError as e:
                raise ValueError(f"trainer.{name}: {e}") from None
        self.train_options = dict(train_reset_options or {})
        if self.train_options:
            try:
                env.reset(seed=seed, options=self.train_options)
            except ValueError as e:
                raise ValueError(f"trainer.train_reset_options: {e}") from None
        self.buffer_path, self.warmup, self.seed = buffer_path, warmup_steps, seed
        self.rollout_steps, self.episode_negatives = rollout_steps, episode_negatives
        self.reward_refit_steps = reward_refit_steps
        # the state head's targets: the env's planar vectors of the stored states (Reacher)
        self.state_fn = getattr(env.unwrapped, "state_points", None) if model.state_head is not None else None
        if model.state_head is not None and self.state_fn is None:
            raise ValueError(
                f"the world model has a state head (state_weight > 0), but {type(env.unwrapped).__name__} "
                "has no state_points(states) to train it on; use state_weight=0"
            )
        self.rng = np.random.default_rng(seed)
        self.lr, self.lr_schedule = lr, lr_schedule
        self.opt = torch.optim.Adam(model.parameters(), lr=lr)
        self.steps = self.bad_steps = 0  # gradient steps taken; non-finite ones in a row

    # ------------------------------------------------------------------ data
    def collect(self) -> ReplayBuffer:
        """Load ``buffer_path`` if given (or the run dir's own ``buffer.npz`` when resuming), else
        collect with a random agent and save to ``buffer.npz``."""
        own = self.out / "buffer.npz"
        if self.buffer_path or own.is_file():
            space = cast(gym.spaces.Box, self.env.observation_space)
            return ReplayBuffer.load(self.buffer_path or own, space, self.env.action_space)
        agent = self.train_agent(self.seed)
        buf = collect(
            self.env,
            agent,
            self.episodes,
            self.episode_length,
            seed=self.seed,
            warmup=self.warmup,
            desc="collect train",
            options=self.train_options,
        )
        buf.save(self.out / "buffer.npz")
        return buf

    def train_agent(self, seed: int) -> RandomAgent:
        """The random agent of the training (and validation) data: all actions, or those allowed
        by ``train_directions`` / ``train_action_low`` / ``train_action_high``, scaled by
        ``train_action_scale``."""
        return RandomAgent(self.env.action_space, seed, self.train_directions, *self.train_box, self.train_scale)

    def eval_data(self) -> EvalData:
        """Evaluation episodes (all actions, their own seeds) and their twins under ``twin_element``."""
        data = self._episodes(False, self.eval_episodes, self.eval_length, EVAL_DATA_AGENT, EVAL_DATA_ENV, "eval")
        twin_obs, twin_actions = twin_episodes(self.env, data["actions"], data["states"], self.twin_element)
        t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in data.items() if k != "states"}
        twins = {"twin_obs": torch.from_numpy(twin_obs), "twin_actions": torch.from_numpy(twin_actions)}
        return EvalData(**t, **twins, g=self.twin_element)

    def val_data(self) -> dict[str, torch.Tensor]:
        """Validation episodes of the training agent (``val_episodes`` x ``episode_length``, their
        own seeds): ``obs``, ``actions``, ``rewards`` and, where defined, ``successors``."""
        data = self._episodes(True, self.val_episodes, self.episode_length, VAL_DATA_AGENT, VAL_DATA_ENV, "val")
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in data.items() if k != "states"}

    def _episodes(
        self, limited: bool, episodes: int, length: int, agent_seed: int, env_seed: int, name: str
    ) -> dict[str, np.ndarray]:
        """Random-agent episodes (the training agent's if ``limited``, else all actions) as
        :func:`episode_tensors`, plus ``successors`` where defined."""
        agent = (
            self.train_agent(self.seed + agent_seed)
            if limited
            else RandomAgent(self.env.action_space, self.seed + agent_seed)
        )
        options = self.train_options if limited else None
        buf = collect(
            self.env,
            agent,
            episodes,
            length,
            seed=self.seed + env_seed,
            warmup=self.warmup,
            desc=f"collect {name}",
            options=options,
        )
        data = episode_tensors(buf, length)
        successors = successor_sets(self.env, data["states"][:, :-1], data["actions"])
        return data if successors is None else {**data, "successors": successors}

    # ------------------------------------------------------------------ training
    def fit(self, buffer: ReplayBuffer, eval_data: EvalData) -> dict[str, float]:
        """Train for ``epochs`` on ``buffer``, evaluating on ``eval_data``; keeps the best weights
        (lowest training loss, or best validation score with early stopping) in ``checkpoint.pt``
        (with the kwargs that rebuild the model), loads them back and returns their metrics (and
        ``train_loss``, ``epochs``).

        After every epoch the whole training state (weights, optimizer, RNGs, progress) goes to
        ``resume.pt``; if the run dir already holds one (a resumed run, see :mod:`eqmbrl.resume`),
        training continues from it and ends exactly as the uninterrupted run would."""
        self.logger.images("data/observations", eval_data.obs[:8, 0].numpy())
        self.logger.images("data/twins", eval_data.twin_obs[:8, 0].numpy())
        val = self.val_data() if self.patience else None
        path, progress = self.out / "checkpoint.pt", self.load_progress()
        best, since_best, train_loss, done = (
            progress["best"],
            progress["since_best"],
            progress["train_loss"],
            progress["epochs"],
        )
        start, t0 = self.epochs if progress["stopped"] else done, time.time()
        bar = tqdm(range(start, self.epochs), desc="train", unit="epoch", initial=start, total=self.epochs)
        for epoch in bar:
            loss = self.fit_epoch(buffer, epoch)
            score, rel = loss, 0.0  # lower is better; rel: the relative margin that counts as better
            if val is not None:
                scores = self.validate(val)
                self.logger.record_dict("val", scores)
                score, rel = (-scores["successor_acc"], 0.0) if "successor_acc" in scores else (scores["loss"], 1e-3)
                bar.set_postfix({k: f"{v:.3g}" for k, v in scores.items()})
            since_best += 1
            if score < best - (rel * abs(best) if math.isfinite(best) else 0.0):
                since_best = 0
            if score <= best:  # ties keep the later, longer-trained weights
                best, train_loss = score, loss
                save_world_model(path, self.model, epoch=epoch, loss=loss)
            if (epoch + 1) % self.eval_every == 0 or epoch + 1 == self.epochs:
                self.logger.record_dict("eval", evaluate(self.model, **eval_data.tensors(), seed=self.seed))
            rate = (epoch + 1 - start) * len(buffer.valid_starts(1)) / (time.time() - t0)
            self.logger.record("train/transitions_per_s", rate)
            self.logger.dump(epoch + 1)
            done = epoch + 1
            stopped = bool(self.patience and since_best >= self.patience and done >= self.min_epochs)
            self.save_progress(
                dict(best=best, since_best=since_best, train_loss=train_loss, epochs=done, stopped=stopped)
            )
            if stopped:
                break
        load_weights(self.model, load_checkpoint(path, self.model.device)["model"], f"checkpoint {path}")
        if self.reward_refit_steps and not progress.get("reward_refit", False):
            self.fit_reward_head(buffer, step=done)  # the pretraining's x-axis: epochs
            save_world_model(
                path, self.model, epoch=done - 1, loss=train_loss, reward_refit_steps=self.reward_refit_steps
            )
            self.save_progress(
                dict(
                    best=best,
                    since_best=since_best,
                    train_loss=train_loss,
                    epochs=done,
                    stopped=True,
                    reward_refit=True,
                )
            )
        metrics = evaluate(self.model, **eval_data.tensors(), seed=self.seed)
        return {**metrics, "train_loss": train_loss, "epochs": float(done)}

    def fit_reward_head(self, buffer: ReplayBuffer, rollout_steps: int = 1, *, step: int | None = None) -> float:
        """Refit the reward head alone on the frozen model: ``reward_refit_steps`` Adam steps (at
        ``lr``, batches of ``batch_size``) of the reward loss of :meth:`WorldModel.loss` on every
        ``rollout_steps``-step sequence of ``buffer``, encoded and rolled out once in eval mode
        (1, the default: each transition from its encoded state, as the planner's first step and
        the R² of RESULTS.md read it).

        Trained jointly, the head chases latents that move under it (batch statistics, a
        contrastive loss that reshapes the space every step); on the final, fixed latents a short
        refit fits it better (RESULTS.md §13). Logs ``reward_refit/mse_before`` and ``_after``
        (over all the sequences) at TensorBoard step ``step`` (None: the trainer's gradient steps);
        returns the last batch's MSE."""
        k, model = rollout_steps, self.model
        starts = buffer.valid_starts(k)
        parts: dict[str, list[torch.Tensor]] = {"z": [], "a": [], "z_next": [], "r": []}
        with evaluating(model), torch.inference_mode():
            for i in range(0, len(starts), self.batch_size):
                batch = buffer.gather(starts[i : i + self.batch_size], k, model.device)
                zs = model.rollout(model.encode(batch.obs[:, 0]), batch.actions)  # B x k+1 x K x C
                for key, x in zip(parts, (zs[:, :-1], batch.actions, zs[:, 1:], batch.rewards[:, :k]), strict=True):
                    parts[key].append(x.flatten(0, 1))
        z, a, z_next, r = (torch.cat(parts[key]).clone() for key in parts)  # clone: out of inference mode
        head = model.reward_head
        opt = torch.optim.Adam(head.parameters(), lr=self.lr)
        gen = torch.Generator().manual_seed(self.seed)

        def mse(idx: torch.Tensor) -> torch.Tensor:
            return (model.reward(z[idx], a[idx], z_next[idx]) - r[idx]).pow(2).mean()

        with torch.no_grad():
            self.logger.record("reward_refit/mse_before", mse(torch.arange(len(r), device=z.device)).item())
        loss = torch.zeros(())
        for _ in tqdm(range(self.reward_refit_steps), desc="reward head refit", unit="step", leave=False):
            loss = mse(torch.randint(len(r), (self.batch_size,), generator=gen).to(z.device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            self.logger.record("reward_refit/mse_after", mse(torch.arange(len(r), device=z.device)).item())
        self.logger.dump(self.steps if step is None else step)
        return loss.item()

    def save_progress(self, progress: dict[str, Any]) -> None:
        """Write ``resume.pt``: weights, optimizer, the trainer's and torch's RNG states, step count
        and ``progress`` (best score, epochs without improvement, epochs done, whether stopped)."""
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        save_checkpoint(
            self.out / "resume.pt",
            self.model,
            optimizer=self.opt.state_dict(),
            rng=self.rng.bit_generator.state,
            torch_rng=torch.get_rng_state(),
            cuda_rng=cuda,
            steps=self.steps,
            progress=progress,
        )

    def load_progress(self) -> dict[str, Any]:
        """Restore the state of ``resume.pt`` if the run dir has one; returns its progress (or a fresh one)."""
        path = self.out / "resume.pt"
        if not path.is_file():
            return dict(best=float("inf"), since_best=0, train_loss=float("inf"), epochs=0, stopped=False)
        state = load_checkpoint(path)  # on the CPU: RNG states must stay there; weights are copied over
        load_weights(self.model, state["model"], f"resume state {path}")
        self.opt.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.steps = state["steps"]
        print(f"resuming {self.out} after epoch {state['progress']['epochs']}")
        return state["progress"]

    def validate(self, val: dict[str, torch.Tensor]) -> dict[str, float]:
        """Validation ``loss`` (mean over batches of ``batch_size`` transitions) and, with
        ``successors``, ``successor_acc`` of the current model on :meth:`val_data`."""
        obs, actions, rewards = val["obs"], val["actions"], val["rewards"]
        pairs = torch.stack([obs[:, :-1], obs[:, 1:]], 2).flatten(0, 1)  # M x 2 x Ci x Hi x Wi
        flat_actions, flat_rewards = actions.flatten(0, 1)[:, None], rewards.flatten(0, 1)[:, None].float()
        losses = []
        with evaluating(self.model), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)  # the same negatives every epoch; training's RNG is untouched
            for i in range(0, len(pairs), self.batch_size):
                part = slice(i, i + self.batch_size)
                batch = SequenceBatch(to_float_images(pairs[part]), flat_actions[part], flat_rewards[part])
                losses.append(self.model.loss(batch.to(self.model.device))["loss"].item())
            out = {"loss": float(np.mean(losses))}
            if "successors" in val:
                out["successor_acc"] = successor_accuracy(self.model, obs, val["successors"])
        return out

    def fit_epoch(self, buffer: ReplayBuffer, epoch: int) -> float:
        """One pass over all transitions in random order; returns the mean loss."""
        self.model.train()
        self.set_lr(self.epoch_lr(epoch))
        k = self.rollout_steps
        starts = self.rng.permutation(buffer.valid_starts(k))
        n_batches = max(1, len(starts) // self.batch_size)
        losses = []
        for b in tqdm(range(n_batches), desc=f"epoch {epoch + 1}/{self.epochs}", unit="batch", leave=False):
            part = starts[b * self.batch_size : (b + 1) * self.batch_size]
            negatives_rng = self.rng if self.episode_negatives else None
            batch = buffer.gather(part, k, self.model.device, negatives_rng, self.state_fn)
            losses.append(self.update(batch))
        return mean_finite(losses)

    def refit(self, buffer: ReplayBuffer, steps: int, recent_from: int = 0, recent_fraction: float = 0.0) -> float:
        """``steps`` gradient steps on random batches of ``buffer`` (online refits, at ``lr``), with
        ``recent_fraction`` of each batch from rows ``>= recent_from`` (:meth:`ReplayBuffer.sample`);
        returns the mean loss."""
        self.model.train()
        self.set_lr(self.lr)
        return mean_finite(
            [
                self.update(
                    buffer.sample(
                        self.batch_size,
                        self.rollout_steps,
                        self.model.device,
                        self.rng,
                        self.episode_negatives,
                        self.state_fn,
                        recent_from,
                        recent_fraction,
                    )
                )
                for _ in range(steps)
            ]
        )

    def epoch_lr(self, epoch: int) -> float:
        """The learning rate of (0-based) ``epoch`` under ``lr_schedule``."""
        if self.lr_schedule == "cosine":
            return self.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / self.epochs))
        return self.lr

    def set_lr(self, lr: float) -> None:
        """Set the optimizer's learning rate (logged as ``train/lr``)."""
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.logger.record("train/lr", lr)

    def update(self, batch: SequenceBatch) -> float:
        """One gradient step of the world-model loss on ``batch``; logs ``wm/*``; returns the loss.

        A step whose loss or gradient norm is not finite is skipped (NaN is returned); after
        ``MAX_BAD_STEPS`` such steps in a row :class:`DivergedError` stops the training."""
        out = self.model.loss(batch)
        self.opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), float("inf"))  # the norm only
        self.steps += 1
        if not bool(torch.isfinite(out["loss"]) & torch.isfinite(grad_norm)):
            self.bad_steps += 1
            self.logger.record("wm/skipped_steps", 1.0)
            if self.bad_steps >= MAX_BAD_STEPS:
                raise DivergedError(
                    f"world-model training diverged: the loss or its gradients were not finite at gradient "
                    f"steps {self.steps - MAX_BAD_STEPS + 1}..{self.steps} (all skipped); likely cause: "
                    f"trainer.lr={self.opt.param_groups[0]['lr']:g} is too high for this model"
                )
            return float("nan")
        self.bad_steps = 0
        self.opt.step()
        for k, v in out.items():
            self.logger.record(f"wm/{k}", v.item())
        self.logger.record("wm/grad_norm", grad_norm.item())
        return out["loss"].item()


def mean_finite(values: list[float]) -> float:
    """Mean of the finite ``values`` (skipped steps return NaN), NaN if there are none."""
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def check_reward_refit(reward_refit_steps: int, reward_weight: float) -> None:
    """A reward-head refit needs a trained reward head (``reward_weight > 0``)."""
    if reward_refit_steps and not reward_weight > 0:
        raise ValueError(
            f"trainer.reward_refit_steps={reward_refit_steps} needs a reward head: set env.model.reward_weight > 0"
        )


def check_trainer_values(
    episodes: int = 100,
    episode_length: int = 50,
    eval_episodes: int = 100,
    eval_length: int = 10,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 5e-4,
    lr_schedule: str = "constant",
    eval_every: int = 1,
    warmup_steps: int = 0,
    patience: int = 0,
    min_epochs: int = 0,
    val_episodes: int = 20,
    rollout_steps: int = 1,
    reward_refit_steps: int = 0,
) -> None:
    """Value checks of the trainer's arguments, run before any env or model is built (run.py calls
    them on the config): counts >= 1, ``warmup_steps`` and ``patience`` >= 0, a positive learning rate
    and a known ``lr_schedule``."""
    values = dict(
        episodes=episodes,
        episode_length=episode_length,
        eval_episodes=eval_episodes,
        eval_length=eval_length,
        epochs=epochs,
        batch_size=batch_size,
        eval_every=eval_every,
        warmup_steps=warmup_steps,
        patience=patience,
        min_epochs=min_epochs,
        val_episodes=val_episodes,
        rollout_steps=rollout_steps,
        reward_refit_steps=reward_refit_steps,
    )
    for name, value in values.items():
        low = 0 if name in ("warmup_steps", "patience", "min_epochs", "reward_refit_steps") else 1
        if value < low:
            raise ValueError(f"trainer.{name} must be >= {low}, got {value}")
    if not lr > 0:
        raise ValueError(f"trainer.lr must be > 0, got {lr}")
    check_choice("trainer.lr_schedule", lr_schedule, LR_SCHEDULES)
    if rollout_steps > episode_length:
        raise ValueError(
            f"trainer.rollout_steps must be <= trainer.episode_length ({episode_length}), got {rollout_steps}"
        )
