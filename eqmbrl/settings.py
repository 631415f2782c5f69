"""The application's settings: ``trainer.*``, ``agent.*`` (online MPC) and ``agent.*`` (SB3).

Each is a frozen dataclass holding every default and its range check once, with one doc line per
field; the Hydra schemas of the config groups are made from them (:mod:`eqmbrl.core.config`), and
``eqmbrl.run`` builds them from the composed config before any env, model or file exists, so a bad
value fails first, naming the key the user types. Checks that need the env or the model happen
where those are built. The world model's own options are
:class:`worldmodels.settings.WorldModelSettings`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

from stable_baselines3 import DQN, PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from agents.mpc import check_mpc_values
from agents.sb3 import FEATURES
from eqmbrl.core.choices import check_choice

T = TypeVar("T")
LR_SCHEDULES = ("constant", "cosine")
ACTION_SCALES = ("full", "episode")
VIDEO_FILES = ("none", "gif", "mp4")
ALGOS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "sac": SAC, "dqn": DQN}
OFF_POLICY = tuple(k for k, a in ALGOS.items() if issubclass(a, OffPolicyAlgorithm))  # a replay buffer HER relabels


def _at_least(obj: Any, low: float, *names: str) -> None:
    """Each of ``names`` of ``obj`` must be >= ``low`` (one-line error naming ``KEY.name``)."""
    for name in names:
        value = getattr(obj, name)
        if value < low:
            raise ValueError(f"{obj.KEY}.{name} must be >= {low}, got {value}")


@dataclass(frozen=True)
class TrainerSettings:
    """``trainer.*``: the world model's data and training (:class:`eqmbrl.trainer.WorldModelTrainer`,
    :class:`eqmbrl.data.RunData`)."""

    KEY: ClassVar[str] = "trainer"

    episodes: int = 100
    """training episodes of the random agent."""
    episode_length: int = 50
    """steps per training episode."""
    eval_episodes: int = 100
    """evaluation episodes (all actions, their own seeds; metrics after 1, 5 and 10 steps)."""
    eval_length: int = 10
    """steps per evaluation episode."""
    epochs: int = 10
    """most epochs of Adam on the contrastive hinge loss."""
    batch_size: int = 256
    """transitions per gradient step."""
    lr: float = 5e-4
    """Adam's learning rate (online refits always use it)."""
    lr_schedule: str = "constant"
    """``constant`` (SEN's) or ``cosine``: epoch e at ``lr * (1 + cos(pi e / epochs)) / 2``."""
    patience: int = 0
    """early stopping: stop after this many epochs without a better validation score (0: off, SEN's)."""
    min_epochs: int = 0
    """never stop early before this many epochs (some models plateau before they learn)."""
    target_acc: float | None = None
    """early stopping on a goal: stop once validation successor accuracy (%) reaches this, not before
    ``min_epochs`` (None: off; needs ``patience > 0`` and an env with successor accuracy)."""
    val_episodes: int = 20
    """held-out episodes of the training agent scored each epoch when ``patience > 0``."""
    train_directions: list[int] | None = None
    """restrict training pushes to these directions (0 up, 1 left, 2 down, 3 right); evaluation uses all."""
    train_action_low: list[float] | None = None
    """lower bound per action dimension of the training torques (None: the space's)."""
    train_action_high: list[float] | None = None
    """upper bound per action dimension of the training torques (None: the space's)."""
    train_action_scale: str = "full"
    """``full`` (uniform torques) or ``episode`` (each episode's torques scaled by one s ~ U(0, 1))."""
    train_reset_options: dict[str, Any] | None = None
    """``env.reset`` options of the training and validation episodes, e.g. ``{random_arm: true}``."""
    eval_every: int = 5
    """the world-model metrics (``eval/`` in TensorBoard) every this many epochs and after the last; they
    draw on their own RNG, so this changes no result, only the curve's points and the time (every
    epoch cost 10% of the cubes goal run's wall clock, BENCHMARKS.md "Where the time goes")."""
    twin_element: int = 1
    """group element g whose rendered twins measure EE and DIE (1 = a quarter turn)."""
    buffer_path: str | None = None
    """reuse a saved training buffer instead of collecting (never overwritten)."""
    warmup_steps: int = 0
    """random steps before recording each episode (SEN's Reacher: 50)."""
    rollout_steps: int = 1
    """k of the k-step loss (1 = SEN's one-step loss)."""
    episode_negatives: bool = False
    """add the same-episode negative of :meth:`WorldModel.loss` to training batches."""
    reward_refit_steps: int = 0
    """after the last epoch, this many Adam steps on the reward head alone on frozen latents (0: none)."""
    symmetry_augment: float = 0.0
    """fraction of each batch's sequences replaced by rendered twins under random group elements (``none+aug``)."""
    large_rotations: float = 0.0
    """fraction of each batch's sequences re-rendered under Haar-random rotations beyond the action box (teapot)."""

    def __post_init__(self) -> None:
        _at_least(self, 1, "episodes", "episode_length", "eval_episodes", "eval_length", "epochs", "batch_size")
        _at_least(self, 1, "eval_every", "val_episodes", "rollout_steps")
        _at_least(self, 0, "warmup_steps", "patience", "min_epochs", "reward_refit_steps")
        if not self.lr > 0:
            raise ValueError(f"trainer.lr must be > 0, got {self.lr}")
        if self.target_acc is not None and not (0.0 < self.target_acc <= 100.0 and self.patience):
            raise ValueError(
                f"trainer.target_acc must be in (0, 100] with trainer.patience > 0 (it stops on the validation "
                f"episodes), got target_acc={self.target_acc}, patience={self.patience}"
            )
        if not 0.0 <= self.symmetry_augment <= 1.0:
            raise ValueError(f"trainer.symmetry_augment must be in [0, 1], got {self.symmetry_augment}")
        if not 0.0 <= self.large_rotations <= 1.0:
            raise ValueError(f"trainer.large_rotations must be in [0, 1], got {self.large_rotations}")
        check_choice("trainer.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_choice("trainer.train_action_scale", self.train_action_scale, ACTION_SCALES)
        if self.rollout_steps > self.episode_length:
            raise ValueError(
                f"trainer.rollout_steps must be <= trainer.episode_length ({self.episode_length}), "
                f"got {self.rollout_steps}"
            )
        if self.buffer_path is not None:  # stored absolute: the run may be resumed from another cwd
            object.__setattr__(self, "buffer_path", str(Path(self.buffer_path).expanduser().resolve()))


@dataclass(frozen=True)
class VideoSettings:
    """``agent.video_*`` of every agent loop: evaluation episodes as videos (:mod:`eqmbrl.video`);
    :class:`OnlineSettings` and :class:`SB3Settings` take these fields from here."""

    KEY: ClassVar[str] = "agent"

    video_episodes: int = 1
    """evaluation episodes shown per evaluation as the TensorBoard video ``eval/video`` (0: no video)."""
    video_file: str = "none"
    """also write each evaluation's video into the run dir's ``videos/`` as ``gif`` or ``mp4`` (``none``: not)."""

    def __post_init__(self) -> None:
        _at_least(self, 0, "video_episodes")
        check_choice(f"{self.KEY}.video_file", self.video_file, VIDEO_FILES)


@dataclass(frozen=True)
class GoalSettings(VideoSettings):
    """``agent.max_steps`` and ``agent.goal_distances`` of every agent loop: how long its episodes run
    and, on goal envs, how far away its evaluation goals are (the same for latent MPC and SB3, so that
    ``eqmbrl.evaluate`` scores both on the same goals); :class:`OnlineSettings` and
    :class:`SB3Settings` take these fields from here."""

    KEY: ClassVar[str] = "agent"

    max_steps: int | None = None
    """step budget of the agent's episodes (None: until the env ends it); SB3 caps its evaluation episodes only."""
    goal_distances: list[int] = field(default_factory=lambda: [1, 2, 3])
    """goal distances (moves) of the evaluation episodes on goal envs (and of MPC's online episodes)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_steps is not None:
            _at_least(self, 1, "max_steps")
        if not self.goal_distances or min(self.goal_distances) < 0:
            raise ValueError(f"agent.goal_distances must list goal distances >= 0, got {list(self.goal_distances)}")


@dataclass(frozen=True)
class OnlineSettings(GoalSettings):
    """``agent.*`` of ``agent=cem|mppi|search``: online latent MPC (:class:`eqmbrl.online.OnlineMPC`
    and its :class:`agents.mpc.MPCAgent`); ``video_*``, ``max_steps`` and ``goal_distances`` from
    :class:`GoalSettings`."""

    KEY: ClassVar[str] = "agent"

    objective: str = "reward"
    """``reward`` (the learned reward) or ``goal`` (latent distance to a goal image; goal envs)."""
    exploration_std: float = 0.1
    """Gaussian noise on continuous actions while collecting (not in evaluation)."""
    epsilon: float = 0.0
    """probability of a random discrete action while collecting."""
    goal_reduce: str = "discounted"
    """how the goal objective scores a plan from its energies: ``discounted``, ``best`` or ``final``."""
    goal_discount: float = 0.9
    """discount of the ``discounted`` goal score, in (0, 1]."""
    export: bool = True
    """plan on the frozen, exported copy of the world model (same function, faster)."""
    terminal_weight: float = 0.0
    """weight of the reward objective's terminal value (continuous planners only)."""
    episodes: int = 10
    """online MPC episodes after the seed data."""
    refit_every: int = 50
    """refit the world model after each this many online env steps (0: never)."""
    refit_steps: int = 50
    """gradient steps per refit (the trainer's batch size and learning rate)."""
    refit_online_fraction: float = 0.0
    """fraction of each refit batch drawn from the online episodes (0: uniform over the buffer)."""
    final_reward_refit: bool = False
    """after the last episode, refit the reward head alone (``trainer.reward_refit_steps`` steps) and evaluate again."""
    eval_episodes: int = 5
    """noise-free evaluation episodes (per goal distance for the goal objective)."""
    eval_every: int = 5
    """evaluate every this many online episodes (and after the last)."""
    save_every: int = 10
    """write the resume state and the whole buffer every this many episodes (and after the last)."""
    planner: dict[str, Any] = field(default_factory=dict)
    """the planner's config (``_target_`` and its arguments; built by ``eqmbrl.run.build_planner``)."""
    imagined_plan: bool = True
    """draw each evaluation's first plan as the nearest real frames beside the real ones (``eval/imagined``)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_mpc_values(self.objective, self.goal_reduce, self.goal_discount, self.terminal_weight, "agent.")
        if not 0 <= self.refit_online_fraction <= 1:
            raise ValueError(f"agent.refit_online_fraction must be in [0, 1], got {self.refit_online_fraction}")
        _at_least(self, 0, "episodes", "refit_every", "refit_steps")
        _at_least(self, 1, "eval_episodes", "eval_every", "save_every")


@dataclass(frozen=True)
class SB3Settings(GoalSettings):
    """``agent.*`` of ``agent=ppo|sac|dqn``: SB3 on world-model features (:class:`eqmbrl.rl.SB3Learner`);
    ``video_*``, ``max_steps`` and ``goal_distances`` from :class:`GoalSettings`."""

    KEY: ClassVar[str] = "agent"

    algo: str = "sac"
    """``ppo``, ``sac`` or ``dqn``."""
    features: str = "worldmodel"
    """``worldmodel`` (:class:`agents.sb3.WorldModelExtractor`) or ``nature_cnn`` (SB3's CNN, the baseline)."""
    checkpoint: str | None = None
    """world-model weights to start from (a run's ``checkpoint.pt``); skips pretraining."""
    pretrain: bool = True
    """fit the world model on random data first when no checkpoint is given."""
    freeze: bool = True
    """keep the world model fixed (True) or fine-tune it with the RL loss."""
    invariant: bool = False
    """features pooled over the group."""
    normalize_features: bool = False
    """layer-normalise the features (bounds them however fine-tuning moves the encoder)."""
    fixed_batchnorm: bool = False
    """when fine-tuning, keep the world model's BatchNorm on its running statistics."""
    cache_latents: bool = True
    """with a frozen world model, encode each image once: in the env (an MlpPolicy), or memoised (goal Dicts)."""
    goal_observation: bool = False
    """see a goal env as Dict(observation, achieved_goal, desired_goal) images (a MultiInputPolicy)."""
    her: bool = False
    """SB3's HerReplayBuffer relabels the goals of the replay buffer (needs goal_observation and algo dqn or sac)."""
    random_shift: int = 0
    """DrQ's random shift: pad images by this many pixels and crop back at random, in training batches (0: off)."""
    aux_weight: float = 0.0
    """weight of the auxiliary contrastive loss on the agent's own transitions (needs freeze=false)."""
    aux_batch_size: int = 256
    """batch size of the auxiliary loss."""
    aux_lr: float = 5e-4
    """Adam learning rate of the auxiliary loss."""
    total_steps: int = 5000
    """env steps of ``learn``."""
    eval_every: int = 1000
    """evaluate every this many env steps."""
    eval_episodes: int = 5
    """deterministic-policy episodes per evaluation (per goal distance on goal envs)."""
    algo_kwargs: dict[str, Any] = field(default_factory=dict)
    """keyword arguments of the SB3 algorithm (SAC's and DQN's ``buffer_size`` defaults to ``total_steps``)."""
    policy: dict[str, Any] = field(default_factory=dict)
    """further ``policy_kwargs`` (``net_arch``, ``share_features_extractor``, ...)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("agent.algo", self.algo, ALGOS)
        check_choice("agent.features", self.features, FEATURES)
        _at_least(self, 1, "total_steps", "eval_every", "eval_episodes", "aux_batch_size")
        _at_least(self, 0, "random_shift")
        if self.random_shift and self.cached:
            raise ValueError(
                f"agent.random_shift={self.random_shift} shifts images, but cached latents (agent.cache_latents=true "
                "with a frozen world model) are encoded before any batch: set agent.cache_latents=false"
            )
        if not self.aux_lr > 0:
            raise ValueError(f"agent.aux_lr must be > 0, got {self.aux_lr}")
        if self.aux_weight < 0 or (self.aux_weight > 0 and (self.freeze or self.features != "worldmodel")):
            raise ValueError(
                f"agent.aux_weight={self.aux_weight}: the auxiliary loss needs aux_weight >= 0 and trains "
                "a world model the RL loss trains too: use features=worldmodel with freeze=false"
            )
        if self.checkpoint is not None and self.features != "worldmodel":
            raise ValueError(
                "agent.checkpoint is a world-model checkpoint; it needs features=worldmodel, "
                f"got features={self.features}"
            )
        if self.checkpoint is not None:
            if not Path(self.checkpoint).is_file():
                raise FileNotFoundError(f"agent.checkpoint {self.checkpoint} does not exist")
            object.__setattr__(self, "checkpoint", str(Path(self.checkpoint).resolve()))
        self._check_goals()

    def _check_goals(self) -> None:
        """``goal_observation`` and ``her`` against the other options (one-line errors naming why)."""
        if self.goal_observation and self.features != "worldmodel":
            raise ValueError(
                f"agent.goal_observation=true encodes the goal image with the world model: it needs "
                f"features=worldmodel, got features={self.features}"
            )
        if self.her and not self.goal_observation:
            raise ValueError("agent.her=true relabels the goals of goal observations: set agent.goal_observation=true")
        if self.her and self.algo not in OFF_POLICY:
            raise ValueError(
                f"agent.her=true relabels a replay buffer, which agent.algo={self.algo} (on-policy) has none: "
                f"use agent=dqn (discrete actions) or agent=sac"
            )

    @property
    def cached(self) -> bool:
        """Whether each observation is encoded once in the env (:class:`agents.sb3.LatentObservation`):
        ``cache_latents`` with a frozen world model on image observations. Goal Dicts stay images
        (HER scores relabelled goals with the env's own reward, read from the images); their
        latents are memoised in the policy's extractor instead (``WorldModelExtractor(memoize=True)``)."""
        return self.cache_latents and self.freeze and self.features == "worldmodel" and not self.goal_observation


def from_config(cls: type[T], values: dict[str, Any]) -> T:
    """``cls(**values)`` without the config's ``_target_``; an unknown key is a one-line error."""
    values = {k: v for k, v in values.items() if k != "_target_"}
    names = {f.name for f in dataclasses.fields(cast(Any, cls))}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(
            f"{getattr(cls, 'KEY', cls.__name__)} has no option {unknown}; allowed: {', '.join(sorted(names))}"
        )
    return cls(**values)
