"""The online model-based RL loop: seed data -> fit -> act with MPC -> add to the buffer -> refit.

:meth:`OnlineMPC.run`:

1. the world-model trainer collects seed episodes with random actions, fits the model and
   evaluates it (``buffer.npz``, ``checkpoint.pt``, TensorBoard ``wm/`` and ``eval/`` by epoch);
2. ``episodes`` episodes with the MPC agent, exploration noise on; every transition goes to the
   replay buffer, and after each ``refit_every`` env steps the model takes ``refit_steps``
   gradient steps on batches of the whole buffer and the planner re-syncs its copy;
3. every ``eval_every`` episodes and at the end: ``eval_episodes`` noise-free episodes on fixed
   seeds (for the goal objective, that many per goal distance), the world-model metrics on the
   trainer's evaluation data, an image strip of one evaluation episode, the first
   ``video_episodes`` episodes as a video (:mod:`eqmbrl.video`), and the first episode's plan as
   imagined (:mod:`eqmbrl.imagined`, the nearest of the evaluation data's frames).

Writes ``checkpoint_final.pt`` (the model after the online phase, with the kwargs that rebuild it)
and ``buffer_online.npz`` (seed and online data, exported from the ``online`` save committed every
``save_every`` episodes and after the last, from which ``eqmbrl.resume`` continues a killed run:
:meth:`OnlineMPC.save_progress`); returns the final
evaluation, the world-model metrics and the pretraining metrics under ``pretrain/`` (run.py writes
them to ``metrics.json``).
TensorBoard tags, by online env step: ``episode/`` (return, predicted_return, success, length),
``planner/`` (seconds_per_action, plan_value), ``wm/`` (refit losses), ``eval/`` (return;
random_return and still_return (reward tasks) or random_success and still_success (goal tasks) of
the baselines on the same episodes; success and success_d<k>; world-model metrics)
and the image strip ``eval/episode``; the video ``eval/video`` with its text ``eval/video_caption``
(under each frame: the reward, or the return so far; the model's energy to the goal, or its
predicted return so far) and the figure ``eval/imagined``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec

from agents.mpc import MPCAgent
from agents.planners import Planner
from eqmbrl.collect import baselines, eval_runs, evaluate_agent, run_episode
from eqmbrl.core.buffer import ReplayBuffer, env_source
from eqmbrl.core.checkpoint import Save, commit_save, committed_save, load_state, save_state
from eqmbrl.core.directions import NUM_DIRECTIONS
from eqmbrl.core.logger import Logger
from eqmbrl.core.progress import log, progress_bar
from eqmbrl.core.seeds import BASELINES, ONLINE_ENV, ONLINE_RNG, global_rng_state, set_global_rng_state
from eqmbrl.core.symmetry import env_contract
from eqmbrl.core.types import EvalData
from eqmbrl.data import RunData
from eqmbrl.imagined import encode_images, imagined_plan_figure
from eqmbrl.settings import OnlineSettings
from eqmbrl.trainer import WorldModelTrainer
from eqmbrl.video import RecordEpisodes, Recording, describe, log_videos
from worldmodels.metrics import evaluate
from worldmodels.persistence import save_world_model
from worldmodels.world_model import WorldModel

DIRECTION_NAMES = ("up", "left", "down", "right")
BANK_FRAMES = 1000
"""Most evaluation frames searched for the imagined plan's nearest frames (evenly spaced)."""
CAPTION_ACTIONS = 20
"""Most actions named in a video's caption."""


