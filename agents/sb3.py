"""Stable-Baselines3 features extractor on a trained world model's latents, and ``policy_kwargs``.

``WorldModelExtractor`` encodes image observations with a :class:`WorldModel` and hands its
latents to SB3's policy/value heads: ``z.flatten(1)`` (``[B, K * C]``), or with
``invariant=True`` the latents pooled over each regular field's fibre (``[B, K * C / |G|]``),
which no group element changes. Swapping extractors is one argument::

    PPO("CnnPolicy", env, policy_kwargs=policy_kwargs("worldmodel", checkpoint="wm.pt"))
    PPO("CnnPolicy", env, policy_kwargs=policy_kwargs("nature_cnn"))
    SAC("CnnPolicy", env, policy_kwargs=policy_kwargs("worldmodel", "sac", world_model=model))

**Checkpoints** are world-model checkpoints (:mod:`worldmodels.persistence`): the weights and the
``build_world_model`` kwargs that rebuild the model, as every run writes them (``checkpoint.pt``,
``world_model.pt``); ``model_kwargs`` overrides the stored kwargs.

**SB3 notes.** SB3 already divides uint8 images by 255, so observations arrive in [0, 1].
Each extractor holds its own deep copy of the world model (SAC's actor, critic and target
critic get independent copies; the caller's model is never changed). PPO/A2C's ``ortho_init``
would re-initialise the world model's ``Linear``/``Conv2d`` layers when the policy is built, so
:func:`policy_kwargs` sets ``ortho_init=False`` for them. A policy saved with ``model.save``
rebuilds the extractor from its kwargs on ``load`` (a ``checkpoint`` path must still exist; a
``world_model`` object is cloudpickled into the zip), then loads the saved weights over it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from escnn import nn as enn
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, NatureCNN

from agents.random_shift import random_shift
from eqmbrl.core.choices import check_choice
from eqmbrl.core.types import to_float_images
from worldmodels.persistence import clone_world_model, evaluating, load_world_model
from worldmodels.world_model import WorldModel

POOLS = ("max", "mean")
ON_POLICY = ("ppo", "a2c")  # algorithms whose ortho_init would re-initialise the world model
MEMO_SIZE = 500_000  # most images whose features a memoising extractor keeps (then it starts afresh)


# --------------------------------------------------------------------------- input shape
def check_observation_space(observation_space: spaces.Space, model: WorldModel) -> None:
    """Raise ``ValueError`` unless ``observation_space`` is a ``Box(C, H, W)`` that ``model`` encodes.

    Compares with the model's input shape (``model.shape``: ``in_channels``, ``image_size``), then encodes
    one blank observation (in eval mode, so BatchNorm statistics are untouched) and checks the
    latents are ``[1, K, C]``.
    """
    if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 3:
        raise ValueError(f"WorldModelExtractor needs image observations Box(C, H, W), got {observation_space}")
    shape = tuple(int(n) for n in observation_space.shape)
    c, size = model.shape.in_channels, model.shape.image_size
    if shape != (c, size, size):
        raise ValueError(f"observation space {shape} does not match the world model's input {(c, size, size)}")
    try:
        with evaluating(model):
            z = model.encode(torch.zeros(1, *shape, device=model.device))
    except (RuntimeError, ValueError, AssertionError) as exc:
        raise ValueError(
            f"observation space {shape} does not fit the world model: {' '.join(str(exc).split())[:300]}"
        ) from exc
    want = (1, model.slots, model.latent_type.size)
    if tuple(z.shape) != want:
        raise ValueError(f"observation space {shape} gives latents {tuple(z.shape)}, the world model's are {want}")


# --------------------------------------------------------------------------- features
def fibre_size(latent_type: enn.FieldType) -> int:
    """Size |G| of the regular fields that make up ``latent_type`` (1 for the trivial group)."""
    names = sorted({r.name for r in latent_type.representations})
    sizes = {r.size for r in latent_type.representations}
    if names != ["regular"] or len(sizes) != 1:
        raise ValueError(f"invariant features need latents of regular fields only, got representations {names}")
    return sizes.pop()


def latent_features(z: torch.Tensor, fibre: int = 1, pool: str | None = None, normalize: bool = False) -> torch.Tensor:
    """Latents ``[B, K, C]`` -> features ``[B, K * C]`` (``pool=None``) or ``[B, K * C / fibre]``.

    ``pool`` (``"max"`` or ``"mean"``) reduces each field's ``fibre`` consecutive channels; on
    regular fields a group element permutes the fibre, so pooled features are G-invariant.
    ``normalize``: layer-normalise each feature vector (zero mean, unit variance, no learned
    affine), which bounds its norm by sqrt(features) whatever the encoder does. A group element
    only permutes the channels of regular fields, so the mean and variance are invariant and the
    normalised features stay equivariant (or invariant, when pooled).
    """
    if pool is None:
        features = z.flatten(1)
    else:
        check_choice("pool", pool, POOLS)
        if fibre < 1 or z.shape[-1] % fibre:
            raise ValueError(f"latent width {z.shape[-1]} is not a multiple of the fibre size {fibre}")
        fields = z.unflatten(-1, (-1, fibre))
        features = (fields.amax(-1) if pool == "max" else fields.mean(-1)).flatten(1)
    return F.layer_norm(features, features.shape[-1:]) if normalize else features


def _resolve_model(
    world_model: WorldModel | None, checkpoint: str | os.PathLike | None, model_kwargs: Mapping[str, Any] | None
) -> WorldModel:
    """The extractor's own world model: a copy of ``world_model`` or one loaded from ``checkpoint``."""
    if (world_model is None) == (checkpoint is None):
        raise ValueError(
            "give exactly one of world_model (a WorldModel) or checkpoint (a path written by "
            f"save_world_model); got world_model={type(world_model).__name__}, checkpoint={checkpoint!r}"
        )
    if checkpoint is not None:
        return load_world_model(checkpoint, model_kwargs)
    if not isinstance(world_model, WorldModel):
        raise ValueError(f"world_model must be a WorldModel, got {type(world_model).__name__}")
    return clone_world_model(world_model)


