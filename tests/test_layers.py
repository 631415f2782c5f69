"""The fast executions of escnn-owned layers compute escnn's function: values and gradients to 1e-5."""

import copy

import pytest
import torch
import torch.nn.functional as F

from eqmbrl.core.symmetry import Group
from eqmbrl.core.types import SequenceBatch
from tests.helpers import REACHER_MODEL
from worldmodels.fields import make_gspace, regular, trivial
from worldmodels.layers import EquivariantConv, EquivariantLinear, conv2d, orbit_permutation, set_execution
from worldmodels.world_model import build_world_model

TINY = dict(cnn_channels=8, embed_hidden=32, latent=16, hidden=32, reward_weight=1.0)
DOMAINS = {  # name: (build kwargs, observation shape, action sampler)
    "C4-blocks": (dict(group="C4"), (3, 50, 50), lambda n: torch.randint(0, 20, (n, 1))),
    "D4-reacher": (
        REACHER_MODEL,
        (6, 64, 64),
        lambda n: torch.rand(n, 1, 2) * 2 - 1,
    ),
}


def _loss_and_grads(model, batch: SequenceBatch) -> tuple[torch.Tensor, torch.Tensor]:
    model.zero_grad()
    torch.manual_seed(1)  # the same negatives in every execution
    loss = model.loss(batch)["loss"]
    loss.backward()
    return loss.detach(), torch.cat([p.grad.flatten() for p in model.parameters()])


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("domain", list(DOMAINS))
@pytest.mark.parametrize("variant", ["sen", "none", "full"])
@pytest.mark.parametrize("execution", ["dense", "fourier"])
def test_loss_and_gradients_match_escnn(variant: str, domain: str, execution: str) -> None:
    kwargs, shape, actions = DOMAINS[domain]
    torch.manual_seed(0)
    model = build_world_model(variant, **kwargs, **TINY)
    batch = SequenceBatch(torch.rand(8, 2, *shape), actions(8), torch.rand(8, 1))
    ref_loss, ref_grads = _loss_and_grads(set_execution(model, "escnn"), batch)
    loss, grads = _loss_and_grads(set_execution(model, execution), batch)
    assert _relative(loss, ref_loss) < 1e-5 and _relative(grads, ref_grads) < 1e-5
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("group", ["C4", "D4"])
@pytest.mark.parametrize("size", [5, 8])
def test_map_covering_conv_in_the_fourier_basis(group: str, size: int) -> None:
    """The encoder's whole-map conv, regrouped into regular fields and run block-diagonally."""
    gs = make_gspace(Group(group))
    torch.manual_seed(0)
    layer = EquivariantConv(regular(gs, 16), regular(gs, 24), size)
    x = torch.randn(5, 16, size, size, requires_grad=True)
    outs = []
    for execution in ("escnn", "fourier"):
        y = set_execution(layer, execution)(x)
        outs.append((y, *torch.autograd.grad(y.pow(2).sum(), [x, layer.conv.weights])))
    for fast, ref in zip(outs[1], outs[0]):
        assert _relative(fast, ref) < 1e-5


def test_orbit_permutation_needs_regular_fields() -> None:
    gs = make_gspace(Group("C4"))
    perm = orbit_permutation(regular(gs, 8), 5)
    assert sorted(perm.tolist()) == list(range(8 * 25))
    with pytest.raises(ValueError, match="not a sum of regular fields"):
        orbit_permutation(trivial(gs, 2), 5)


@pytest.mark.parametrize(
    "shape, weight, stride, padding",
    [
        ((4, 3, 20, 20), (6, 3, 5, 5), 5, 0),  # patchify: one linear map on the patches
        ((4, 2, 8, 8), (6, 2, 3, 3), 1, 1),  # few taps: unfold + linear
        ((4, 8, 6, 6), (5, 8, 3, 3), 1, 1),  # otherwise torch's convolution
    ],
)
def test_conv2d_routes_match_torch(shape: tuple, weight: tuple, stride: int, padding: int) -> None:
    torch.manual_seed(0)
    x, w, b = torch.randn(shape, requires_grad=True), torch.randn(weight, requires_grad=True), torch.randn(weight[0])
    fast, ref = conv2d(x, w, b, stride, padding), F.conv2d(x, w, b, stride=stride, padding=padding)
    assert torch.allclose(fast, ref, atol=1e-5)
    grads = [torch.autograd.grad(y.pow(2).sum(), [x, w]) for y in (fast, ref)]
    assert all(torch.allclose(a, c, atol=1e-4) for a, c in zip(*grads))


def test_filters_are_cached_without_gradients_and_follow_parameter_updates() -> None:
    gs = make_gspace(Group("C4"))
    layer = EquivariantLinear(regular(gs, 8), regular(gs, 8))
    x = torch.randn(3, 8)
    with torch.no_grad():
        first = layer.filters()[0]
        assert layer.filters()[0] is first  # cached
        layer.conv.weights.add_(1.0)  # an in-place update (as an optimiser step) invalidates the cache
        assert not torch.equal(layer.filters()[0], first)
        w, b = layer.conv.expand_parameters()
        assert torch.allclose(layer(x), F.linear(x, w[:, :, 0, 0], b))
    assert layer.weights()[0].requires_grad  # with gradients on, filters are expanded afresh


def test_state_dict_and_copies_do_not_depend_on_the_mode() -> None:
    model = build_world_model("sen", **TINY)
    keys = set(model.state_dict())
    with torch.no_grad():
        model.eval().encode(torch.rand(2, 3, 50, 50))  # fills the caches
    assert set(model.state_dict()) == keys
    twin = copy.deepcopy(model)  # works in eval mode, with filled caches
    obs = torch.rand(2, 3, 50, 50)
    with torch.no_grad():
        assert torch.equal(twin.encode(obs), model.encode(obs))


@pytest.mark.parametrize("execution", ["dense", "fourier"])
def test_export_is_frozen_and_equal(execution: str) -> None:
    kwargs, shape, actions = DOMAINS["D4-reacher"]
    model = build_world_model("sen", **kwargs, **TINY).train()
    frozen = model.export(execution)
    obs, acts = torch.rand(4, *shape), actions(4)[:, 0]
    assert model.training and not frozen.training and not any(p.requires_grad for p in frozen.parameters())
    with torch.no_grad():
        model.eval()
        z, zf = model.encode(obs), frozen.encode(obs)
        assert torch.allclose(z, zf, atol=1e-5)
        assert torch.allclose(model.reward(z, acts), frozen.reward(zf, acts), atol=1e-5)
    with pytest.raises(ValueError, match="unknown execution 'gpu'; allowed: escnn, dense, fourier"):
        model.export("gpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device to compare with the CPU")
@pytest.mark.parametrize("execution", ["dense", "fourier"])
def test_same_rollout_on_cuda_as_on_cpu(execution: str) -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    kwargs, shape, actions = DOMAINS["C4-blocks"]
    model = build_world_model("sen", **kwargs, **TINY)
    obs, acts = torch.rand(4, *shape), torch.randint(0, 20, (4, 3))
    outs = []
    for device in ("cpu", "cuda"):
        frozen = copy.deepcopy(model).to(device).export(execution)
        with torch.no_grad():
            outs.append(frozen.rollout(frozen.encode(obs.to(device)), acts.to(device)).cpu())
    assert torch.allclose(*outs, atol=1e-4)
