"""Model-free RL with Stable-Baselines3 on world-model features (``agent=ppo|sac|dqn``).

:meth:`SB3Learner.run`:

1. world-model weights (``features=worldmodel`` only): loaded from ``checkpoint`` if given, else
   pretrained by the world-model trainer on random data if ``pretrain``, else left at their
   random initialisation; saved to ``world_model.pt`` with the kwargs that rebuild it, which is
   what the policy's :class:`agents.sb3.WorldModelExtractor` loads (so ``sb3_model.zip`` stays
   small and loads anywhere that file exists);
2. ``algo.learn(total_steps)`` with SB3's logger writing into the run's ``tb/`` (``rollout/``,
   ``train/``, ``time/``); a callback logs ``episode/return``, runs noise-free evaluation episodes
   on fixed seeds every ``eval_every`` steps (``eval/return``, the random/still baselines, and the
   world-model metrics when the world model is being trained; on goal envs ``eval/success`` and
   ``eval/success_d<k>``, on goals ``goal_distances`` away; the first ``video_episodes`` as the
   video ``eval/video``, the critic's value under each frame, :mod:`eqmbrl.video`), and, with ``aux_weight > 0``,
   takes a gradient step of ``aux_weight`` x the world model's contrastive loss on a batch of the
   agent's own transitions after each env step, for every world model the RL loss trains.

With ``goal_observation`` the policy sees goal envs as ``Dict(observation, achieved_goal,
desired_goal)`` images (:class:`envs.goal_dict.GoalDictObservation`, SB3's ``MultiInputPolicy``, the
world model encoding the image and the goal); with ``her`` SB3's ``HerReplayBuffer`` relabels them.

Writes ``sb3_model.zip``, ``curve.json`` (evaluation returns by env step) and ``metrics.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch
from gymnasium.envs.registration import EnvSpec
from omegaconf import OmegaConf
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from agents.sb3 import LatentObservation, WorldModelExtractor, policy_kwargs
from envs.goal_dict import GoalDictObservation
from envs.seeded import SeededEpisodes
from eqmbrl.collect import baselines, eval_runs, evaluate_agent
from eqmbrl.core.buffer import ReplayBuffer
from eqmbrl.core.checkpoint import (
    Save,
    atomic_write,
    commit_save,
    committed_save,
    load_checkpoint,
    load_state,
    save_state,
    write_json,
)
from eqmbrl.core.logger import Logger
from eqmbrl.core.progress import log, progress_bar
from eqmbrl.core.seeds import BASELINES, SB3_ENV, global_rng_state, set_global_rng_state
from eqmbrl.core.timing import PHASES
from eqmbrl.core.types import EvalData
from eqmbrl.data import RunData
from eqmbrl.settings import ALGOS, OFF_POLICY, SB3Settings
from eqmbrl.trainer import WorldModelTrainer
from eqmbrl.video import RecordEpisodes, describe, log_videos
from worldmodels.metrics import evaluate
from worldmodels.persistence import load_weights, load_world_model, save_world_model
from worldmodels.world_model import WorldModel

AUX_CAPACITY = 20_000  # rows of the auxiliary loss's replay buffer (~0.5 GB of 6 x 64 x 64 images)


def env_option(env_id: str) -> str:
    """The ``env=NAME`` override whose config (``configs/env/NAME.yaml``) makes ``env_id``, else ``env_id`` itself."""
    for config in sorted(resources.files("configs").joinpath("env").iterdir(), key=lambda f: f.name):
        if config.name.endswith(".yaml") and OmegaConf.select(OmegaConf.create(config.read_text()), "env.id") == env_id:
            return f"env={config.name.removesuffix('.yaml')}"
    return env_id


def require_reward(env: gym.Env, who: str) -> None:
    """A one-line ``ValueError`` if every step of ``env`` rewards 0 (its ``rewarded_variant`` is set),
    naming the env to use instead; ``who`` is what needs the reward (e.g. ``agent=ppo``)."""
    variant = getattr(env.unwrapped, "rewarded_variant", None)
    if variant is None:
        return
    variant_id, reward = variant
    own = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
    use = f"{env_option(variant_id)} ({variant_id}: {reward})"
    raise ValueError(f"{who} needs a reward, but {own} rewards 0 on every step: use {use}")


Observation = np.ndarray | dict[str, np.ndarray]
"""What an SB3 policy acts on: an image or latent features, or a goal Dict of images."""


def policy_env(env: gym.Env, settings: SB3Settings, model: WorldModel | None = None) -> gym.Env:
    """The view of ``env`` that an SB3 policy of ``settings`` acts in: the goal Dict of a goal env
    (``goal_observation``), the latents of the frozen ``model`` (``settings.cached``), else ``env``
    itself. A non-goal env with ``goal_observation`` is a one-line error naming the key."""
    if settings.goal_observation:
        try:
            return GoalDictObservation(env)
        except ValueError as exc:
            raise ValueError(f"agent.goal_observation=true: {exc}") from None
    if settings.cached:
        if model is None:
            raise ValueError("cached latents (agent.cache_latents=true, frozen world model) need the world model")
        return LatentObservation(env, model, settings.invariant, normalize=settings.normalize_features)
    return env


def image_of(obs: Observation) -> np.ndarray:
    """The current image of an observation: ``obs`` itself, or a goal Dict's ``observation``."""
    return obs["observation"] if isinstance(obs, dict) else obs


