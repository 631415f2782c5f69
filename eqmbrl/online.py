"""The online model-based RL loop: seed data -> fit -> act with MPC -> add to the buffer -> refit.

:meth:`OnlineMPC.run`:

1. the world-model trainer collects seed episodes with random actions, fits the model and
   evaluates it (``buffer.npz``, ``checkpoint.pt``, TensorBoard ``wm/`` and ``eval/`` by epoch);
2. ``episodes`` episodes with the MPC agent, exploration noise on; every transition goes to the
   replay buffer, and after each ``refit_every`` env steps the model takes ``refit_steps``
   gradient steps on batches of the whole buffer and the planner re-syncs its copy;
3. every ``eval_every`` episodes and at the end: ``eval_episodes`` noise-free episodes on fixed
   seeds (for the goal objective, that many per goal distance), the world-model metrics on the
   trainer's evaluation data, and an image strip of one evaluation episode.

Writes ``checkpoint_final.pt`` (the model after the online phase, with the kwargs that rebuild it)
and ``buffer_online.npz`` (seed and online data; with ``online_resume.pt``, every ``save_every``
episodes and after the last, so that ``eqmbrl.resume`` continues a killed run); returns the final
evaluation, the world-model metrics and the pretraining metrics under ``pretrain/`` (run.py writes
them to ``metrics.json``).
TensorBoard tags, by online env step: ``episode/`` (return, predicted_return, success, length),
``planner/`` (seconds_per_action, plan_value), ``wm/`` (refit losses), ``eval/`` (return;
random_return and still_return of the baselines; success and success_d<k>; world-model metrics)
and the image strip ``eval/episode``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch
from gymnasium.envs.registration import EnvSpec
from tqdm import tqdm

from agents.mpc import GOAL_REDUCTIONS, MPCAgent
from agents.planners import Planner
from eqmbrl.collect import baseline_returns, eval_runs, evaluate_agent, run_episode
from eqmbrl.core.buffer import ReplayBuffer
from eqmbrl.core.checkpoint import load_checkpoint, save_checkpoint
from eqmbrl.core.choices import check_choice
from eqmbrl.core.directions import NUM_DIRECTIONS
from eqmbrl.core.logger import Logger
from eqmbrl.core.seeds import BASELINES, ONLINE_ENV, ONLINE_RNG
from eqmbrl.core.symmetry import env_contract
from eqmbrl.core.types import EvalData
from eqmbrl.trainer import WorldModelTrainer
from worldmodels.metrics import evaluate
from worldmodels.persistence import load_weights, save_world_model
from worldmodels.world_model import WorldModel

DIRECTION_NAMES = ("up", "left", "down", "right")


class EpisodeActor:
    """An :class:`MPCAgent` as a :func:`run_episode` agent: sets the env's goal on reset and
    records per-step planning time, plan value and the model's reward for each action taken."""

    def __init__(self, agent: MPCAgent, env: gym.Env, explore: bool) -> None:
        self.agent, self.env, self.explore = agent, env, explore
        self.times: list[float] = []
        self.values: list[float] = []
        self.predicted = 0.0
        self.goals: list[np.ndarray] = []  # goal image of each episode (goal objective)
        self.actions: list[list[int | np.ndarray]] = []  # actions of each episode

    def reset(self) -> None:
        self.agent.reset()
        self.actions.append([])
        if self.agent.objective == "goal":
            self.goals.append(env_contract(self.env).goal_obs)
            self.agent.set_goal(self.goals[-1])

    def act(self, obs: np.ndarray) -> int | np.ndarray:
        action = self.agent.act(obs, self.explore)
        self.actions[-1].append(action)
        self.times.append(self.agent.last_plan_time)
        self.values.append(self.agent.last_plan_return)
        if self.agent.objective == "reward":
            self.predicted += self.agent.predicted_reward(obs, action)
        return action