class EpisodeActor:
    """An :class:`MPCAgent` as a :func:`run_episode` agent: sets the env's goal on reset and
    records per-step planning time, plan value and the model's reward for each action taken
    (``predicted_rewards``: one list per episode)."""

    def __init__(self, agent: MPCAgent, env: gym.Env, explore: bool) -> None:
        self.agent, self.env, self.explore = agent, env, explore
        self.times: list[float] = []
        self.values: list[float] = []
        self.predicted = 0.0
        self.goals: list[np.ndarray] = []  # goal image of each episode (goal objective)
        self.actions: list[list[int | np.ndarray]] = []  # actions of each episode
        self.predicted_rewards: list[list[float]] = []  # the model's reward of each action (reward objective)

    def reset(self) -> None:
        self.agent.reset()
        self.actions.append([])
        self.predicted_rewards.append([])
        if self.agent.objective == "goal":
            self.goals.append(env_contract(self.env).goal_obs)
            self.agent.set_goal(self.goals[-1])

    def act(self, obs: np.ndarray) -> int | np.ndarray:
        action = self.agent.act(obs, self.explore)
        self.actions[-1].append(action)
        self.times.append(self.agent.last_plan_time)
        self.values.append(self.agent.last_plan_return)
        if self.agent.objective == "reward":
            self.predicted_rewards[-1].append(self.agent.predicted_reward(obs, action))
            self.predicted += self.predicted_rewards[-1][-1]
        return action


def action_name(env: gym.Env, action: int | np.ndarray) -> str:
    """A short name of one action: the env's own ``action_name`` (the teapot's turns), else a block
    push (``object 2 left``) for discrete actions or the numbers."""
    base = env_contract(env)
    if hasattr(base, "action_name"):
        return str(base.action_name(action))
    if isinstance(env.action_space, gym.spaces.Discrete):
        return f"object {int(action) // NUM_DIRECTIONS} {DIRECTION_NAMES[int(action) % NUM_DIRECTIONS]}"
    return np.array2string(np.asarray(action), precision=2)


def mpc_agent(model: WorldModel, planner: Planner, settings: OnlineSettings, seed: int = 0) -> MPCAgent:
    """The :class:`MPCAgent` that ``agent.*`` settings describe, planning with ``planner`` on ``model``."""
    s = settings
    return MPCAgent(
        model,
        planner,
        objective=s.objective,
        exploration_std=s.exploration_std,
        epsilon=s.epsilon,
        goal_reduce=s.goal_reduce,
        goal_discount=s.goal_discount,
        export=s.export,
        seed=seed,
        terminal_weight=s.terminal_weight,
    )