def same_observation(obs: Observation, last: Observation) -> bool:
    """Whether an env's ``obs`` is SB3's ``last`` observation of a one-env VecEnv (a batch of one)."""
    if isinstance(obs, dict):
        return isinstance(last, dict) and all(np.array_equal(obs[k], last[k][0]) for k in obs)
    return np.array_equal(obs, cast(np.ndarray, last)[0])


def critic_value(algo: BaseAlgorithm, obs: Observation) -> float:
    """The policy's own estimate of the discounted return from ``obs``: PPO's value function, the
    smaller of SAC's Q-values of its deterministic action, or DQN's largest Q-value; NaN for a
    policy with none of them."""
    policy: Any = algo.policy
    with torch.no_grad():
        x = policy.obs_to_tensor(obs)[0]
        if hasattr(policy, "predict_values"):
            return float(policy.predict_values(x).flatten()[0])
        if hasattr(policy, "q_net"):
            return float(policy.q_net(x).max())
        if hasattr(policy, "critic") and hasattr(policy, "actor"):
            q_values = policy.critic(x, policy.actor(x, deterministic=True))
            return float(torch.min(torch.cat(q_values, dim=1)))
    return float("nan")


class PolicyAgent:
    """An SB3 model as an ``act(obs)`` agent (deterministic actions); over its first ``value_episodes``
    episodes it keeps the critic's value of each observation it acts on (``values``, one list each)."""

    def __init__(self, algo: BaseAlgorithm, value_episodes: int = 0) -> None:
        self.algo, self.value_episodes = algo, value_episodes
        self.values: list[list[float]] = []
        self.episodes = 0

    def reset(self) -> None:
        self.episodes += 1
        if self.episodes <= self.value_episodes:
            self.values.append([])

    def act(self, obs: Observation) -> int | np.ndarray:
        if self.episodes <= self.value_episodes and self.values:
            self.values[-1].append(critic_value(self.algo, obs))
        action = self.algo.predict(obs, deterministic=True)[0]
        return int(action) if isinstance(self.algo.action_space, gym.spaces.Discrete) else action


def memoising_extractors(algo: BaseAlgorithm) -> list[WorldModelExtractor]:
    """The extractors in ``algo``'s policy that memoise features (frozen goal-Dict policies), in module order."""
    return [m for m in algo.policy.modules() if isinstance(m, WorldModelExtractor) and m.memo is not None]


def trained_world_models(algo: BaseAlgorithm) -> list[WorldModel]:
    """The distinct, unfrozen world models inside ``algo``'s policy that a loss trains (not SAC's
    Polyak-averaged target critic)."""
    models: dict[int, WorldModel] = {}
    for name, module in algo.policy.named_children():
        if "target" in name:
            continue
        for sub in [module, *module.children()]:
            if isinstance(sub, WorldModelExtractor) and not sub.freeze:
                models[id(sub.world_model)] = sub.world_model
    return list(models.values())


