"""The world-model trainer: fit on a replay buffer with per-epoch evaluation, refit, save its state.

:meth:`WorldModelTrainer.fit` trains for ``epochs`` (or until a validation metric stops improving)
with per-epoch evaluation and keeps the best checkpoint; :meth:`~WorldModelTrainer.pretrain` does
so on a run's :class:`eqmbrl.data.RunData`; :meth:`~WorldModelTrainer.refit` takes further
gradient steps (the online agents' refits); :meth:`~WorldModelTrainer.state_dict` is all an agent
loop needs to save and resume it. Agent loops use these and nothing else of the trainer.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from eqmbrl.augment import LargeRotations, SymmetryAugment, chain
from eqmbrl.core.buffer import ReplayBuffer
from eqmbrl.core.checkpoint import commit_save, committed_save, load_checkpoint, load_state, save_state
from eqmbrl.core.logger import Logger
from eqmbrl.core.progress import log, progress_bar
from eqmbrl.core.seeds import global_rng_state, set_global_rng_state
from eqmbrl.core.timing import PHASES
from eqmbrl.core.types import EvalData, SequenceBatch, to_float_images
from eqmbrl.data import RunData
from eqmbrl.settings import TrainerSettings
from worldmodels.metrics import evaluate, successor_accuracy
from worldmodels.persistence import evaluating, load_weights
from worldmodels.world_model import WorldModel

MAX_BAD_STEPS = 5  # non-finite gradient steps in a row that stop the training


class DivergedError(RuntimeError):
    """The world-model loss or gradients stayed non-finite for ``MAX_BAD_STEPS`` steps in a row."""


class WorldModelTrainer:
    """Fits a world model as SEN does (Adam on the contrastive hinge loss), with the ``trainer.*``
    options ``settings`` (:class:`eqmbrl.settings.TrainerSettings`, which documents each).

    With ``patience=0`` the checkpoint kept is the one with the lowest training loss (as SEN), and
    final metrics are computed with it. With ``patience > 0`` the validation episodes are scored
    after every epoch: successor accuracy where the env has discrete known dynamics (it must rise),
    else the validation loss (it must fall by 0.1%); the last epoch with the best score is kept, and
    training stops after ``patience`` epochs without improvement, or once successor accuracy reaches
    ``target_acc`` (not before ``min_epochs``).
    ``env`` provides the state head's targets (``state_points``) when the model has one.
    """

    def __init__(
        self,
        env: gym.Env,
        model: WorldModel,
        logger: Logger,
        out_dir: str | os.PathLike,
        settings: TrainerSettings | None = None,
        seed: int = 0,
    ) -> None:
        self.settings = s = settings or TrainerSettings()
        check_reward_refit(s.reward_refit_steps, model.reward_weight)
        self.model, self.logger, self.out, self.seed = model, logger, Path(out_dir), seed
        # the state head's targets: the env's planar vectors of the stored states (Reacher)
        self.state_fn = getattr(env.unwrapped, "state_points", None) if model.state_head is not None else None
        if model.state_head is not None and self.state_fn is None:
            raise ValueError(
                f"the world model has a state head (state_weight > 0), but {type(env.unwrapped).__name__} "
                "has no state_points(states) to train it on; use state_weight=0"
            )
        self.rng = np.random.default_rng(seed)
        self.augment = chain(
            LargeRotations(env, s.large_rotations, self.rng, s.train_action_low, s.train_action_high)
            if s.large_rotations > 0
            else None,
            SymmetryAugment(env, s.symmetry_augment, self.rng) if s.symmetry_augment > 0 else None,
        )
        self.opt = torch.optim.Adam(model.parameters(), lr=s.lr)
        self.steps = self.bad_steps = 0  # gradient steps taken; non-finite ones in a row
        self.best: dict[str, Any] | None = None  # the checkpoint kept so far (checkpoint.pt's dict)

    def log_to(self, logger: Logger) -> None:
        """Log from now on to ``logger`` (the online loop's refits log ``wm/*`` by env step)."""
        self.logger = logger

    def state_dict(self) -> dict[str, Any]:
        """What resumes this trainer exactly: weights, optimizer, its own RNG, gradient steps."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "rng": self.rng.bit_generator.state,
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any], source: str = "trainer state") -> None:
        """Restore :meth:`state_dict` (``source`` names it in errors)."""
        load_weights(self.model, state["model"], source)
        self.opt.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]
        self.steps = state["steps"]

    def pretrain(self, data: RunData) -> tuple[ReplayBuffer, dict[str, float]]:
        """Fit on ``data``'s training buffer, evaluating on its evaluation (and validation) episodes;
        returns the buffer and :meth:`fit`'s metrics."""
        eval_data = data.eval_data()  # built before the training buffer, as every run always has
        buffer = data.train_buffer()
        return buffer, self.fit(buffer, eval_data, data.val_data())

    # ------------------------------------------------------------------ training
    def fit(
        self, buffer: ReplayBuffer, eval_data: EvalData, val: dict[str, torch.Tensor] | None = None
    ) -> dict[str, float]:
        """Train for ``epochs`` on ``buffer``, evaluating on ``eval_data`` (and validating on ``val``,
        :meth:`eqmbrl.data.RunData.val_data`, for early stopping); keeps the best weights
        (lowest training loss, or best validation score with early stopping) in ``checkpoint.pt``
        (with the kwargs that rebuild the model), loads them back and returns their metrics (and
        ``train_loss``, ``epochs``).

        After every epoch, and after the reward-head refit, the whole training state (weights,
        optimizer, RNGs, progress) and the best checkpoint are committed as one ``train`` save
        (:meth:`save_progress`); if the run dir already holds one (a resumed run, see
        :mod:`eqmbrl.resume`), training continues from it and ends exactly as the uninterrupted run
        would."""
        self.logger.images("data/observations", eval_data.obs[:8, 0].numpy())
        self.logger.images("data/twins", eval_data.twin_obs[:8, 0].numpy())
        if self.settings.patience and val is None:
            raise ValueError("trainer.patience > 0 needs validation episodes: pass RunData.val_data() as val")
        if self.settings.target_acc is not None and "successors" not in (val or {}):
            raise ValueError("trainer.target_acc needs an env with successor accuracy (block pushing)")
        path, progress = self.out / "checkpoint.pt", self.load_progress()
        best, since_best, train_loss, done = (
            progress["best"],
            progress["since_best"],
            progress["train_loss"],
            progress["epochs"],
        )
        start, t0 = self.settings.epochs if progress["stopped"] else done, time.time()
        bar = progress_bar(
            range(start, self.settings.epochs), desc="train", unit="epoch", initial=start, total=self.settings.epochs
        )
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
                self.keep_best(epoch=epoch, loss=loss)
            if (epoch + 1) % self.settings.eval_every == 0 or epoch + 1 == self.settings.epochs:
                self.logger.record_dict("eval", evaluate(self.model, **eval_data.tensors(), seed=self.seed))
            rate = (epoch + 1 - start) * len(buffer.valid_starts(1)) / (time.time() - t0)
            self.logger.record("train/transitions_per_s", rate)
            key = (
                f", validation successor accuracy {-score:.1f}%"
                if val is not None and "successor_acc" in scores
                else ""
            )
            log.info(f"epoch {epoch + 1}/{self.settings.epochs}: loss {loss:.4f}{key}, {time.time() - t0:.0f} s")
            self.logger.dump(epoch + 1)
            done = epoch + 1
            reached = self.settings.target_acc is not None and -best >= self.settings.target_acc
            stopped = bool(
                self.settings.patience
                and (since_best >= self.settings.patience or reached)
                and done >= self.settings.min_epochs
            )
            self.save_progress(
                dict(best=best, since_best=since_best, train_loss=train_loss, epochs=done, stopped=stopped)
            )
            if stopped:
                why = (
                    f"validation successor accuracy {-best:.1f}% reached trainer.target_acc={self.settings.target_acc}"
                    if reached
                    else f"no better for {since_best} epochs (trainer.patience={self.settings.patience})"
                )
                log.info(f"stopped early after epoch {done}: {why}")
                break
        if self.best is None:
            raise FileNotFoundError(f"checkpoint {path} does not exist: no epoch had a finite score")
        load_weights(self.model, self.best["model"], f"checkpoint {path}")
        if self.settings.reward_refit_steps and not progress.get("reward_refit", False):
            self.fit_reward_head(buffer, step=done)  # the pretraining's x-axis: epochs
            self.keep_best(epoch=done - 1, loss=train_loss, reward_refit_steps=self.settings.reward_refit_steps)
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

    @PHASES.timed("reward_refit")
    def fit_reward_head(self, buffer: ReplayBuffer, rollout_steps: int = 1, *, step: int | None = None) -> float:
        """Refit the reward head alone on the frozen model: ``reward_refit_steps`` Adam steps (at
        ``lr``, batches of ``batch_size``) of the reward loss of :meth:`WorldModel.loss` on every
        ``rollout_steps``-step sequence of ``buffer``, encoded and rolled out once in eval mode
        (1, the default: each transition from its encoded state, as the planner's first step and
        the R² of RESULTS.md read it).

        Trained jointly, the head chases latents that move under it (batch statistics, a
        contrastive loss that reshapes the space every step); on the final, fixed latents a short
        refit fits it better (docs/notebook.md §13). Logs ``reward_refit/mse_before`` and ``_after``
        (over all the sequences) at TensorBoard step ``step`` (None: the trainer's gradient steps);
        returns the last batch's MSE."""
        k, model = rollout_steps, self.model
        starts = buffer.valid_starts(k)
        parts: dict[str, list[torch.Tensor]] = {"z": [], "a": [], "z_next": [], "r": []}
        with evaluating(model), torch.inference_mode():
            for i in range(0, len(starts), self.settings.batch_size):
                batch = buffer.gather(starts[i : i + self.settings.batch_size], k, model.device)
                zs = model.rollout(model.encode(batch.obs[:, 0]), batch.actions)  # B x k+1 x K x C
                for key, x in zip(parts, (zs[:, :-1], batch.actions, zs[:, 1:], batch.rewards[:, :k]), strict=True):
                    parts[key].append(x.flatten(0, 1))
        z, a, z_next, r = (torch.cat(parts[key]).clone() for key in parts)  # clone: out of inference mode
        head = model.reward_head
        opt = torch.optim.Adam(head.parameters(), lr=self.settings.lr)
        gen = torch.Generator().manual_seed(self.seed)

        def mse(idx: torch.Tensor) -> torch.Tensor:
            return (model.reward(z[idx], a[idx], z_next[idx]) - r[idx]).pow(2).mean()

        with torch.no_grad():
            self.logger.record("reward_refit/mse_before", mse(torch.arange(len(r), device=z.device)).item())
        loss = torch.zeros(())
        for _ in progress_bar(
            range(self.settings.reward_refit_steps), desc="reward head refit", unit="step", leave=False
        ):
            loss = mse(torch.randint(len(r), (self.settings.batch_size,), generator=gen).to(z.device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            self.logger.record("reward_refit/mse_after", mse(torch.arange(len(r), device=z.device)).item())
        self.logger.dump(self.steps if step is None else step)
        return loss.item()

    def keep_best(self, **extra: Any) -> None:
        """Keep a copy of the current weights as the best checkpoint (with the kwargs that rebuild
        the model and ``extra`` entries, as ``save_world_model`` writes them)."""
        weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.best = {"model": weights, "model_kwargs": dict(self.model.build_kwargs), **extra}

    def save_progress(self, progress: dict[str, Any]) -> None:
        """Commit one ``train`` save (:func:`eqmbrl.core.checkpoint.commit_save`): ``state.pt``
        (:meth:`state_dict`, every process-wide RNG and ``progress``: best score, epochs without
        improvement, epochs done, whether stopped, whether the reward head was refitted) and the best
        ``checkpoint.pt``; then export ``checkpoint.pt`` to the run dir."""
        state = dict(trainer=self.state_dict(), global_rng=global_rng_state(), progress=progress)
        best = self.best
        writers = {"state.pt": lambda p: save_state(p, **state)}
        if best is not None:
            writers["checkpoint.pt"] = lambda p: save_state(p, **best)
        refitted = ", reward head refitted" if progress.get("reward_refit", False) else ""
        save = commit_save(self.out, "train", writers, f"epoch {progress['epochs']}{refitted}")
        if best is not None:
            save.export("checkpoint.pt", self.out / "checkpoint.pt")

    def load_progress(self) -> dict[str, Any]:
        """Restore the committed ``train`` save if the run dir has one (and export its
        ``checkpoint.pt`` again, in case a kill came before that); returns its progress (or a fresh one)."""
        save = committed_save(self.out, "train")
        if save is None:
            self.best = None
            return dict(best=float("inf"), since_best=0, train_loss=float("inf"), epochs=0, stopped=False)
        state = load_state(save.path("state.pt"))  # on the CPU: RNG states must stay there; weights are copied over
        self.load_state_dict(state["trainer"], f"resume state {save.path('state.pt')}")
        set_global_rng_state(state["global_rng"])
        self.best = load_checkpoint(save.path("checkpoint.pt")) if "checkpoint.pt" in save.files else None
        if self.best is not None:
            save.export("checkpoint.pt", self.out / "checkpoint.pt")
        print(f"continuing {self.out} from {save}")
        return state["progress"]

    @PHASES.timed("validation")
    def validate(self, val: dict[str, torch.Tensor]) -> dict[str, float]:
        """Validation ``loss`` (mean over batches of ``batch_size`` transitions) and, with
        ``successors``, ``successor_acc`` of the current model on :meth:`val_data`."""
        obs, actions, rewards = val["obs"], val["actions"], val["rewards"]
        pairs = torch.stack([obs[:, :-1], obs[:, 1:]], 2).flatten(0, 1)  # M x 2 x Ci x Hi x Wi
        flat_actions, flat_rewards = actions.flatten(0, 1)[:, None], rewards.flatten(0, 1)[:, None].float()
        losses = []
        with evaluating(self.model), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)  # the same negatives every epoch; training's RNG is untouched
            for i in range(0, len(pairs), self.settings.batch_size):
                part = slice(i, i + self.settings.batch_size)
                batch = SequenceBatch(to_float_images(pairs[part]), flat_actions[part], flat_rewards[part])
                losses.append(self.model.loss(batch.to(self.model.device))["loss"].item())
            out = {"loss": float(np.mean(losses))}
            if "successors" in val:
                out["successor_acc"] = successor_accuracy(self.model, obs, val["successors"])
        return out

    @PHASES.timed("training_epochs")
    def fit_epoch(self, buffer: ReplayBuffer, epoch: int) -> float:
        """One pass over all transitions in random order; returns the mean loss."""
        self.model.train()
        self.set_lr(self.epoch_lr(epoch))
        k = self.settings.rollout_steps
        starts = self.rng.permutation(buffer.valid_starts(k))
        n_batches = max(1, len(starts) // self.settings.batch_size)
        losses = []
        for b in progress_bar(
            range(n_batches), desc=f"epoch {epoch + 1}/{self.settings.epochs}", unit="batch", leave=False
        ):
            part = starts[b * self.settings.batch_size : (b + 1) * self.settings.batch_size]
            negatives_rng = self.rng if self.settings.episode_negatives else None
            batch = buffer.gather(part, k, self.model.device, negatives_rng, self.state_fn, self.augment)
            losses.append(self.update(batch))
        return mean_finite(losses)

    @PHASES.timed("refits")
    def refit(self, buffer: ReplayBuffer, steps: int, recent_from: int = 0, recent_fraction: float = 0.0) -> float:
        """``steps`` gradient steps on random batches of ``buffer`` (online refits, at ``lr``), with
        ``recent_fraction`` of each batch from rows ``>= recent_from`` (:meth:`ReplayBuffer.sample`);
        returns the mean loss."""
        self.model.train()
        self.set_lr(self.settings.lr)
        return mean_finite(
            [
                self.update(
                    buffer.sample(
                        self.settings.batch_size,
                        self.settings.rollout_steps,
                        self.model.device,
                        self.rng,
                        self.settings.episode_negatives,
                        self.state_fn,
                        recent_from,
                        recent_fraction,
                        self.augment,
                    )
                )
                for _ in range(steps)
            ]
        )

    def epoch_lr(self, epoch: int) -> float:
        """The learning rate of (0-based) ``epoch`` under ``lr_schedule``."""
        if self.settings.lr_schedule == "cosine":
            return self.settings.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / self.settings.epochs))
        return self.settings.lr

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
            f"trainer.reward_refit_steps={reward_refit_steps} needs a reward head: set worldmodel.reward_weight > 0"
        )
