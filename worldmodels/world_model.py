"""The SEN world model: embedding -> equivariant encoder -> equivariant transition, hinge loss.

Variants from one code path (``build_world_model``):
    ``sen``  free CNN embedding, encoder and transition equivariant to the env's group (ours);
    ``none`` free CNN embedding, encoder and transition on the trivial group (same widths);
    ``full`` steerable CNN embedding too (assumes the group rotates pixels).

For rotation actions (the teapot, group ``O`` in SO(3)) the parts come from
:mod:`worldmodels.rotations` instead: ``sen`` embeds into rotation matrices (Gram–Schmidt) and steps
with the MatMul transition, ``none`` embeds into free 3x3 blocks and steps with an MLP; there is no
separate encoder (the embedding's output is the latent) and no reward head.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import torch
from torch import nn

from eqmbrl.core.directions import NUM_DIRECTIONS
from eqmbrl.core.rotations import NUM_TURNS, cube_rotations
from eqmbrl.core.symmetry import Group
from eqmbrl.core.types import SequenceBatch
from worldmodels.actions import action_width, encode_actions
from worldmodels.embedding import EquivariantEmbedding, SymmetricEmbedding
from worldmodels.encoder import SlotEncoder
from worldmodels.fields import action_type, element, make_gspace, mlp, planar, regular, trivial
from worldmodels.layers import EquivariantConv, check_execution, set_execution
from worldmodels.reward import RewardHead
from worldmodels.rotations import MatMulTransition, MLPTransition, VectorEmbedding, rotate_vectors
from worldmodels.settings import ROTATION_ENCODINGS, EnvShape, WorldModelSettings, check_fits, split_build_kwargs
from worldmodels.transition import GNNTransition


class WorldModel(nn.Module):
    """Latent world model with short verbs: ``encode``, ``step``, ``rollout``, ``loss``.

    Latents are ``[B, K, C]``: K slots of C channels, regular fields of ``group`` (escnn order).
    ``symmetry`` is the env's group; it acts on the embedding's maps by rotating them and on
    latents through the latent field type (for ``none``, whose latents carry no group action,
    ``act_latent`` is the identity).
    """

    def __init__(self, embedding: nn.Module, settings: WorldModelSettings, shape: EnvShape) -> None:
        super().__init__()
        check_fits(settings, shape)
        self.settings, self.shape = settings, shape
        # what rebuilds it (build_world_model's flat kwargs; checkpoints store them)
        self.build_kwargs: dict[str, Any] = {**dataclasses.asdict(settings), **dataclasses.asdict(shape)}
        symmetry, group = groups(settings, shape)
        self.group, self.symmetry, self.slots = group, symmetry, settings.slots
        self.action_encoding, self.hinge, self.sigma = shape.action_encoding, settings.hinge, settings.sigma
        self.reward_weight, self.reward_from = settings.reward_weight, settings.reward_from
        self.action_cost = settings.action_cost
        self.inverse_weight, self.state_weight = settings.inverse_weight, settings.state_weight
        self.embedding = embedding
        self.rotations = shape.action_encoding in ROTATION_ENCODINGS
        if self.rotations:
            self._init_rotation_parts(settings)
        else:
            self._init_planar_parts(settings, shape, group, symmetry)

    def _init_planar_parts(self, settings: WorldModelSettings, shape: EnvShape, group: Group, symmetry: Group) -> None:
        """escnn encoder, GNN transition and heads on fields of the planar ``group``."""
        gs = make_gspace(group)
        hidden = settings.hidden
        encoder = SlotEncoder(gs, settings.maps_per_slot, settings.map_size, hidden, settings.latent)
        self.encoder: nn.Module = encoder
        self.latent_type = encoder.out_type
        a_type = action_type(gs, shape.action_encoding, action_width(shape.action_encoding, shape.action_dim))
        self.transition: nn.Module = GNNTransition(self.latent_type, a_type, settings.slots, hidden)
        self.reward_head = RewardHead(self.latent_type, a_type, hidden)
        # inverse dynamics (z_t, z_t+1) -> encoded torques, only when trained (keeps old checkpoints loadable)
        self.inverse_head = (
            mlp(self.latent_type + self.latent_type, hidden, a_type) if settings.inverse_weight > 0 else None
        )
        # state decoder z -> the env state's planar vectors, only when trained (as the inverse head)
        self.state_head = (
            mlp(self.latent_type, hidden, planar(gs, shape.state_points)) if settings.state_weight > 0 else None
        )
        self._map_type = trivial(make_gspace(symmetry), settings.slots * settings.maps_per_slot)

    def _init_rotation_parts(self, settings: WorldModelSettings) -> None:
        """SO(3) latents ``[B, K, 9]`` (:mod:`worldmodels.rotations`): the embedding is the encoder."""
        self.encoder = nn.Identity()
        self.latent_type = trivial(make_gspace(Group("trivial")), 9)  # its size only: the group acts by g Z
        self.transition = (
            MatMulTransition() if settings.variant == "sen" else MLPTransition(self.slots, settings.hidden)
        )
        self.reward_head = None  # type: ignore[assignment]  # check_fits refuses reward_weight > 0
        self.inverse_head = self.state_head = None

    @property
    def num_actions(self) -> int | None:
        """How many discrete actions the model steps with (None for continuous actions)."""
        if self.action_encoding == "directions":
            return NUM_DIRECTIONS * self.slots
        return NUM_TURNS if self.action_encoding == "turns" else None

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def embed(self, obs: torch.Tensor) -> torch.Tensor:
        """obs ``[B, Ci, Hi, Wi]`` in [0, 1] -> feature maps ``[B, K * M, s, s]``."""
        return self.embedding(obs)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """obs ``[B, Ci, Hi, Wi]`` in [0, 1] -> latents ``[B, K, C]``."""
        return self.encoder(self.embed(obs))

    def step(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """One latent step: z ``[B, K, C]``, env actions ``[B, *A]`` -> ``[B, K, C]`` (the transition
        predicts the change, or for MatMul the next latent itself)."""
        out = self.transition(z, encode_actions(actions, self.action_encoding, self.slots))
        return z + out if getattr(self.transition, "residual", True) else out  # a transition may opt out of delta

    def reward(self, z: torch.Tensor, actions: torch.Tensor, z_next: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted reward of taking ``actions [B, *A]`` in latents ``z [B, K, C]``: ``[B]``, G-invariant.

        With ``reward_from="next"`` the head reads the next latent ``z_next [B, K, C]`` (default:
        ``step(z, actions)``; pass it when already computed) and the action, for rewards that
        score the state an action leads to (e.g. Reacher's distance after the step).

        With ``action_cost = c > 0`` (torque actions only) the reward is ``head(z, a) - c |a|^2``:
        the known quadratic action cost is added analytically (Reacher-v5's control term with
        c = 1), so the head is trained on, and only has to learn, the rest of the reward."""
        a = encode_actions(actions, self.action_encoding, self.slots)
        if self.reward_from == "next":
            z = self.step(z, actions) if z_next is None else z_next
        r = self.reward_head(z, a)
        return r - self.action_penalty(actions) if self.action_cost > 0 else r

    def action_penalty(self, actions: torch.Tensor) -> torch.Tensor:
        """The known torque cost ``c |a|^2`` of torques ``actions [B, d]``: ``[B]``."""
        return self.action_cost * actions.flatten(1).float().pow(2).sum(1)

    def inverse(self, z: torch.Tensor, z_next: torch.Tensor) -> torch.Tensor:
        """Torques ``[B, d]`` that took latents ``z [B, 1, C]`` to ``z_next [B, 1, C]`` (inverse
        dynamics, equivariant: the head outputs the ``(tau, -tau)`` pairs of the action field)."""
        if self.inverse_head is None:
            raise ValueError("this world model has no inverse-dynamics head: build it with inverse_weight > 0")
        pairs = self.inverse_head(torch.cat([z, z_next], dim=-1)).flatten(1)  # B x 2d
        return (pairs[:, 0::2] - pairs[:, 1::2]) / 2

    def decode_state(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``z [..., 1, C]`` -> the env state's planar vectors, flattened ``[..., 2P]``
        (equivariant: the group acts on them as on points, see :func:`worldmodels.fields.planar`)."""
        if self.state_head is None:
            raise ValueError("this world model has no state head: build it with state_weight > 0")
        return self.state_head(z.flatten(-2))

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Imagine N plans at once: z0 ``[N, K, C]``, actions ``[N, H, *A]`` -> ``[N, H+1, K, C]``."""
        zs = [z0]
        for t in range(actions.shape[1]):
            zs.append(self.step(zs[-1], actions[:, t]))
        return torch.stack(zs, dim=1)

    def loss(self, batch: SequenceBatch) -> dict[str, torch.Tensor]:
        """Contrastive hinge loss (C-SWM / SEN) on ``k``-step sequences, plus ``reward_weight`` x the
        reward head's squared error when ``reward_weight > 0``; ``k = 1`` is SEN's loss.

        The k predictions roll out from the first latent (:meth:`rollout`), so for ``k > 1`` they
        are trained to stay on the encoded states over k steps. With z_t the encoded frames:
        positive = E(rollout_t, z_t) for t = 1..k, negative = max(0, hinge - E(z_t, z[perm]_t)) for
        t = 0..k-1, each averaged, with E(x, y) = |x - y|^2 / (2 sigma^2) summed over channels and
        averaged over slots. With ``batch.negatives`` (another frame of each sequence's episode), a
        second hinge term ``max(0, hinge - E(z_0, z_neg))`` keeps states of one episode apart: with
        random negatives alone, states that differ only in what the actions change (Reacher's arm,
        not its goal) can collapse and an action-blind transition then scores well. With
        ``inverse_weight > 0`` (torques only), ``inverse_weight`` x the squared error of the
        inverse-dynamics head's torques from each pair of encoded frames (z_t, z_t+1): the latent
        must then carry what an action changes. With ``state_weight > 0`` and ``batch.states``,
        ``state_weight`` x the squared error of the state head's planar vectors decoded from every
        encoded latent z_0..z_k and every rollout latent (:meth:`decode_state`): the rollout must
        then keep the arm's positions and velocities, not only stay near the encoded frames.
        """
        B, k = batch.actions.shape[:2]
        frames = batch.obs[:, : k + 1].flatten(0, 1)
        if batch.negatives is not None:  # one encoder call, so batch norm sees all frames together
            frames = torch.cat([frames, batch.negatives])
        z_all = self.encode(frames)
        z = z_all[: B * (k + 1)].unflatten(0, (B, k + 1))  # B x k+1 x K x C
        z_pred = self.rollout(z[:, 0], batch.actions)[:, 1:]  # B x k x K x C
        positive = self.energy(z_pred, z[:, 1:]).mean()
        perm = torch.randperm(B, device=z.device)
        negative = torch.relu(self.hinge - self.energy(z[:, :k], z[perm, :k])).mean()
        out = {"loss": positive + negative, "positive": positive, "negative": negative}
        if self.inverse_head is not None:
            a_hat = self.inverse(z[:, :k].flatten(0, 1), z[:, 1:].flatten(0, 1))
            out["inverse"] = (a_hat - batch.actions.flatten(0, 1)).pow(2).mean()
            out["loss"] = out["loss"] + self.inverse_weight * out["inverse"]
        if self.state_head is not None and batch.states is not None:
            decoded = self.decode_state(torch.cat([z, z_pred], 1))  # B x 2k+1 x 2P
            out["state"] = (decoded - torch.cat([batch.states, batch.states[:, 1:]], 1)).pow(2).mean()
            out["loss"] = out["loss"] + self.state_weight * out["state"]
        if batch.negatives is not None:
            out["negative_episode"] = torch.relu(self.hinge - self.energy(z[:, 0], z_all[B * (k + 1) :])).mean()
            out["loss"] = out["loss"] + out["negative_episode"]
        if self.reward_weight > 0:
            z_from = torch.cat([z[:, :1], z_pred[:, :-1]], 1)  # the latent each action is taken in
            flat = (z_from.flatten(0, 1), batch.actions.flatten(0, 1), z_pred.flatten(0, 1))
            r_pred = self.reward(*flat).view(B, k)
            out["reward"] = (r_pred - batch.rewards[:, :k]).pow(2).mean()
            out["loss"] = out["loss"] + self.reward_weight * out["reward"]
        return out

    def energy(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``[..., K, C] x [..., K, C] -> [...]``: squared distance / (2 sigma^2), mean over slots."""
        return (x - y).pow(2).sum(-1).mean(-1) / (2 * self.sigma**2)

    def export(self, execution: str = "dense") -> WorldModel:
        """A frozen copy for planning and inference: eval mode, no gradients, escnn layers run as
        ``execution`` (filters expanded once and cached; ``dense`` is fastest at the default widths on
        a CPU, ``fourier`` from about 512 channels, see BENCHMARKS.md). It computes the same function
        as this model and does not follow its later updates: export again after training."""
        check_execution(execution)
        frozen = set_execution(copy.deepcopy(self).eval().requires_grad_(False), execution)
        for layer in frozen.modules():
            if isinstance(layer, EquivariantConv):
                layer.frozen = True
        return frozen

    def act_latent(self, g: int, z: torch.Tensor) -> torch.Tensor:
        """Group element ``g`` acting on latents ``[..., C]`` (identity for the trivial group)."""
        if self.group.order == 1:
            return z
        if self.rotations:
            return rotate_vectors(self._cube_matrix(g, z), z)
        rho = torch.as_tensor(
            self.latent_type.representation(element(self.latent_type.gspace, g)), dtype=z.dtype, device=z.device
        )
        return z @ rho.T

    def act_maps(self, g: int, maps: torch.Tensor) -> torch.Tensor:
        """Group element ``g`` of the env's symmetry rotating feature maps ``[B, K * M, s, s]`` (for
        rotation models: turning the vectors of the embedding's latents ``[B, K, 9]``, whatever the variant)."""
        if self.rotations:
            return rotate_vectors(self._cube_matrix(g, maps), maps)
        from escnn import nn as enn

        gt = enn.GeometricTensor(maps, self._map_type)
        return gt.transform(element(self._map_type.gspace, g)).tensor

    @staticmethod
    def _cube_matrix(g: int, like: torch.Tensor) -> torch.Tensor:
        return torch.tensor(cube_rotations()[g].copy(), dtype=like.dtype, device=like.device)


def build_world_model(variant: str | None = None, **kwargs: Any) -> WorldModel:
    """Build a ``variant`` (``sen``, ``none`` or ``full``) world model from flat kwargs: any field of
    :class:`~worldmodels.settings.WorldModelSettings` (the ``worldmodel.*`` options, defaults
    there) or :class:`~worldmodels.settings.EnvShape` (what the env implies: group, action
    encoding and width, image channels and size, state points).

    ``latent`` and ``hidden`` are channel counts (multiples of |G|), identical across variants.
    ``embedding`` is the form of the free embedding of ``sen`` and ``none`` (``remap`` or ``conv``,
    see :mod:`worldmodels.embedding`); ``full`` has its own steerable embedding.
    ``reward_weight > 0`` trains the invariant reward head with the contrastive loss; it reads
    the latent before the action (``reward_from="state"``) or the predicted one after it
    (``"next"``), see :meth:`WorldModel.reward`; ``action_cost`` adds a known ``-c |a|^2`` to it.
    ``inverse_weight > 0`` trains an inverse-dynamics head too, ``state_weight > 0`` a state head
    that decodes the env's ``state_points`` planar vectors from encoded and imagined latents
    (:meth:`WorldModel.loss`). The model keeps the kwargs as ``build_kwargs``, which checkpoints
    store to rebuild it.
    """
    settings, shape = split_build_kwargs(kwargs if variant is None else {**kwargs, "variant": variant})
    return build(settings, shape)


def groups(settings: WorldModelSettings, shape: EnvShape) -> tuple[Group, Group]:
    """(the env's symmetry, the model's group): the trivial group for ``none``, else the symmetry."""
    symmetry = Group(shape.group)
    return symmetry, Group("trivial") if settings.variant == "none" else symmetry


def build(settings: WorldModelSettings, shape: EnvShape) -> WorldModel:
    """The world model of ``settings`` for an env of ``shape`` (see :func:`build_world_model`)."""
    check_fits(settings, shape)  # before any weights are made (WorldModel checks again, for direct use)
    s = settings
    symmetry, model_group = groups(settings, shape)
    if shape.action_encoding in ROTATION_ENCODINGS:
        rotation_net = VectorEmbedding(
            shape.in_channels, shape.image_size, s.slots, s.stride, s.cnn_channels, s.embed_hidden, s.variant == "sen"
        )
        return WorldModel(rotation_net, settings, shape)
    regular(make_gspace(model_group), s.latent), regular(make_gspace(model_group), s.hidden)  # validate widths
    layout = dict(
        in_channels=shape.in_channels,
        image_size=shape.image_size,
        slots=s.slots,
        maps_per_slot=s.maps_per_slot,
        map_size=s.map_size,
        stride=s.stride,
        cnn_channels=s.cnn_channels,
    )
    net: nn.Module
    if s.variant == "full":
        net = EquivariantEmbedding(symmetry, **layout)
    else:
        net = SymmetricEmbedding(**layout, mlp_hidden=s.embed_hidden, masks_per_slot=s.masks_per_slot, form=s.embedding)
    return WorldModel(net, settings, shape)