class WorldModelExtractor(BaseFeaturesExtractor):
    """SB3 features extractor: image observations ``[B, C, H, W]`` -> world-model latent features.

    Features are ``z.flatten(1)`` (``[B, K * C]``) or, with ``invariant=True``, ``z`` pooled by
    ``pool`` over each regular field (``[B, K * C / |G|]``, unchanged by every group element;
    suited to invariant targets such as values, not to an equivariant policy).

    ``world_model`` (deep-copied) or ``checkpoint`` (see
    :func:`worldmodels.persistence.load_world_model`; ``model_kwargs`` overrides its stored
    kwargs): exactly one. ``freeze=True``: no gradients and the world model stays in eval mode
    whatever mode SB3 sets; ``freeze=False``: fine-tuned by the RL loss, following SB3's mode.
    ``shift > 0``: DrQ's random shift by up to ``shift`` pixels of every batch seen in training mode
    (:mod:`agents.random_shift`). A goal ``Dict`` observation space (``observation`` and
    ``desired_goal`` images, :mod:`envs.goal_dict`) gives the features of the current image and of
    the goal image side by side (twice the width), both from one batched encoding.

    ``memoize=True`` (a frozen world model without shift only; ignored otherwise): the features of
    each distinct image are computed once and kept, keyed by a digest of its pixels, so that the
    images of replay batches (seen before while acting, and HER's relabelled goals, which are
    images the episode reached) are not encoded again: the latent cache of goal ``Dict``
    observations, whose goals must stay images for HER's reward. Its world model is then kept out
    of the module tree (and out of the policy's ``state_dict``, rebuilt from ``checkpoint`` or
    ``world_model`` on load): nothing trains it, and walking its escnn modules, as SB3's gradient
    clipping does on every step, cost more than the Q-network's whole update.
    """

    def __init__(
        self,
        observation_space: spaces.Box | spaces.Dict,
        world_model: WorldModel | None = None,
        checkpoint: str | os.PathLike | None = None,
        model_kwargs: Mapping[str, Any] | None = None,
        freeze: bool = True,
        invariant: bool = False,
        pool: str = "max",
        normalize: bool = False,
        fixed_batchnorm: bool = False,
        shift: int = 0,
        memoize: bool = False,
    ) -> None:
        check_choice("pool", pool, POOLS)
        if shift < 0:
            raise ValueError(f"shift must be >= 0 pixels, got {shift}")
        model = _resolve_model(world_model, checkpoint, model_kwargs)
        self.goal = isinstance(observation_space, spaces.Dict)
        image_space: spaces.Space = observation_space
        if isinstance(observation_space, spaces.Dict):
            if not {"observation", "desired_goal"} <= set(observation_space.spaces):
                raise ValueError(
                    f"a Dict observation space needs 'observation' and 'desired_goal' images, got keys "
                    f"{sorted(observation_space.spaces)} (envs.goal_dict.GoalDictObservation makes them)"
                )
            image_space = observation_space["observation"]
        check_observation_space(image_space, model)
        fibre = fibre_size(model.latent_type) if invariant else 1
        super().__init__(observation_space, (1 + self.goal) * model.slots * model.latent_type.size // fibre)
        self.freeze, self.invariant, self.pool, self.fibre = bool(freeze), bool(invariant), pool, fibre
        self.normalize, self.fixed_batchnorm, self.shift = bool(normalize), bool(fixed_batchnorm), int(shift)
        self.memo: dict[bytes, torch.Tensor] | None = {} if memoize and self.freeze and not self.shift else None
        if self.memo is None:
            self.world_model = model
        else:  # a plain attribute, not a submodule (class doc); _apply still moves it
            object.__setattr__(self, "world_model", model)
        model.requires_grad_(not self.freeze).train(not self.freeze)  # frozen: eval mode for good
        self.train(self.training)

    def _apply(self, fn: Any, recurse: bool = True) -> WorldModelExtractor:
        """``to``, ``cuda``, ``float``, ...: also on a memoising extractor's world model (not a submodule)."""
        super()._apply(fn, recurse)
        if self.memo is not None:
            self.world_model._apply(fn, recurse)
            self.memo.clear()  # its features may be on another device now
        return self

    def train(self, mode: bool = True) -> WorldModelExtractor:
        """Set the training mode; a frozen world model stays in eval mode, a tuned one follows ``mode``."""
        self.training = bool(mode)
        if not self.freeze:
            self.world_model.train(mode)
            if self.fixed_batchnorm:
                for module in self.world_model.modules():
                    if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                        module.eval()
        return self

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, K, C]`` -> features ``[B, features_dim]``."""
        return latent_features(z, self.fibre, self.pool if self.invariant else None, self.normalize)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``[N, C, H, W]`` in [0, 1] -> features ``[N, world-model features]``, through the memo
        if there is one (class doc)."""
        if self.memo is None:
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
                return self.features(self.world_model.encode(images))
        pixels = images.detach().contiguous().cpu().numpy()  # float32: exact keys, no rounding pass
        keys = [hashlib.blake2b(memoryview(row), digest_size=16).digest() for row in pixels]
        new = {k: i for i, k in enumerate(keys) if k not in self.memo}  # one row per distinct new image
        if new:
            if len(self.memo) + len(new) > MEMO_SIZE:
                self.memo.clear()
            with torch.no_grad():
                features = self.features(self.world_model.encode(images[list(new.values())]))
            self.memo.update(zip(new, features))
        return torch.stack([self.memo[k] for k in keys])

    def forward(self, observations: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        """Observations ``[B, C, H, W]`` in [0, 1] (SB3 already divided uint8 by 255) -> ``[B, features_dim]``;
        for goal Dicts, the features of ``observation`` and of ``desired_goal``, concatenated."""
        if isinstance(observations, dict) and self.memo is not None:  # each key through the memo
            return torch.cat([self.encode(observations["observation"]), self.encode(observations["desired_goal"])], 1)
        if isinstance(observations, dict):
            images = torch.cat([observations["observation"], observations["desired_goal"]])
        else:
            images = observations
        if self.training and self.shift:
            images = random_shift(images, self.shift)
        features = self.encode(images)
        return torch.cat(features.chunk(2), 1) if self.goal else features


class LatentObservation(gym.ObservationWrapper):
    """An image env seen through a frozen world model: observations become latent features.

    Each observation is encoded once, when the env produces it, so an SB3 ``MlpPolicy`` on the
    wrapped env stores features (not images) in its replay buffer and never runs the encoder in its
    networks (SAC's actor, critic and target critic would each run their own copy of a frozen
    :class:`WorldModelExtractor`). Features as :class:`WorldModelExtractor`'s: ``[K * C]`` float32,
    or ``[K * C / |G|]`` with ``invariant=True``, layer-normalised with ``normalize=True``. The
    world model is copied and kept in eval mode.
    """

    def __init__(
        self, env: gym.Env, world_model: WorldModel, invariant: bool = False, pool: str = "max", normalize: bool = False
    ) -> None:
        super().__init__(env)
        check_choice("pool", pool, POOLS)
        self.world_model = clone_world_model(world_model).eval().requires_grad_(False)
        check_observation_space(env.observation_space, self.world_model)
        self.fibre = fibre_size(self.world_model.latent_type) if invariant else 1
        self.pool, self.normalize = (pool if invariant else None), bool(normalize)
        dim = self.world_model.slots * self.world_model.latent_type.size // self.fibre
        self.observation_space = spaces.Box(-np.inf, np.inf, (dim,), np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """uint8 image ``[C, H, W]`` -> features float32 ``[features_dim]``."""
        with torch.inference_mode():
            x = to_float_images(torch.as_tensor(observation, device=self.world_model.device)[None])
            return latent_features(self.world_model.encode(x), self.fibre, self.pool, self.normalize)[0].cpu().numpy()


class ShiftedNatureCNN(NatureCNN):
    """SB3's ``NatureCNN`` with DrQ's random shift by up to ``shift`` pixels of every batch seen in
    training mode (``shift=0``: SB3's network exactly)."""

    def __init__(
        self, observation_space: spaces.Box, features_dim: int = 512, normalized_image: bool = False, shift: int = 0
    ) -> None:
        if shift < 0:
            raise ValueError(f"shift must be >= 0 pixels, got {shift}")
        super().__init__(observation_space, features_dim, normalized_image)
        self.shift = int(shift)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """Observations ``[B, C, H, W]`` in [0, 1] -> ``[B, features_dim]``."""
        if self.training and self.shift:
            observations = random_shift(observations, self.shift)
        return super().forward(observations)


# --------------------------------------------------------------------------- policy kwargs
FEATURES: dict[str, type[BaseFeaturesExtractor]] = {
    "worldmodel": WorldModelExtractor,
    "nature_cnn": ShiftedNatureCNN,
    "natural_cnn": ShiftedNatureCNN,
}


def policy_kwargs(
    features: str = "worldmodel", algo: str = "ppo", policy: Mapping[str, Any] | None = None, **extractor_kwargs: Any
) -> dict[str, Any]:
    """``policy_kwargs`` for SB3 algorithm ``algo`` with the ``features`` extractor.

    ``extractor_kwargs`` go to the extractor (``world_model`` or ``checkpoint``, ``freeze``,
    ``invariant``, ``shift``, ... for ``worldmodel``; ``features_dim``, ``shift`` for ``nature_cnn``); ``policy`` holds
    further policy kwargs (``net_arch``, ``share_features_extractor``, ...). With ``worldmodel``
    and PPO/A2C, ``ortho_init`` is set to False so the pretrained weights survive.
    """
    check_choice("features", features, FEATURES)
    policy = dict(policy or {})
    out: dict[str, Any] = {
        "features_extractor_class": FEATURES[features],
        "features_extractor_kwargs": dict(extractor_kwargs),
    }
    if features == "worldmodel" and algo in ON_POLICY:
        if policy.get("ortho_init", False):
            raise ValueError(
                "ortho_init=True would re-initialise the pretrained world model's Linear/Conv2d "
                "layers when the policy is built; leave it out (policy_kwargs sets it to False)"
            )
        out["ortho_init"] = False
    return {**out, **policy}