class _Callback(BaseCallback):
    """Episode returns, periodic evaluation, and the auxiliary contrastive loss (see module doc)."""

    def __init__(self, learner: SB3Learner, total: int, initial: int = 0) -> None:
        super().__init__()
        self.learner = learner
        self.bar = progress_bar(total=total, initial=initial, desc=f"{learner.settings.algo} learn", unit="step")
        self.aux_models: list[WorldModel] = []
        self.aux_opts: list[torch.optim.Optimizer] = []
        self.aux_buffer: ReplayBuffer | None = None
        self.in_episode = False
        self.save_due = False

    def _on_training_start(self) -> None:
        if self.learner.settings.aux_weight > 0:
            self.aux_models = trained_world_models(self.model)
            self.aux_opts = [torch.optim.Adam(m.parameters(), lr=self.learner.settings.aux_lr) for m in self.aux_models]
            env = self.learner.env
            capacity = min(2 * self.learner.settings.total_steps + 2, AUX_CAPACITY)
            obs_shape = cast(tuple[int, ...], env.observation_space.shape)  # image Box, never None
            self.aux_buffer = ReplayBuffer(capacity, obs_shape, env.action_space.shape or ())
            resumed = self.learner.resumed_aux
            if resumed is not None:  # a resumed run: the auxiliary loss's state at the save
                self.aux_buffer, self.in_episode = resumed["buffer"], resumed["in_episode"]
                for opt, state in zip(self.aux_opts, resumed["optimizers"]):
                    opt.load_state_dict(state)

    def _on_step(self) -> bool:
        self.bar.update(1)
        info, done = self.locals["infos"][0], bool(self.locals["dones"][0])
        if done and "episode" in info:
            self.learner.logger.record("episode/return", info["episode"]["r"])
            self.learner.logger.record("episode/length", info["episode"]["l"])
        if self.aux_buffer is not None:
            self.add_transition(info, done)
            self.aux_step()
        if self.num_timesteps % self.learner.settings.eval_every == 0:
            self.learner.evaluate(self.model, self.num_timesteps)
            self.save_due = True  # at the next rollout boundary, once SB3 has stored and learned from this rollout
        return True

    def _on_rollout_start(self) -> None:  # SB3's rollouts and updates alternate; both timed (eqmbrl.core.timing)
        self.after_update()
        PHASES.start("sb3_rollouts")

    def _on_rollout_end(self) -> None:
        PHASES.stop("sb3_rollouts")
        PHASES.start("sb3_updates")

    def after_update(self) -> None:
        """Close SB3's update phase, and take the ``sb3`` save of the last evaluation if one is due:
        here SB3 holds no half-used data (the start of a rollout, after the update on the previous
        one, or the end of training)."""
        if PHASES.is_open("sb3_updates"):
            PHASES.stop("sb3_updates")
        if self.save_due:
            self.learner.save_progress(self.model, self)
            self.save_due = False

    def add_transition(self, info: dict[str, Any], done: bool) -> None:
        """Append (obs, action, reward) to the auxiliary buffer, closing episodes at ``done``."""
        assert self.aux_buffer is not None  # only called with an auxiliary loss
        actions = self.locals.get("clipped_actions", self.locals["actions"])
        last = cast(Any, self.model._last_obs)  # SB3 updates it after the callback; [1, ...] per key of a Dict
        obs = image_of({k: v[0] for k, v in last.items()} if isinstance(last, dict) else last[0])
        self.aux_buffer.add(obs, actions[0], float(self.locals["rewards"][0]), new_episode=not self.in_episode)
        self.in_episode = not done
        if done:
            self.aux_buffer.add(image_of(info["terminal_observation"]), None)

    def aux_step(self) -> None:
        assert self.aux_buffer is not None  # only called with an auxiliary loss
        size = self.learner.settings.aux_batch_size
        if len(self.aux_buffer.valid_starts(1)) < size:
            return
        batch = self.aux_buffer.sample(size, 1, self.learner.model.device, self.learner.rng)
        for model, opt in zip(self.aux_models, self.aux_opts):
            loss = model.loss(batch)["loss"]
            opt.zero_grad(set_to_none=True)
            (self.learner.settings.aux_weight * loss).backward()
            opt.step()
            self.learner.logger.record("aux/loss", loss.item())

    def _on_training_end(self) -> None:
        self.after_update()
        self.bar.close()