class OnlineMPC:
    """Model-based RL with latent MPC, configured by ``agent=cem|mppi|search``.

    Args:
        env, model, trainer, logger, out_dir, seed: given by run.py (the trainer does step 1).
        planner: the planner (run.py builds it from ``agent.planner`` for the env's action space).
        objective, exploration_std, epsilon, goal_reduce, goal_discount, export, terminal_weight:
            see :class:`agents.mpc.MPCAgent`.
            ``goal`` needs a goal-conditioned env (``env=cubes_goal`` or ``shapes_goal``).
        episodes: online MPC episodes after the seed data.
        max_steps: step budget of an episode (None: until the env ends it).
        refit_every, refit_steps: after each ``refit_every`` online env steps, ``refit_steps``
            gradient steps (trainer's batch size and learning rate); ``refit_every=0`` never refits.
        refit_online_fraction: the fraction of each refit batch drawn from the online episodes
            (the rest from the whole buffer; 0: uniform over the whole buffer). The seed data can
            outnumber the agent's own episodes a hundredfold; this keeps the states the planner
            visits in every batch.
        final_reward_refit: after the last online episode, refit the reward head alone on the
            final latents of the whole buffer (``trainer.reward_refit_steps`` steps, as after the
            seed phase: :meth:`WorldModelTrainer.fit_reward_head`), then evaluate again. The
            online refits move the latents under the head (RESULTS.md §17).
        eval_episodes, eval_every: noise-free evaluation episodes, every ``eval_every`` episodes.
        save_every: write the resume state (``online_resume.pt`` and the whole buffer,
            ``buffer_online.npz``) every ``save_every`` episodes and after the last one. A killed
            run resumes from the last save and replays the episodes after it exactly; the buffer
            is about 1 GB on Reacher, so saving it after every episode is costly.
        goal_distances: goal distances (moves) of the goal objective's evaluation episodes;
            training episodes draw one of them at random.
    """

    def __init__(
        self,
        env: gym.Env,
        model: WorldModel,
        trainer: WorldModelTrainer,
        logger: Logger,
        out_dir: str | os.PathLike,
        planner: Planner,
        seed: int = 0,
        objective: str = "reward",
        exploration_std: float = 0.1,
        epsilon: float = 0.0,
        goal_reduce: str = "discounted",
        goal_discount: float = 0.9,
        export: bool = True,
        episodes: int = 10,
        max_steps: int | None = None,
        refit_every: int = 50,
        refit_steps: int = 50,
        refit_online_fraction: float = 0.0,
        final_reward_refit: bool = False,
        eval_episodes: int = 5,
        eval_every: int = 5,
        goal_distances: tuple[int, ...] = (1, 2, 3),
        terminal_weight: float = 0.0,
        save_every: int = 10,
    ) -> None:
        check_online_values(
            episodes=episodes,
            refit_every=refit_every,
            refit_steps=refit_steps,
            refit_online_fraction=refit_online_fraction,
            eval_episodes=eval_episodes,
            eval_every=eval_every,
            max_steps=max_steps,
            goal_distances=goal_distances,
            goal_reduce=goal_reduce,
            goal_discount=goal_discount,
            terminal_weight=terminal_weight,
            save_every=save_every,
        )
        if objective == "goal" and not getattr(env_contract(env), "goal_conditioned", False):
            raise ValueError(
                f"objective 'goal' needs a goal-conditioned env (env=cubes_goal or env=shapes_goal), "
                f"got {env.spec.id if env.spec else env}"
            )
        self.env, self.model, self.trainer, self.logger, self.out = env, model, trainer, logger, Path(out_dir)
        self.agent = MPCAgent(
            model,
            planner,
            objective,
            exploration_std,
            epsilon,
            goal_reduce,
            goal_discount,
            export,
            seed,
            terminal_weight,
        )
        self.episodes, self.refit_every, self.refit_steps = episodes, refit_every, refit_steps
        self.refit_online_fraction, self.final_reward_refit = refit_online_fraction, final_reward_refit
        self.eval_episodes, self.eval_every, self.goal_distances = eval_episodes, eval_every, list(goal_distances)
        self.seed, self.rng = seed, np.random.default_rng(seed + ONLINE_RNG)
        self.limit, self.save_every = max_steps, save_every
        self.last_eval: dict[str, float] = {}

    @property
    def goal(self) -> bool:
        return self.agent.objective == "goal"

    def eval_runs(self) -> list[tuple[int, dict[str, Any] | None]]:
        return eval_runs(self.eval_episodes, self.goal_distances if self.goal else None)

    def run(self, eval_data: EvalData) -> dict[str, float]:
        """Seed data and fit, online episodes with refits, final evaluation; returns the final metrics
        (with the seed phase's under ``pretrain/``)."""
        seed_data = self.trainer.collect()
        pretrain = self.trainer.fit(seed_data, eval_data)
        self.trainer.logger = self.logger  # refits log wm/* by env step, with the online loop
        capacity = len(seed_data) + self.episodes * (self.episode_cap() + 1)
        buffer = seed_data.resized(capacity)
        baselines = {} if self.goal else baseline_returns(self.env, self.eval_runs(), self.limit, self.seed + BASELINES)
        start, steps, since_refit = 0, 0, 0
        if (self.out / "online_resume.pt").is_file():  # a resumed or continued run (eqmbrl.resume)
            start, steps, since_refit, buffer = self.load_progress()
            if start > self.episodes:
                raise ValueError(f"{self.out} has done {start} online episodes; agent.episodes={self.episodes} is less")
            if buffer.capacity < capacity:  # continued to more episodes (results/online_from_pretrain.py)
                buffer = buffer.resized(capacity)
        self.agent.sync()
        bar = tqdm(range(start, self.episodes), desc="online MPC", unit="ep", initial=start, total=self.episodes)
        for ep in bar:
            actor = EpisodeActor(self.agent, self.env, explore=True)
            options = {"goal_distance": int(self.rng.choice(self.goal_distances))} if self.goal else None
            ret, info, length = run_episode(
                self.env, actor, self.limit, self.seed + ONLINE_ENV + ep, buffer=buffer, options=options
            )
            steps, since_refit = steps + length, since_refit + length
            self.record_episode(actor, ret, info, length)
            if self.refit_every and since_refit >= self.refit_every and self.refit_steps:
                self.trainer.refit(buffer, self.refit_steps, len(seed_data), self.refit_online_fraction)
                self.agent.sync()
                since_refit = 0
            if (ep + 1) % self.eval_every == 0 or ep + 1 == self.episodes:
                self.evaluate(steps, baselines, eval_data)
            bar.set_postfix(ret=f"{ret:.2f}")
            self.logger.dump(steps)
            if (ep + 1) % self.save_every == 0 or ep + 1 == self.episodes:
                self.save_progress(ep + 1, steps, since_refit, buffer)
        if self.final_reward_refit:
            self.trainer.fit_reward_head(buffer, step=steps)
            self.agent.sync()
        fresh = self.episodes == 0 or self.final_reward_refit
        final = self.evaluate(steps, baselines, eval_data) if fresh else self.last_eval
        self.logger.dump(steps)
        save_world_model(self.out / "checkpoint_final.pt", self.model, online_steps=steps)
        if not self.episodes:  # otherwise saved after the last episode
            buffer.save(self.out / "buffer_online.npz")
        return {**final, **{f"pretrain/{k}": v for k, v in pretrain.items()}}

    def save_progress(self, episodes: int, steps: int, since_refit: int, buffer: ReplayBuffer) -> None:
        """Every ``save_every`` online episodes: the buffer (``buffer_online.npz``) and ``online_resume.pt``
        (weights, optimizer, every RNG of the loop, counters, last evaluation)."""
        buffer.save(self.out / "buffer_online.npz")
        save_checkpoint(
            self.out / "online_resume.pt",
            self.model,
            optimizer=self.trainer.opt.state_dict(),
            rngs={
                "trainer": self.trainer.rng.bit_generator.state,
                "online": self.rng.bit_generator.state,
                "agent": self.agent.rng.bit_generator.state,
            },
            planner_rng=self.agent.planner.generator.get_state(),
            torch_rng=torch.get_rng_state(),
            counters=dict(episodes=episodes, steps=steps, since_refit=since_refit, grad_steps=self.trainer.steps),
            last_eval=self.last_eval,
        )

    def load_progress(self) -> tuple[int, int, int, ReplayBuffer]:
        """Restore ``online_resume.pt`` and ``buffer_online.npz``; returns (episodes done, env steps,
        steps since the last refit, the buffer)."""
        state = load_checkpoint(self.out / "online_resume.pt")
        load_weights(self.model, state["model"], f"resume state {self.out / 'online_resume.pt'}")
        self.trainer.opt.load_state_dict(state["optimizer"])
        self.trainer.rng.bit_generator.state = state["rngs"]["trainer"]
        self.rng.bit_generator.state = state["rngs"]["online"]
        self.agent.rng.bit_generator.state = state["rngs"]["agent"]
        self.agent.planner.generator.set_state(state["planner_rng"])
        torch.set_rng_state(state["torch_rng"])
        counters, self.last_eval = state["counters"], state["last_eval"]
        self.trainer.steps = counters["grad_steps"]
        space = cast(gym.spaces.Box, self.env.observation_space)
        buffer = ReplayBuffer.load(self.out / "buffer_online.npz", space, self.env.action_space)
        print(f"resuming the online phase of {self.out} after episode {counters['episodes']}")
        return counters["episodes"], counters["steps"], counters["since_refit"], buffer

    def episode_cap(self) -> int:
        """Most steps an episode can take (the env's limit or ``max_steps``)."""
        limits = [n for n in (getattr(env_contract(self.env), "episode_steps", None), self.limit) if n is not None]
        if not limits:
            raise ValueError(f"{cast(EnvSpec, self.env.spec).id} has no episode_steps: set agent.max_steps")
        return int(min(limits))

    def log_episode(self, actor: EpisodeActor, frames: list[np.ndarray], steps: int) -> None:
        """The first evaluation episode as the image strip ``eval/episode`` (at most 12 frames; for
        goals: the goal image, then every observation) and its actions as the text ``eval/actions``."""
        if self.goal:
            strip = [actor.goals[0], *frames[:11]]
            moves = [
                f"object {int(a) // NUM_DIRECTIONS} {DIRECTION_NAMES[int(a) % NUM_DIRECTIONS]}"
                for a in actor.actions[0]
            ]
            text = "first image: the goal; then each observation. Actions: " + ", ".join(moves)
        else:
            strip = frames[:: max(1, len(frames) // 12)][:12]
            text = "actions: " + "; ".join(np.array2string(np.asarray(a), precision=2) for a in actor.actions[0])
        self.logger.images("eval/episode", np.stack(strip), steps)
        self.logger.text("eval/actions", text, steps)

    def record_episode(self, actor: EpisodeActor, ret: float, info: dict[str, Any], length: int) -> None:
        """Log one online episode under ``episode/`` and its planning stats under ``planner/``."""
        self.logger.record("episode/return", ret)
        self.logger.record("episode/length", length)
        if self.goal:
            self.logger.record("episode/success", float(info.get("is_success", False)))
        else:
            self.logger.record("episode/predicted_return", actor.predicted)
        if actor.times:
            self.logger.record("planner/seconds_per_action", float(np.mean(actor.times)))
            self.logger.record("planner/plan_value", float(np.mean(actor.values)))

    def evaluate(self, steps: int, baselines: dict[str, float], eval_data: EvalData) -> dict[str, float]:
        """Noise-free MPC episodes and world-model metrics; logged under ``eval/`` and returned."""
        frames: list[np.ndarray] = []
        actor = EpisodeActor(self.agent, self.env, explore=False)
        out = evaluate_agent(self.env, actor, self.eval_runs(), self.limit, frames)
        out.update({f"{name}_return": value for name, value in baselines.items()})
        out.update(evaluate(self.model, **eval_data.tensors(), seed=self.seed))
        self.logger.record_dict("eval", out)
        self.log_episode(actor, frames, steps)
        self.last_eval = {k: v for k, v in out.items() if not math.isnan(v)}
        return self.last_eval


def check_online_values(
    episodes: int = 10,
    refit_every: int = 50,
    refit_steps: int = 50,
    refit_online_fraction: float = 0.0,
    eval_episodes: int = 5,
    eval_every: int = 5,
    max_steps: int | None = None,
    goal_distances: tuple[int, ...] = (1, 2, 3),
    goal_reduce: str = "discounted",
    goal_discount: float = 0.9,
    terminal_weight: float = 0.0,
    save_every: int = 10,
) -> None:
    """Value checks of :class:`OnlineMPC`'s arguments (run.py calls them before building anything)."""
    check_choice("agent.goal_reduce", goal_reduce, GOAL_REDUCTIONS)
    if not 0 < goal_discount <= 1:
        raise ValueError(f"agent.goal_discount must be in (0, 1], got {goal_discount}")
    if terminal_weight < 0:
        raise ValueError(f"agent.terminal_weight must be >= 0, got {terminal_weight}")
    if not 0 <= refit_online_fraction <= 1:
        raise ValueError(f"agent.refit_online_fraction must be in [0, 1], got {refit_online_fraction}")
    checks = (
        ("episodes", episodes, 0),
        ("refit_every", refit_every, 0),
        ("refit_steps", refit_steps, 0),
        ("eval_episodes", eval_episodes, 1),
        ("eval_every", eval_every, 1),
        ("save_every", save_every, 1),
        ("max_steps", 1 if max_steps is None else max_steps, 1),
    )
    for name, value, low in checks:
        if value < low:
            raise ValueError(f"agent.{name} must be >= {low}, got {value}")
    if not goal_distances or min(goal_distances) < 0:
        raise ValueError(f"agent.goal_distances must list goal distances >= 0, got {list(goal_distances)}")