class OnlineMPC:
    """Model-based RL with latent MPC, configured by ``agent=cem|mppi|search``.

    ``settings`` are the ``agent.*`` options (:class:`eqmbrl.settings.OnlineSettings`, which
    documents each); ``planner`` is built by run.py from ``agent.planner`` for the env's action
    space; the trainer does step 1 (module doc). The goal objective needs a goal-conditioned env
    (``env=cubes_goal`` or ``shapes_goal``). A killed run resumes from the last save (every
    ``save_every`` episodes) and replays the episodes after it exactly.
    """

    def __init__(
        self,
        env: gym.Env,
        trainer: WorldModelTrainer,
        logger: Logger,
        out_dir: str | os.PathLike,
        planner: Planner,
        settings: OnlineSettings | None = None,
        seed: int = 0,
    ) -> None:
        self.settings = s = settings or OnlineSettings()
        if s.objective == "goal" and not getattr(env_contract(env), "goal_conditioned", False):
            raise ValueError(
                f"objective 'goal' needs a goal-conditioned env (env=cubes_goal, shapes_goal or teapot_goal), "
                f"got {env.spec.id if env.spec else env}"
            )
        self.env, self.trainer, self.logger, self.out = env, trainer, logger, Path(out_dir)
        self.model = trainer.model
        self.agent = mpc_agent(self.model, planner, s, seed)
        self.goal_distances = list(s.goal_distances)
        self.seed, self.rng = seed, np.random.default_rng(seed + ONLINE_RNG)
        self.limit = s.max_steps
        self.last_eval: dict[str, float] = {}

    @property
    def goal(self) -> bool:
        return self.agent.objective == "goal"

    def eval_runs(self) -> list[tuple[int, dict[str, Any] | None]]:
        return eval_runs(self.settings.eval_episodes, self.goal_distances if self.goal else None)

    def run(self, data: RunData) -> dict[str, float]:
        """Seed data and fit, online episodes with refits, final evaluation; returns the final metrics
        (with the seed phase's under ``pretrain/``)."""
        s, eval_data = self.settings, data.eval_data()
        seed_data, pretrain = self.trainer.pretrain(data)
        self.trainer.log_to(self.logger)  # refits log wm/* by env step, with the online loop
        capacity = len(seed_data) + s.episodes * (self.episode_cap() + 1)
        buffer = seed_data.resized(capacity)
        scored = baselines(self.env, self.eval_runs(), self.limit, self.seed + BASELINES)
        start, steps, since_refit = 0, 0, 0
        save = committed_save(self.out, "online")
        if save is not None:  # a resumed or continued run (eqmbrl.resume)
            start, steps, since_refit, buffer = self.load_progress(save)
            if start > s.episodes:
                raise ValueError(f"{self.out} has done {start} online episodes; agent.episodes={s.episodes} is less")
            if buffer.capacity < capacity:  # continued to more episodes
                buffer = buffer.resized(capacity)
        self.agent.sync()
        bar = progress_bar(range(start, s.episodes), desc="online MPC", unit="ep", initial=start, total=s.episodes)
        for ep in bar:
            actor = EpisodeActor(self.agent, self.env, explore=True)
            options = {"goal_distance": int(self.rng.choice(self.goal_distances))} if self.goal else None
            ret, info, length = run_episode(
                self.env, actor, self.limit, self.seed + ONLINE_ENV + ep, buffer=buffer, options=options
            )
            steps, since_refit = steps + length, since_refit + length
            self.record_episode(actor, ret, info, length)
            if s.refit_every and since_refit >= s.refit_every and s.refit_steps:
                self.trainer.refit(buffer, s.refit_steps, len(seed_data), s.refit_online_fraction)
                self.agent.sync()
                since_refit = 0
            if (ep + 1) % s.eval_every == 0 or ep + 1 == s.episodes:
                self.evaluate(steps, scored, eval_data)
            bar.set_postfix(ret=f"{ret:.2f}")
            success = f", success {info['is_success']}" if "is_success" in info else ""
            log.info(
                f"online episode {ep + 1}/{s.episodes}: return {ret:.3f}{success}, {length} steps, env step {steps}"
            )
            self.logger.dump(steps)
            if (ep + 1) % s.save_every == 0 or ep + 1 == s.episodes:
                self.save_progress(ep + 1, steps, since_refit, buffer)
        if s.final_reward_refit:
            self.trainer.fit_reward_head(buffer, step=steps)
            self.agent.sync()
        fresh = s.episodes == 0 or s.final_reward_refit
        final = self.evaluate(steps, scored, eval_data) if fresh else self.last_eval
        self.logger.dump(steps)
        save_world_model(self.out / "checkpoint_final.pt", self.model, online_steps=steps)
        if not s.episodes:  # otherwise saved after the last episode
            buffer.save(self.out / "buffer_online.npz")
        return {**final, **{f"pretrain/{k}": v for k, v in pretrain.items()}}

    def save_progress(self, episodes: int, steps: int, since_refit: int, buffer: ReplayBuffer) -> None:
        """Every ``save_every`` online episodes, one ``online`` save
        (:func:`eqmbrl.core.checkpoint.commit_save`): the buffer (``buffer.npz``) and ``state.pt``
        (the trainer's and the agent's state dicts, the loop's RNG, every process-wide RNG, counters,
        last evaluation); then the buffer is exported as ``buffer_online.npz``."""
        state = dict(
            trainer=self.trainer.state_dict(),
            agent=self.agent.state_dict(),
            rng=self.rng.bit_generator.state,
            global_rng=global_rng_state(),
            counters=dict(episodes=episodes, steps=steps, since_refit=since_refit),
            last_eval=self.last_eval,
        )
        writers = {"buffer.npz": buffer.save, "state.pt": lambda p: save_state(p, **state)}
        save = commit_save(self.out, "online", writers, f"episode {episodes}, env step {steps}")
        save.export("buffer.npz", self.out / "buffer_online.npz")

    def load_progress(self, save: Save) -> tuple[int, int, int, ReplayBuffer]:
        """Restore the committed ``online`` save (and export its buffer as ``buffer_online.npz``
        again, in case a kill came before that); returns (episodes done, env steps, steps since the
        last refit, the buffer)."""
        path = save.path("state.pt")
        state = load_state(path)
        self.trainer.load_state_dict(state["trainer"], f"resume state {path}")
        self.agent.load_state_dict(state["agent"])
        self.rng.bit_generator.state = state["rng"]
        set_global_rng_state(state["global_rng"])
        counters, self.last_eval = state["counters"], state["last_eval"]
        space = cast(gym.spaces.Box, self.env.observation_space)
        buffer = ReplayBuffer.load(save.path("buffer.npz"), space, self.env.action_space, env_source(self.env))
        save.export("buffer.npz", self.out / "buffer_online.npz")
        print(f"continuing the online phase of {self.out} from {save}")
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
            moves = [action_name(self.env, a) for a in actor.actions[0]]
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

    def log_videos(self, actor: EpisodeActor, recordings: list[Recording], steps: int) -> None:
        """The first ``video_episodes`` evaluation episodes as the video ``eval/video``
        (:func:`eqmbrl.video.log_videos`): under each frame the model's energy to the goal (goal
        objective) or its predicted return so far; captions with the actions taken."""
        notes, captions = [], []
        for i, rec in enumerate(recordings[: self.settings.video_episodes]):
            taken = actor.actions[i]
            moves = ", ".join(action_name(self.env, a) for a in taken[:CAPTION_ACTIONS])
            moves += ", ..." if len(taken) > CAPTION_ACTIONS else ""
            if self.goal:
                assert rec.goal is not None  # goal envs record their goal image
                z = encode_images(self.agent.model, np.stack([*rec.frames, rec.goal]))
                energy = self.agent.model.energy(z[:-1], z[-1:]).tolist()
                notes.append([f"model: E to goal {e:.2f}" for e in energy])
                predicted = f"model's energy to the goal {energy[0]:.2f} -> {energy[-1]:.2f}"
            else:
                model_returns = np.concatenate([[0.0], np.cumsum(actor.predicted_rewards[i])])
                notes.append([f"model: return {r:+.2f}" for r in model_returns])
                predicted = f"model's predicted return {model_returns[-1]:.2f}"
            captions.append(describe(rec, f"{predicted}. Actions: {moves}"))
        log_videos(self.logger, recordings[: len(notes)], steps, notes, captions, self.out, self.settings.video_file)

    def log_imagined(self, eval_data: EvalData, steps: int) -> None:
        """The plan of the first evaluation episode's start, imagined, as the figure ``eval/imagined``
        (:func:`eqmbrl.imagined.imagined_plan_figure`; nearest frames among at most
        :data:`BANK_FRAMES` of the evaluation data's frames)."""
        frames = eval_data.obs.flatten(0, 1)
        bank = frames[:: max(1, -(-len(frames) // BANK_FRAMES))]
        seed, options = self.eval_runs()[0]
        name = lambda a: action_name(self.env, a)
        figure = imagined_plan_figure(self.agent.model, self.agent, self.env, bank, seed, options, action_name=name)
        self.logger.image("eval/imagined", figure, steps)

    def evaluate(self, steps: int, baselines: dict[str, float], eval_data: EvalData) -> dict[str, float]:
        """Noise-free MPC episodes and world-model metrics; logged under ``eval/`` and returned, with
        the image strip, the videos and the imagined plan (module doc)."""
        actor = EpisodeActor(self.agent, self.env, explore=False)
        recorder = RecordEpisodes(self.env)
        recorder.record(max(1, self.settings.video_episodes))  # the first also makes the image strip
        out = evaluate_agent(recorder, actor, self.eval_runs(), self.limit)
        out.update(baselines)
        out.update(evaluate(self.model, **eval_data.tensors(), seed=self.seed))
        self.logger.record_dict("eval", out)
        self.log_episode(actor, recorder.recordings[0].frames, steps)
        if self.settings.video_episodes:
            self.log_videos(actor, recorder.recordings, steps)
        if self.settings.imagined_plan:
            self.log_imagined(eval_data, steps)
        self.last_eval = {k: v for k, v in out.items() if not math.isnan(v)}
        score = f"success {out['success']:.3f}" if "success" in out else f"return {out['return']:.3f}"
        log.info(f"evaluation at env step {steps}: {score}")
        return self.last_eval