class SB3Learner:
    """SB3 PPO, SAC or DQN on image observations with a world-model (or NatureCNN) features extractor.

    ``settings`` are the ``agent.*`` options (:class:`eqmbrl.settings.SB3Settings`, which documents
    each); the trainer pretrains the world model (``trainer.*``) unless ``agent.checkpoint`` is
    given. With a frozen world model and ``cache_latents`` the policy is an ``MlpPolicy`` on latent
    features (:class:`agents.sb3.LatentObservation`); with ``goal_observation`` a ``MultiInputPolicy``
    on goal Dicts (:func:`policy_env`), optionally with SB3's ``HerReplayBuffer`` (``her``); otherwise
    a ``CnnPolicy`` runs the extractor. On goal envs evaluation goals are ``goal_distances`` away,
    episodes at most ``max_steps`` long, as latent MPC's. An env whose every step rewards 0 (plain
    block pushing) is refused at once (:func:`require_reward`), as is a non-goal env with
    ``goal_observation``.
    """

    def __init__(
        self,
        env: gym.Env,
        trainer: WorldModelTrainer,
        logger: Logger,
        out_dir: str | os.PathLike,
        settings: SB3Settings | None = None,
        seed: int = 0,
    ) -> None:
        self.settings = s = settings or SB3Settings()
        spec = cast(EnvSpec, env.spec)  # envs come from gymnasium.make, which sets it
        self.sb3_env: gym.Env = env if s.cached else policy_env(env, s)  # what SB3 sees; latents: run()
        require_reward(env, f"agent={s.algo}")
        if s.algo == "sac" and not isinstance(env.action_space, gym.spaces.Box):
            raise ValueError(f"SAC needs continuous actions, {spec.id} has {env.action_space}: use agent=ppo")
        if s.algo == "dqn" and not isinstance(env.action_space, gym.spaces.Discrete):
            raise ValueError(f"DQN needs discrete actions, {spec.id} has {env.action_space}: use agent=sac")
        self.env, self.trainer, self.logger, self.out = env, trainer, logger, Path(out_dir)
        self.model = trainer.model
        self.seed = seed
        self.recorder = RecordEpisodes(gym.make(spec))  # SB3 owns the training env's episodes
        # what the policy is evaluated in, around the recorder, which keeps images; latents: run()
        self.eval_env: gym.Env = self.recorder if s.cached else policy_env(self.recorder, s)
        goals = bool(getattr(env.unwrapped, "goal_conditioned", False))
        self.runs = eval_runs(s.eval_episodes, list(s.goal_distances) if goals else None)
        self.rng = np.random.default_rng(seed)
        self.curve: list[tuple[int, float]] = []
        self.metrics: dict[str, float] = {}
        self.baselines: dict[str, float] = {}
        self.eval_data: EvalData | None = None
        self.train_env: SeededEpisodes | None = None  # what SB3 steps: run()
        self.resumed_aux: dict[str, Any] | None = None  # the auxiliary loss's saved state, for the callback

    def prepare_world_model(self, data: RunData) -> dict[str, float]:
        """Load, pretrain or keep the world model's weights; save them for the extractor."""
        pretrain: dict[str, float] = {}
        checkpoint = self.settings.checkpoint
        if checkpoint is not None:
            ckpt = load_checkpoint(checkpoint, map_location=self.model.device)
            load_weights(self.model, ckpt["model"], f"agent.checkpoint {checkpoint}", "the configured world model")
        elif self.settings.pretrain:
            pretrain = self.trainer.pretrain(data)[1]
        save_world_model(self.out / "world_model.pt", self.model)
        return pretrain

    def build(self) -> BaseAlgorithm:
        """The SB3 algorithm, with SB3's logger in the run's ``tb/``: an ``MlpPolicy`` on cached
        latent features, or a ``CnnPolicy`` with our extractor (or NatureCNN)."""
        kwargs: dict[str, Any] = dict(seed=self.seed, device=self.model.device, verbose=0)
        if self.settings.algo in OFF_POLICY:
            kwargs["buffer_size"] = self.settings.total_steps
        if self.settings.her:
            kwargs["replay_buffer_class"] = HerReplayBuffer  # SB3's defaults: 4 "future" goals per transition
        kwargs.update(self.settings.algo_kwargs)
        if self.settings.cached:
            policy, extra = "MlpPolicy", dict(self.settings.policy)
        else:
            extractor = (
                dict(
                    checkpoint=str((self.out / "world_model.pt").resolve()),
                    freeze=self.settings.freeze,
                    invariant=self.settings.invariant,
                    normalize=self.settings.normalize_features,
                    fixed_batchnorm=self.settings.fixed_batchnorm,
                    shift=self.settings.random_shift,
                    memoize=self.settings.cache_latents,  # goal Dicts: each image's latents once (frozen only)
                )
                if self.settings.features == "worldmodel"
                else dict(shift=self.settings.random_shift)
            )
            policy, extra = (
                "MultiInputPolicy" if self.settings.goal_observation else "CnnPolicy",
                policy_kwargs(self.settings.features, self.settings.algo, dict(self.settings.policy), **extractor),
            )
        algo = ALGOS[self.settings.algo](policy, self.train_env, **kwargs, policy_kwargs=extra)
        algo.set_logger(configure(str(self.out / "tb"), ["tensorboard"]))
        return algo

    def save_progress(self, algo: BaseAlgorithm, callback: _Callback) -> None:
        """After each evaluation, at the next rollout boundary, one ``sb3`` save
        (:func:`eqmbrl.core.checkpoint.commit_save`): the algorithm (``model.zip``, with SB3's last
        observation and episode counters), an off-policy replay buffer (``replay.pkl``), the evaluation
        curve so far (``progress.json``), and ``state.pt``: every RNG SB3 draws from (the process-wide
        ones and its action space's), the training env's episode (:class:`envs.seeded.SeededEpisodes`),
        the memoised features of frozen goal-Dict extractors and the auxiliary loss's optimizers; with
        an auxiliary loss its buffer too (``aux.npz``)."""
        assert self.train_env is not None  # saves happen inside learn()
        state: dict[str, Any] = dict(
            rng=global_rng_state(),
            action_space=algo.action_space.np_random.bit_generator.state,
            env=self.train_env.state(),
            learner_rng=self.rng.bit_generator.state,
            memos=[m.memo for m in memoising_extractors(algo)],
            aux=None,
        )
        if callback.aux_buffer is not None:
            state["aux"] = dict(in_episode=callback.in_episode, optimizers=[o.state_dict() for o in callback.aux_opts])
        writers: dict[str, Callable[[Path], object]] = {}
        writers["model.zip"] = lambda p: atomic_write(p, lambda f: algo.save(cast(Any, f)))
        if isinstance(algo, OffPolicyAlgorithm):
            writers["replay.pkl"] = lambda p: atomic_write(p, lambda f: algo.save_replay_buffer(cast(Any, f)))
        writers["progress.json"] = lambda p: write_json(p, {"curve": self.curve, "metrics": self.metrics})
        writers["state.pt"] = lambda p: save_state(p, **state)
        if callback.aux_buffer is not None:
            writers["aux.npz"] = callback.aux_buffer.save
        commit_save(self.out, "sb3", writers, f"env step {algo.num_timesteps}")

    def load_progress(self, save: Save) -> BaseAlgorithm:
        """The algorithm of a resumed run exactly as it was at its committed ``sb3`` save (see
        :meth:`save_progress`): weights, optimizers, replay buffer, RNGs, and the training env
        brought back into its episode by replaying that episode's actions (a replay that does not
        lead to SB3's saved observation is a ``ValueError``: the env is not deterministic)."""
        assert self.train_env is not None  # run() makes it first
        algo = ALGOS[self.settings.algo].load(
            save.path("model.zip"), env=self.train_env, device=self.model.device, force_reset=False
        )
        if isinstance(algo, OffPolicyAlgorithm):
            algo.load_replay_buffer(save.path("replay.pkl"))
        progress = json.loads(save.path("progress.json").read_text())
        self.curve, self.metrics = [(int(s), float(r)) for s, r in progress["curve"]], progress["metrics"]
        state = load_state(save.path("state.pt"))
        obs = self.train_env.restore(state["env"])
        if not same_observation(obs, cast(Any, algo._last_obs)):
            raise ValueError(
                f"resuming {self.out}: replaying the training env's episode did not lead to the saved "
                "observation, so the env is not deterministic given its reset seed and actions"
            )
        set_global_rng_state(state["rng"])  # after load, which re-seeds them
        algo.action_space.np_random.bit_generator.state = state["action_space"]
        self.rng.bit_generator.state = state["learner_rng"]
        for extractor, memo in zip(memoising_extractors(algo), state["memos"], strict=True):
            extractor.memo = memo  # the features as first computed (a batch of other images rounds differently)
        if state["aux"] is not None:
            self.resumed_aux = dict(state["aux"], buffer=ReplayBuffer.load(save.path("aux.npz")))
        algo.set_logger(configure(str(self.out / "tb"), ["tensorboard"]))
        print(f"continuing SB3 {self.settings.algo} of {self.out} from {save}")
        return algo

    def evaluate(self, algo: BaseAlgorithm, steps: int) -> dict[str, float]:
        """Deterministic-policy episodes on the fixed evaluation seeds (and the world-model metrics
        of a world model being trained); logged under ``eval/`` at ``steps`` and returned; the first
        ``video_episodes`` as a video (:meth:`log_videos`)."""
        videos = self.settings.video_episodes
        agent = PolicyAgent(algo, videos)
        self.recorder.record(videos)
        out = {**evaluate_agent(self.eval_env, agent, self.runs, self.settings.max_steps), **self.baselines}
        if videos:
            self.log_videos(agent, steps)
        trained = (
            trained_world_models(algo) if self.settings.features == "worldmodel" and not self.settings.freeze else []
        )
        if trained and self.eval_data is not None:
            out.update(evaluate(trained[0], **self.eval_data.tensors(), seed=self.seed))
        self.curve.append((steps, out["return"]))
        log.info(f"{self.settings.algo} evaluation at env step {steps}: return {out['return']:.3f}")
        self.logger.record_dict("eval", out)
        self.logger.dump(steps)
        self.metrics = out
        return out

    def log_videos(self, agent: PolicyAgent, steps: int) -> None:
        """The recorded evaluation episodes as the video ``eval/video``, the critic's value under each
        frame (:func:`critic_value`) and its first value in the caption."""
        recordings = self.recorder.recordings
        notes = [[f"critic V {v:+.2f}" for v in values] for values in agent.values]
        captions = [
            describe(rec, f"critic's value at the start {values[0]:.2f}" if values else "")
            for rec, values in zip(recordings, agent.values)
        ]
        log_videos(self.logger, recordings, steps, notes, captions, self.out, self.settings.video_file)

    def run(self, data: RunData) -> dict[str, float]:
        """Prepare the world model, learn, evaluate; returns the final metrics (with the
        pretraining's under ``pretrain/``)."""
        self.eval_data = data.eval_data()
        pretrain = self.prepare_world_model(data) if self.settings.features == "worldmodel" else {}
        if self.settings.cached:
            frozen = load_world_model(self.out / "world_model.pt", map_location=self.model.device)
            self.sb3_env = policy_env(self.env, self.settings, frozen)
            self.eval_env = policy_env(self.eval_env, self.settings, frozen)
        self.baselines = baselines(self.eval_env, self.runs, self.settings.max_steps, self.seed + BASELINES)
        self.train_env = SeededEpisodes(Monitor(self.sb3_env), self.seed + SB3_ENV)
        save = committed_save(self.out, "sb3")
        algo = self.load_progress(save) if save is not None else self.build()
        done = algo.num_timesteps
        callback = _Callback(self, self.settings.total_steps, done)
        algo.learn(self.settings.total_steps - done, callback=callback, log_interval=1, reset_num_timesteps=done == 0)
        if not self.curve or self.curve[-1][0] != algo.num_timesteps:
            self.evaluate(algo, algo.num_timesteps)
        algo.save(self.out / "sb3_model.zip")
        write_json(self.out / "curve.json", {"steps": [s for s, _ in self.curve], "return": [r for _, r in self.curve]})
        self.eval_env.close()
        return {**self.metrics, **{f"pretrain/{k}": v for k, v in pretrain.items()}}
