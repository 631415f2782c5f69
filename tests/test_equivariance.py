"""Every equivariant module commutes with every group element to 1e-4; the 'none' baseline does not."""

import functools

import numpy as np
import pytest
import torch

from eqmbrl.core.symmetry import Group, check_equivariance, rotate_points
from tests.helpers import REACHER_MODEL, TINY_WIDTHS
from worldmodels.embedding import EquivariantEmbedding, SymmetricEmbedding
from worldmodels.fields import element, make_gspace
from worldmodels.layers import EXECUTIONS, set_execution
from worldmodels.world_model import build_world_model

TOL = 1e-4
# (group, action encoding, action_dim, slots, maps per slot, map size, image size, stride)
DOMAINS = {
    "C4-blocks": ("C4", "directions", 1, 5, 1, 5, 50, 5),
    "D4-reacher": ("D4", "torques", 2, 1, 2, 8, 64, 4),
}


def _kwargs(domain: str) -> dict:
    """``build_world_model`` kwargs of ``domain``'s layout (:data:`DOMAINS`), 3-channel images."""
    grp, enc, adim, slots, mps, ms, img, stride = DOMAINS[domain]
    return dict(
        group=grp,
        action_encoding=enc,
        action_dim=adim,
        in_channels=3,
        image_size=img,
        slots=slots,
        maps_per_slot=mps,
        map_size=ms,
        stride=stride,
    )


def _model(variant: str, domain: str, execution: str = "dense", reward_from: str = "state"):
    """The model of ``variant`` on ``domain``, in eval mode, running ``execution``; the torch RNG
    is left as a fresh build from seed 0 leaves it, so a test draws the same inputs whatever ran before."""
    model, rng = _built(variant, domain, reward_from)
    torch.set_rng_state(rng)
    return set_execution(model, execution)


@functools.cache
def _built(variant: str, domain: str, reward_from: str):
    """Built once per layout (the tests only read it; each sets its execution), from seed 0 as
    every test starts; with the RNG state the build leaves."""
    torch.manual_seed(0)
    enc = DOMAINS[domain][1]
    m = build_world_model(
        variant,
        **_kwargs(domain),
        cnn_channels=8,
        embed_hidden=32,
        latent=16,
        hidden=32,
        reward_from=reward_from,
        action_cost=1.0 if enc == "torques" else 0.0,  # the known cost -|a|^2 must keep the reward invariant
    )
    return m.eval(), torch.get_rng_state()


