"""Stable-Baselines3 features extractor on a trained world model's latents, and ``policy_kwargs``.

``WorldModelExtractor`` encodes image observations with a :class:`WorldModel` and hands its
latents to SB3's policy/value heads: ``z.flatten(1)`` (``[B, K * C]``), or with
``invariant=True`` the latents pooled over each regular field's fibre (``[B, K * C / |G|]``),
which no group element changes. Swapping extractors is one argument::

    PPO("CnnPolicy", env, policy_kwargs=policy_kwargs("worldmodel", checkpoint="wm.pt"))
    PPO("CnnPolicy", env, policy_kwargs=policy_kwargs("nature_cnn"))
    SAC("CnnPolicy", env, policy_kwargs=policy_kwargs("worldmodel", "sac", world_model=model))

**Checkpoint convention.** A world-model checkpoint is an :func:`eqmbrl.checkpoint.save_checkpoint`
file whose dict also holds ``model_kwargs``: the keyword arguments of
:func:`worldmodels.world_model.build_world_model` that rebuild the model. Write it with
:func:`save_world_model`; read it with :func:`load_world_model`. Checkpoints without
``model_kwargs`` (e.g. the trainer's ``checkpoint.pt``) load when ``model_kwargs`` is passed.
Either way the weights load whatever mode (train/eval) the model was saved in: escnn layers
cache their expanded filters as extra buffers in eval mode only, so checkpoints are written in
train mode (:mod:`eqmbrl.checkpoint`).

**SB3 notes.** SB3 already divides uint8 images by 255, so observations arrive in [0, 1].
Each extractor holds its own deep copy of the world model (SAC's actor, critic and target
critic get independent copies; the caller's model is never changed). PPO/A2C's ``ortho_init``
would re-initialise the world model's ``Linear``/``Conv2d`` layers when the policy is built, so
:func:`policy_kwargs` sets ``ortho_init=False`` for them. A policy saved with ``model.save``
rebuilds the extractor from its kwargs on ``load`` (a ``checkpoint`` path must still exist; a
``world_model`` object is cloudpickled into the zip), then loads the saved weights over it.
"""
from __future__ import annotations

import copy
import inspect
import math
import os
from typing import Any, Mapping

import torch
from escnn import nn as enn
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, NatureCNN
from torch import nn

from eqmbrl.checkpoint import load_checkpoint, load_weights, save_checkpoint, train_mode_state
from worldmodels.embedding import SymmetricEmbedding
from worldmodels.world_model import WorldModel, build_world_model

POOLS = ("max", "mean")
ON_POLICY = ("ppo", "a2c")
ALGOS = ON_POLICY + ("sac", "td3", "ddpg", "dqn")


