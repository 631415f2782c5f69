"""What a world model is built from: the user's options (``worldmodel.*``) and what the env implies.

:class:`WorldModelSettings` holds every option a user sets, each default and range check once
(the ``worldmodel`` config group's schema is made from it); :class:`EnvShape` holds what the
env dictates (``eqmbrl.run`` reads it off the env, never from the config). Checks that need both
live in :func:`check_fits`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from eqmbrl.core.choices import check_choice

VARIANTS = ("sen", "none", "full")
EMBEDDINGS = ("remap", "conv")
REWARD_INPUTS = ("state", "next")
ACTION_ENCODINGS = ("directions", "torques", "turns", "rotvecs")
ROTATION_ENCODINGS = ("turns", "rotvecs")  # the teapot's rotations: SO(3) latents (worldmodels.rotations)


@dataclass(frozen=True)
class WorldModelSettings:
    """The ``worldmodel.*`` options (see :func:`worldmodels.world_model.build_world_model`)."""

    variant: str = "sen"
    """``sen`` (free CNN + equivariant encoder/transition), ``none`` (trivial group), ``full`` (steerable CNN)."""
    slots: int = 5
    """object slots K (1 for single-object domains such as Reacher)."""
    maps_per_slot: int = 1
    """feature maps per slot that the embedding outputs and the group acts on."""
    map_size: int = 5
    """side s of the embedding's feature maps."""
    stride: int = 5
    """patch size of the embedding's first convolution (the image side must divide by it)."""
    cnn_channels: int = 32
    """channels of the embedding CNN."""
    embed_hidden: int = 256
    """hidden width of the ``remap`` embedding's MLP."""
    masks_per_slot: int = 1
    """masks per slot of the CNN before the map stage."""
    embedding: str = "remap"
    """free embedding of ``sen``/``none``: ``remap`` (per-slot MLP) or ``conv`` (masks keep the image layout)."""
    latent: int = 8
    """latent channels per slot (a multiple of |G|)."""
    hidden: int = 128
    """hidden channels of encoder, transition and heads (a multiple of |G|)."""
    hinge: float = 1.0
    """margin of the contrastive hinge loss (SEN: 1)."""
    sigma: float = 0.5
    """energy scale: E = |x - y|^2 / (2 sigma^2) (SEN: 0.5)."""
    reward_weight: float = 0.0
    """weight of the invariant reward head's squared error in the loss (0: no reward training)."""
    reward_from: str = "state"
    """the reward head reads the latent before the action (``state``) or the predicted one after it (``next``)."""
    action_cost: float = 0.0
    """known torque cost c: the reward is head(z, a) - c |a|^2 (torque actions only)."""
    inverse_weight: float = 0.0
    """weight of an inverse-dynamics head's squared error (torques, one slot)."""
    state_weight: float = 0.0
    """weight of a state head decoding the env's planar vectors (Reacher, one slot)."""

    KEY = "worldmodel"  # the config key errors name (a class attribute, not a field)

    def __post_init__(self) -> None:
        check_choice(f"{self.KEY}.variant", self.variant, VARIANTS)
        check_choice(f"{self.KEY}.reward_from", self.reward_from, REWARD_INPUTS)
        check_choice(f"{self.KEY}.embedding", self.embedding, EMBEDDINGS)
        sizes = ("slots", "maps_per_slot", "map_size", "stride", "cnn_channels", "embed_hidden", "masks_per_slot")
        for name in (*sizes, "latent", "hidden"):
            _at_least(self, name, 1)
        for name in ("hinge", "sigma"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{self.KEY}.{name} must be > 0, got {getattr(self, name)}")
        for name in ("reward_weight", "action_cost", "inverse_weight", "state_weight"):
            _at_least(self, name, 0)
        for name in ("inverse_weight", "state_weight"):
            if getattr(self, name) > 0 and self.slots != 1:
                raise ValueError(f"{self.KEY}.{name} needs a single-slot model (Reacher), got slots={self.slots}")


@dataclass(frozen=True)
class EnvShape:
    """What the env dictates about its world model (read off the env by ``eqmbrl.run``)."""

    group: str = "C4"
    """the env's symmetry group (:class:`eqmbrl.core.symmetry.Group` name)."""
    action_encoding: str = "directions"
    """``directions`` (block pushing's discrete pushes), ``torques`` (continuous actions), or the teapot's
    rotations: ``turns`` (six discrete turns) or ``rotvecs`` (rotation vectors)."""
    action_dim: int = 1
    """torque dimensions (1 for discrete actions)."""
    in_channels: int = 3
    """image channels Ci."""
    image_size: int = 50
    """image side Hi = Wi."""
    state_points: int = 0
    """planar vectors of the env's state a state head can decode (0: none)."""

    def __post_init__(self) -> None:
        check_choice("action_encoding", self.action_encoding, ACTION_ENCODINGS)
        for name in ("action_dim", "in_channels", "image_size"):
            _at_least(self, name, 1, prefix="")
        _at_least(self, "state_points", 0, prefix="")


def check_fits(settings: WorldModelSettings, shape: EnvShape) -> None:
    """The checks that need both the options and the env: torque-only options, the state head's targets."""
    for name in ("action_cost", "inverse_weight"):
        value = getattr(settings, name)
        if value > 0 and shape.action_encoding != "torques":
            raise ValueError(
                f"worldmodel.{name}={value} needs continuous torque actions, but the env's "
                f"actions are {shape.action_encoding!r}; use {name}=0"
            )
    rotations = shape.action_encoding in ROTATION_ENCODINGS
    if rotations != (shape.group == "O"):
        raise ValueError(
            f"group {shape.group!r} does not fit action encoding {shape.action_encoding!r}: the cube group O "
            "goes with rotation actions (turns, rotvecs) and only with them"
        )
    if rotations and (settings.variant == "full" or settings.reward_weight > 0):
        raise ValueError(
            "rotation actions (the teapot) have the SO(3) world models sen and none only, without a reward "
            f"head: got worldmodel.variant={settings.variant!r}, reward_weight={settings.reward_weight}"
        )
    if settings.state_weight > 0 and shape.state_points < 1:
        raise ValueError(
            "worldmodel.state_weight > 0 needs an env whose unwrapped env has state_points(states) (Reacher); "
            "this one has none: use state_weight=0"
        )


def split_build_kwargs(kwargs: dict[str, Any]) -> tuple[WorldModelSettings, EnvShape]:
    """Flat ``build_world_model`` kwargs (any field of either class) -> the two objects; a key of
    neither is a one-line ``ValueError`` listing the allowed ones."""
    options = [f.name for f in dataclasses.fields(WorldModelSettings)]
    shape = [f.name for f in dataclasses.fields(EnvShape)]
    unknown = sorted(set(kwargs) - set(options) - set(shape))
    if unknown:
        raise ValueError(
            f"keys {unknown} that build_world_model does not take; allowed: {', '.join([*options, *shape])}"
        )
    return (
        WorldModelSettings(**{k: v for k, v in kwargs.items() if k in options}),
        EnvShape(**{k: v for k, v in kwargs.items() if k in shape}),
    )


def _at_least(obj: Any, name: str, low: int, prefix: str | None = None) -> None:
    value = getattr(obj, name)
    if value < low:
        key = f"{obj.KEY}." if prefix is None else prefix
        raise ValueError(f"{key}{name} must be >= {low}, got {value}")