def _act_action(group: Group, encoding: str):
    """Group action on env actions (what an env's symmetry does), for the transition's equivariance."""

    def act(g: int, a: torch.Tensor) -> torch.Tensor:
        if encoding == "directions":
            return 4 * (a // 4) + (a % 4 + group.rotation(g)) % 4
        return -a if group.reflection(g) else a

    return act


@pytest.mark.parametrize("domain", list(DOMAINS))
@pytest.mark.parametrize("variant", ["sen", "full"])
@pytest.mark.parametrize("execution", EXECUTIONS)
def test_encoder_is_equivariant(variant: str, domain: str, execution: str) -> None:
    m = _model(variant, domain, execution)
    maps = torch.randn(3, m.slots * DOMAINS[domain][4], DOMAINS[domain][5], DOMAINS[domain][5])
    errs = check_equivariance(m.encoder, maps, m.act_maps, m.act_latent, m.symmetry)
    assert max(errs.values()) < TOL, errs


def _latents_and_actions(m, domain: str):
    """Random latents and env actions for ``m``, and the group action on the pair."""
    grp, enc, adim, slots = DOMAINS[domain][:4]
    z = torch.randn(6, slots, 16)
    a = torch.randint(0, 4 * slots, (6,)) if enc == "directions" else torch.rand(6, adim) * 2 - 1
    act_a = _act_action(m.symmetry, enc)
    return (z, a), lambda g, za: (m.act_latent(g, za[0]), act_a(g, za[1]))


@pytest.mark.parametrize("domain", list(DOMAINS))
@pytest.mark.parametrize("variant", ["sen", "full"])
@pytest.mark.parametrize("execution", EXECUTIONS)
def test_transition_is_equivariant(variant: str, domain: str, execution: str) -> None:
    m = _model(variant, domain, execution)
    za, act = _latents_and_actions(m, domain)
    errs = check_equivariance(lambda x: m.step(*x), za, act, m.act_latent, m.symmetry)
    assert max(errs.values()) < TOL, errs


@pytest.mark.parametrize("domain", list(DOMAINS))
@pytest.mark.parametrize("variant", ["sen", "full"])
@pytest.mark.parametrize("execution", EXECUTIONS)
@pytest.mark.parametrize("reward_from", ["state", "next"])
def test_reward_head_is_invariant(variant: str, domain: str, execution: str, reward_from: str) -> None:
    m = _model(variant, domain, execution, reward_from)
    za, act = _latents_and_actions(m, domain)
    errs = check_equivariance(lambda x: m.reward(*x), za, act, lambda g, r: r, m.symmetry)
    assert max(errs.values()) < TOL, errs
    assert m.reward(*za).std() > 1e-4  # not trivially constant


@pytest.mark.parametrize("domain", list(DOMAINS))
@pytest.mark.parametrize("execution", EXECUTIONS)
def test_full_embedding_is_equivariant_to_image_rotation(domain: str, execution: str) -> None:
    grp, _, _, slots, mps, ms, img, stride = DOMAINS[domain]
    emb = set_execution(
        EquivariantEmbedding(Group(grp), 3, img, slots, mps, ms, stride, cnn_channels=8).eval(), execution
    )
    m = _model("full", domain)
    gs = make_gspace(Group(grp))

    def rotate_image(g: int, x: torch.Tensor) -> torch.Tensor:
        from escnn import nn as enn

        return enn.GeometricTensor(x, emb.in_type).transform(element(gs, g)).tensor

    errs = check_equivariance(emb, torch.rand(2, 3, img, img), rotate_image, m.act_maps, Group(grp))
    assert max(errs.values()) < TOL, errs


@pytest.mark.parametrize("variant", ["sen", "full"])
@pytest.mark.parametrize("execution", EXECUTIONS)
def test_inverse_dynamics_head_is_equivariant(variant: str, execution: str) -> None:
    """inverse(g.z, g.z') = g.a: torques unchanged by rotations, negated by reflections."""
    enc = DOMAINS["D4-reacher"][1]
    m = build_world_model(
        variant, **_kwargs("D4-reacher"), cnn_channels=8, embed_hidden=32, latent=16, hidden=32, inverse_weight=1.0
    )
    m = set_execution(m.eval(), execution)
    z = torch.randn(2, 3, 1, m.latent_type.size)
    both = lambda g, x: torch.stack([m.act_latent(g, x[0]), m.act_latent(g, x[1])])  # noqa: E731
    errs = check_equivariance(lambda x: m.inverse(x[0], x[1]), z, both, _act_action(m.symmetry, enc), m.symmetry)
    assert max(errs.values()) < TOL, errs
    assert m.inverse(z[0], z[1]).std() > 1e-4  # not trivially zero


@pytest.mark.parametrize("variant", ["sen", "full"])
@pytest.mark.parametrize("execution", EXECUTIONS)
def test_state_head_is_equivariant(variant: str, execution: str) -> None:
    """decode_state(g.z) = g.decode_state(z): the decoded vectors turn as escnn turns the plane."""
    m = build_world_model(
        variant,
        **_kwargs("D4-reacher"),
        cnn_channels=8,
        embed_hidden=32,
        latent=16,
        hidden=32,
        state_weight=1.0,
        state_points=3,
    )
    m = set_execution(m.eval(), execution)
    z = torch.randn(4, 1, m.latent_type.size)
    gs = m.latent_type.gspace

    def turn(g: int, p: torch.Tensor) -> torch.Tensor:
        rho = torch.as_tensor(gs.basespace_action(element(gs, g)), dtype=p.dtype)
        return (p.unflatten(-1, (3, 2)) @ rho.T).flatten(-2)

    errs = check_equivariance(m.decode_state, z, m.act_latent, turn, m.symmetry)
    assert max(errs.values()) < TOL, errs
    assert m.decode_state(z).std() > 1e-4  # not trivially zero


def test_escnn_reflection_flips_map_columns() -> None:
    """escnn's element 4 flips a map's columns and element 1 is np.rot90, so in world coordinates
    (x right, y up, row 0 on top) element 4 is x -> -x: the convention of ``eqmbrl.core.symmetry``
    (``rotate_points``) and of ``planar`` (escnn's basespace_action)."""
    gs = make_gspace(Group("D4"))
    maps = torch.arange(16.0).view(1, 1, 4, 4)
    m = build_world_model(**{**REACHER_MODEL, **TINY_WIDTHS, "maps_per_slot": 1, "map_size": 4})
    assert torch.equal(m.act_maps(4, maps), maps.flip(-1))
    assert torch.equal(m.act_maps(6, maps), maps.flip(-2))
    assert torch.equal(m.act_maps(1, maps)[0, 0], torch.from_numpy(np.rot90(maps[0, 0].numpy()).copy()))
    xy = np.array([0.3, 0.7])
    for g in Group("D4").elements:
        np.testing.assert_allclose(gs.basespace_action(element(gs, g)) @ xy, rotate_points(g, Group("D4"), xy))


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_none_is_not_equivariant(domain: str) -> None:
    """The baseline's latents, read as regular fields of the group, do not commute with it."""
    sen, none = _model("sen", domain), _model("none", domain)
    maps = torch.randn(3, sen.slots * DOMAINS[domain][4], DOMAINS[domain][5], DOMAINS[domain][5])
    errs = check_equivariance(none.encoder, maps, sen.act_maps, sen.act_latent, sen.symmetry)
    scale = none.encoder(maps).abs().mean().item()
    assert errs[0] == 0.0
    assert min(errs[g] for g in sen.symmetry.elements if g) > 1e-2 * scale


@pytest.mark.parametrize("name", ["C4", "D4"])
def test_group_convention_matches_escnn(name: str) -> None:
    group, gs = Group(name), make_gspace(Group(name))
    for g in group.elements:
        for h in group.elements:
            assert element(gs, g) @ element(gs, h) == element(gs, group.compose(g, h))
        assert group.compose(g, group.inverse(g)) == 0


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_conv_embedding_keeps_the_layout(domain: str) -> None:
    """SEN's original form: the masks are block-averaged to the map, which commutes with every
    rotation and reflection of the mask grid; no free remap."""
    grp, _, _, slots, mps, ms, img, stride = DOMAINS[domain]
    emb = SymmetricEmbedding(3, img, slots, mps, ms, stride, cnn_channels=8, form="conv").eval()
    assert emb.mlp is None and emb(torch.rand(2, 3, img, img)).shape == (2, slots * mps, ms, ms)
    m = _model("sen", domain)
    masks = torch.rand(2, slots * mps, img // stride, img // stride)
    gs = make_gspace(Group(grp))

    def act_masks(g: int, x: torch.Tensor) -> torch.Tensor:
        from escnn import nn as enn

        return enn.GeometricTensor(x, m._map_type).transform(element(gs, g)).tensor

    errs = check_equivariance(emb.pool, masks, act_masks, m.act_maps, Group(grp))
    assert max(errs.values()) < TOL, errs
    with pytest.raises(ValueError, match="must be a multiple of map_size 4"):
        SymmetricEmbedding(3, 50, 5, 1, 4, 5, form="conv")