# --------------------------------------------------------------------------- checkpoints
def _build(model_kwargs: Mapping[str, Any], source: str) -> WorldModel:
    """``build_world_model(**model_kwargs)`` with a clear error for keys it does not take."""
    allowed = inspect.signature(build_world_model).parameters
    unknown = sorted(set(model_kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"{source}: model_kwargs has keys {unknown} that build_world_model does not take; "
                         f"allowed: {', '.join(allowed)}")
    return build_world_model(**model_kwargs)


def save_world_model(path: str | os.PathLike, model: WorldModel, model_kwargs: Mapping[str, Any],
                     **extra: Any) -> None:
    """Save ``model``'s weights with the ``build_world_model`` kwargs that rebuild it (and ``extra``).

    Checks first that ``model_kwargs`` build a model with the same weight names and shapes.
    """
    fresh = _build(model_kwargs, "save_world_model").train()
    want = {k: tuple(v.shape) for k, v in fresh.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in train_mode_state(model).items()}
    if want != have:
        diff = sorted(set(want.items()) ^ set(have.items()))[:3]
        raise ValueError(f"model_kwargs {dict(model_kwargs)} do not rebuild this model; first differences "
                         f"(name, shape): {diff}")
    save_checkpoint(path, model, model_kwargs=dict(model_kwargs), **extra)


def load_world_model(path: str | os.PathLike, model_kwargs: Mapping[str, Any] | None = None,
                     map_location: str | torch.device = "cpu") -> tuple[WorldModel, dict[str, Any]]:
    """Rebuild and load a world model from ``path``; returns ``(model in eval mode, model_kwargs)``.

    ``model_kwargs`` overrides (or stands in for) the checkpoint's own ``model_kwargs`` entry.
    Raises ``FileNotFoundError`` for a missing file, ``ValueError`` for a corrupt or unfitting one.
    """
    ckpt = load_checkpoint(path, map_location=map_location)
    kwargs = dict(model_kwargs) if model_kwargs is not None else ckpt.get("model_kwargs")
    if not isinstance(kwargs, dict):
        raise ValueError(f"checkpoint {path} stores no 'model_kwargs' (the build_world_model kwargs); write it "
                         "with agents.sb3.save_world_model(path, model, model_kwargs) or pass model_kwargs=")
    model = _build(kwargs, f"checkpoint {path}").train()
    load_weights(model, ckpt["model"], f"checkpoint {path}", f"the model built from {kwargs}")
    with torch.no_grad():   # eval mode caches escnn filters; keep them free of autograd graphs
        model.eval()
    return model, kwargs


# --------------------------------------------------------------------------- input shape
def world_model_input_shape(model: WorldModel,
                            model_kwargs: Mapping[str, Any] | None = None) -> tuple[int, int, int] | None:
    """Observation shape ``(C, H, W)`` the world model was built for, or ``None`` where unknown.

    Taken from ``model_kwargs`` (``in_channels``, ``image_size``, else build_world_model's defaults)
    when given, else read off a SEN :class:`SymmetricEmbedding` (first conv, stride, MLP width).
    """
    if model_kwargs is not None:
        defaults = inspect.signature(build_world_model).parameters
        c = model_kwargs.get("in_channels", defaults["in_channels"].default)
        s = model_kwargs.get("image_size", defaults["image_size"].default)
        return int(c), int(s), int(s)
    emb = model.embedding
    if not isinstance(emb, SymmetricEmbedding):
        return None
    convs = [m for m in emb.cnn if isinstance(m, nn.Conv2d)]
    first_linear = next(m for m in emb.mlp if isinstance(m, nn.Linear))
    masks = convs[-1].out_channels // emb.slots
    side = math.isqrt(first_linear.in_features // masks) * convs[0].stride[0]
    return convs[0].in_channels, side, side


def check_observation_space(observation_space: spaces.Space, model: WorldModel,
                            model_kwargs: Mapping[str, Any] | None = None) -> None:
    """Raise ``ValueError`` unless ``observation_space`` is a ``Box(C, H, W)`` that ``model`` encodes.

    Compares with :func:`world_model_input_shape`, then encodes one blank observation (in eval
    mode, so BatchNorm statistics are untouched) and checks the latents are ``[1, K, C]``.
    """
    if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 3:
        raise ValueError(f"WorldModelExtractor needs image observations Box(C, H, W), got {observation_space}")
    shape = tuple(int(n) for n in observation_space.shape)
    expected = world_model_input_shape(model, model_kwargs)
    if expected is not None and shape != expected:
        raise ValueError(f"observation space {shape} does not match the world model's input {expected}")
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()
            z = model.encode(torch.zeros(1, *shape, device=model.device))
    except (RuntimeError, ValueError, AssertionError) as exc:
        raise ValueError(f"observation space {shape} does not fit the world model: "
                         f"{' '.join(str(exc).split())[:300]}") from exc
    finally:
        with torch.no_grad():
            model.train(was_training)
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


def latent_features(z: torch.Tensor, fibre: int = 1, pool: str | None = None) -> torch.Tensor:
    """Latents ``[B, K, C]`` -> features ``[B, K * C]`` (``pool=None``) or ``[B, K * C / fibre]``.

    ``pool`` (``"max"`` or ``"mean"``) reduces each field's ``fibre`` consecutive channels; on
    regular fields a group element permutes the fibre, so pooled features are G-invariant.
    """
    if pool is None:
        return z.flatten(1)
    if pool not in POOLS:
        raise ValueError(f"unknown pool {pool!r}; allowed: {', '.join(POOLS)}")
    if fibre < 1 or z.shape[-1] % fibre:
        raise ValueError(f"latent width {z.shape[-1]} is not a multiple of the fibre size {fibre}")
    fields = z.unflatten(-1, (-1, fibre))
    return (fields.amax(-1) if pool == "max" else fields.mean(-1)).flatten(1)


def _caches_in_eval(module: nn.Module) -> bool:
    """Whether ``module`` is an escnn layer that caches expanded weights in eval mode (e.g. R2Conv)."""
    return isinstance(module, enn.EquivariantModule) and type(module).train is not nn.Module.train


def _resolve_model(world_model: WorldModel | None, checkpoint: str | os.PathLike | None,
                   model_kwargs: Mapping[str, Any] | None) -> tuple[WorldModel, dict[str, Any] | None]:
    """The extractor's own world model: a deep copy of ``world_model`` or one loaded from ``checkpoint``."""
    if (world_model is None) == (checkpoint is None):
        raise ValueError("give exactly one of world_model (a WorldModel) or checkpoint (a path written by "
                         f"save_world_model); got world_model={type(world_model).__name__}, checkpoint={checkpoint!r}")
    if checkpoint is not None:
        return load_world_model(checkpoint, model_kwargs)
    if not isinstance(world_model, WorldModel):
        raise ValueError(f"world_model must be a WorldModel, got {type(world_model).__name__}")
    return clone_world_model(world_model), (None if model_kwargs is None else dict(model_kwargs))


def clone_world_model(model: WorldModel) -> WorldModel:
    """``copy.deepcopy`` that also works in eval mode, where escnn's cached filters are non-leaf
    tensors (computed from the weights with autograd on) that ``deepcopy`` refuses: they are
    copied detached."""
    memo: dict[int, Any] = {id(b): b.detach().clone() for b in model.buffers() if not b.is_leaf}
    return copy.deepcopy(model, memo)


class WorldModelExtractor(BaseFeaturesExtractor):
    """SB3 features extractor: image observations ``[B, C, H, W]`` -> world-model latent features.

    Features are ``z.flatten(1)`` (``[B, K * C]``) or, with ``invariant=True``, ``z`` pooled by
    ``pool`` over each regular field (``[B, K * C / |G|]``, unchanged by every group element;
    suited to invariant targets such as values, not to an equivariant policy).

    ``world_model`` (deep-copied) or ``checkpoint`` (see :func:`load_world_model`; ``model_kwargs``
    for checkpoints without them): exactly one. ``model_kwargs`` also fixes the expected input
    shape. ``freeze=True``: no gradients and the world model stays in eval mode whatever mode SB3
    sets; ``freeze=False``: fine-tuned by the RL loss, BatchNorm following SB3's mode while escnn
    layers recompute their filters every call (eval caches would go stale as weights change,
    e.g. in SAC's Polyak-averaged target critic, and would change the state-dict keys).
    """

    def __init__(self, observation_space: spaces.Box, world_model: WorldModel | None = None,
                 checkpoint: str | os.PathLike | None = None, model_kwargs: Mapping[str, Any] | None = None,
                 freeze: bool = True, invariant: bool = False, pool: str = "max") -> None:
        if pool not in POOLS:
            raise ValueError(f"unknown pool {pool!r}; allowed: {', '.join(POOLS)}")
        model, kwargs = _resolve_model(world_model, checkpoint, model_kwargs)
        check_observation_space(observation_space, model, kwargs)
        fibre = fibre_size(model.latent_type) if invariant else 1
        super().__init__(observation_space, model.slots * model.latent_type.size // fibre)
        self.world_model, self.model_kwargs = model, kwargs
        self.freeze, self.invariant, self.pool, self.fibre = bool(freeze), bool(invariant), pool, fibre
        with torch.no_grad():   # frozen: eval once, for good; tuned: escnn layers stay in train mode
            model.requires_grad_(not self.freeze).train(not self.freeze)
        self._moded = [m for m in model.modules() if not _caches_in_eval(m)]
        self.train(self.training)

    def train(self, mode: bool = True) -> WorldModelExtractor:
        """Set the training mode; a frozen world model stays in eval mode, a tuned one's escnn layers
        in train mode, and only the other world-model layers (BatchNorm, ...) follow ``mode``.

        Flags are set on a module list made once: ``nn.Module.train`` walks ``children()``, which
        hashes escnn's basis modules (slow ``__hash__``: ~5-10 ms per walk here, plus a filter
        expansion per escnn layer on each switch to eval), and off-policy SB3 sets the mode at
        every env step (SAC on Reacher: 11.7 s -> 2.3 s for 128 steps).
        """
        self.training = bool(mode)
        if not self.freeze:
            for module in self._moded:
                module.training = bool(mode)
        return self

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, K, C]`` -> features ``[B, features_dim]``."""
        return latent_features(z, self.fibre, self.pool if self.invariant else None)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """Observations ``[B, C, H, W]`` in [0, 1] (SB3 already divided uint8 by 255) -> ``[B, features_dim]``."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            z = self.world_model.encode(observations)
        return self.features(z)


# --------------------------------------------------------------------------- policy kwargs
FEATURES: dict[str, type[BaseFeaturesExtractor]] = {
    "worldmodel": WorldModelExtractor, "nature_cnn": NatureCNN, "natural_cnn": NatureCNN}


def policy_kwargs(features: str = "worldmodel", algo: str = "ppo", policy: Mapping[str, Any] | None = None,
                  **extractor_kwargs: Any) -> dict[str, Any]:
    """``policy_kwargs`` for SB3 algorithm ``algo`` with the ``features`` extractor.

    ``extractor_kwargs`` go to the extractor (``world_model`` or ``checkpoint``, ``freeze``,
    ``invariant``, ... for ``worldmodel``; ``features_dim`` for ``nature_cnn``); ``policy`` holds
    further policy kwargs (``net_arch``, ``share_features_extractor``, ...). With ``worldmodel``
    and PPO/A2C, ``ortho_init`` is set to False so the pretrained weights survive.
    """
    if features not in FEATURES:
        raise ValueError(f"unknown features {features!r}; allowed: {', '.join(FEATURES)}")
    if algo not in ALGOS:
        raise ValueError(f"unknown algo {algo!r}; allowed: {', '.join(ALGOS)}")
    policy = dict(policy or {})
    out: dict[str, Any] = {"features_extractor_class": FEATURES[features],
                           "features_extractor_kwargs": dict(extractor_kwargs)}
    if features == "worldmodel" and algo in ON_POLICY:
        if policy.get("ortho_init", False):
            raise ValueError("ortho_init=True would re-initialise the pretrained world model's Linear/Conv2d "
                             "layers when the policy is built; leave it out (policy_kwargs sets it to False)")
        out["ortho_init"] = False
    return {**out, **policy}
