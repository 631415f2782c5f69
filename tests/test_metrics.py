"""Ranking metrics against hand-computed ranks; EE, DIE and hits on hand-built twins; checkpoints."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from eqmbrl.core.checkpoint import load_checkpoint
from tests.helpers import REACHER_MODEL, TINY_WIDTHS
from worldmodels.metrics import (
    equivariance_error,
    evaluate,
    latent_health,
    ranking_metrics,
    ranks,
    successor_accuracy,
)
from worldmodels.persistence import load_weights, load_world_model, save_world_model
from worldmodels.world_model import build_world_model


def test_ranks_by_hand() -> None:
    target = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    pred = torch.tensor([[0.1], [2.2], [2.0], [1.0]])
    # sample 0: distances 0.1, 0.9, ... -> rank 1
    # sample 1: distances to targets 2.2, 1.2, 0.2, 0.8; own target 1 at 1.2, targets 2 and 3 closer -> rank 3
    # sample 2: exact hit -> rank 1
    # sample 3: distances 1, 0, 1, 2; own target 3 at 2, all three others closer -> rank 4
    assert ranks(pred, target).tolist() == [1, 3, 1, 4]
    m = ranking_metrics(pred, target, ks=(1, 2, 3))
    assert m["hits@1"] == pytest.approx(50.0)
    assert m["hits@2"] == pytest.approx(50.0)
    assert m["hits@3"] == pytest.approx(75.0)
    assert m["mrr"] == pytest.approx(100 * (1 + 1 / 3 + 1 + 1 / 4) / 4)


def test_ties_count_as_misses_and_as_hits_in_sens_ranking() -> None:
    target = torch.tensor([[1.0], [-1.0]])
    pred = torch.zeros(2, 1)  # equally far from both targets
    assert ranks(pred, target).tolist() == [2, 2]
    assert ranks(pred, target, strict=False).tolist() == [1, 1]


def _tiny_model():
    return build_world_model("sen", cnn_channels=4, embed_hidden=16, latent=8, hidden=16).eval()


class _Reshape(nn.Module):
    """Maps ``[B, 5, 5, 5]`` to latents ``[B, 5, 25]``: an encoder whose outputs are known."""

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return maps.flatten(2)


class _Still(nn.Module):
    """A transition that predicts no change."""

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(z)


def _glass_box_model():
    """A world model whose embedding is the identity on 5 maps of 5x5, whose latents are those maps
    flattened and whose transition predicts no change: every metric can be computed by hand."""
    m = build_world_model("sen", cnn_channels=4, embed_hidden=16, latent=8, hidden=16)
    m.embedding, m.encoder, m.transition = nn.Identity(), _Reshape(), _Still()
    return m.eval()


def test_ee_on_hand_built_twins() -> None:
    m = _glass_box_model()
    x = torch.rand(4, 5, 5, 5)
    error = torch.zeros_like(x)
    error[:, 0, 0, 0] = torch.tensor([0.0, 1.0, 2.0, 3.0])  # per-sample error norms 0, 1, 2, 3
    twins = m.act_maps(1, x) + error
    expected = 1.5 / x.flatten(1).norm(dim=1).mean().item()
    assert equivariance_error(m, x, twins, g=1) == pytest.approx(expected, rel=1e-5)
    assert equivariance_error(m, x, m.act_maps(1, x), g=1) == pytest.approx(0.0, abs=1e-6)


def test_die_and_hits_on_hand_built_twins() -> None:
    """Twins whose latents are twice the originals: every distance doubles, so DIE = mean d / mean |z|
    with d the distance of each prediction to a randomly paired true latent."""
    m = _glass_box_model()
    obs = (torch.rand(6, 3, 5, 5, 5) * 100).to(torch.uint8)
    actions = torch.randint(0, 20, (6, 2))
    out = evaluate(m, obs, actions, twin_obs=2 * obs, twin_actions=actions, steps=(1, 2), g=0, seed=3)
    z = obs.float().div(255).flatten(2)  # [N, T+1, 125]: the latents, and the predictions are z[:, 0]
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(3))
    for s in (1, 2):
        d = (z[:, 0] - z[perm, s]).norm(dim=1)
        assert out[f"die/{s}step"] == pytest.approx((d.mean() / z[:, s].norm(dim=1).mean()).item(), rel=1e-5)
        expected = ranking_metrics(z[:, 0], z[:, s])
        assert out[f"hits@1/{s}step"] == pytest.approx(expected["hits@1"])
        assert out[f"mrr/{s}step"] == pytest.approx(expected["mrr"])
    assert out["ee"] == pytest.approx(1.0, rel=1e-5)  # |2x - x| / |x|, g = identity


def test_checkpoint_round_trip_and_errors(tmp_path: Path) -> None:
    m = _tiny_model().eval()  # the checkpoint must not depend on the mode it was written in
    with torch.no_grad():
        m.encode(torch.rand(2, 3, 50, 50))  # fills the filter caches, which are not state
    save_world_model(tmp_path / "c.pt", m, epoch=3)
    assert not m.training and load_checkpoint(tmp_path / "c.pt")["epoch"] == 3
    m2 = load_world_model(tmp_path / "c.pt")
    assert m2.build_kwargs == m.build_kwargs
    for (k, a), b in zip(m.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_world_model(tmp_path / "nope.pt")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt"):
        load_world_model(tmp_path / "bad.pt")
    other = build_world_model("none", cnn_channels=4, embed_hidden=16, latent=8, hidden=16)
    with pytest.raises(ValueError, match="does not fit"):
        load_weights(other, load_checkpoint(tmp_path / "c.pt")["model"])
    assert not list(tmp_path.glob("*.tmp"))


class LineModel:
    """A stand-in world model on a line: obs ``[B, 1, 1, 1]`` holds a position; actions 0 = +1,
    1 = -1, 2 = stay; it wrongly predicts action 1 as +1."""

    device = torch.device("cpu")

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.reshape(-1, 1, 1).float()

    def step(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return z + torch.tensor([1.0, 1.0, 0.0])[actions].view(-1, 1, 1)

    def energy(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x - y).pow(2).sum((1, 2))


def test_successor_accuracy_by_hand() -> None:
    # positions 5 -> 6 (action 0), 6 -> 5 (action 1), 5 -> 5 (action 2): the model's closest
    # successors are +1 (hit), +1 (miss: the env went to 5), stay (hit) -> 2 of 3
    obs = torch.tensor([[5.0, 6.0, 5.0, 5.0]]).view(1, 4, 1, 1, 1)
    successors = torch.tensor([[[True, False, False], [False, True, False], [False, False, True]]])
    assert successor_accuracy(LineModel(), obs, successors) == pytest.approx(100 * 2 / 3)  # type: ignore[arg-type]


def test_successor_sets_on_block_pushing() -> None:
    import gymnasium as gym

    import envs  # noqa: F401
    from eqmbrl.collect import successor_sets

    env = gym.make("eqmbrl/BlockPushing-shapes-v0")
    state = np.array([[0, 0], [0, 1], [2, 2], [4, 4], [3, 0]])  # object 0 in the top-left corner
    sets = successor_sets(env, state[None, None], np.array([[0]]))  # taken: object 0 up (blocked)
    assert sets.shape == (1, 1, 20)
    # no-ops: object 0 up, left, right (into 1); object 1 up, left (into 0); 3 down, right; 4 left
    assert set(np.flatnonzero(sets[0, 0])) == {0, 1, 3, 4, 5, 14, 15, 17}
    moved = successor_sets(env, state[None], np.array([2]))[0]  # object 0 down: only itself
    assert set(np.flatnonzero(moved)) == {2}


def test_collapsed_and_diverged_latents_are_not_perfect() -> None:
    """All-equal latents tie everywhere: SEN's tie-as-hit ranking says 100, the headline one 0, and the
    health check flags every state; NaN predictions rank last."""
    obs = torch.arange(6, dtype=torch.uint8).view(6, 1, 1, 1).expand(6, 3, 2, 2)  # 6 distinct observations
    z = torch.zeros(6, 2, 4)
    m = ranking_metrics(z, z)
    assert m["ties_hit/hits@1"] == 100.0 and m["hits@1"] == 0.0 and m["mrr"] == pytest.approx(100 / 6)
    health = latent_health(z, obs)
    assert health["collapsed_latents"] == 100.0 and health["latent_std"] == 0.0
    nan = torch.full((6, 2, 4), float("nan"))
    assert ranking_metrics(nan, z)["hits@1"] == 0.0
    assert latent_health(torch.cat([z[:3], nan[:3]]), obs)["nonfinite_latents"] == 50.0
    distinct = torch.arange(6.0).view(6, 1, 1).expand(6, 2, 4)
    assert latent_health(distinct, obs)["collapsed_latents"] == 0.0
    assert latent_health(z, obs.expand(6, 3, 2, 2)[:1].expand(6, 3, 2, 2))["collapsed_latents"] == 0.0  # same obs
    assert ranking_metrics(distinct, distinct)["hits@1"] == 100.0


def test_reward_r2_by_hand() -> None:
    torch.manual_seed(0)
    m = build_world_model("sen", cnn_channels=4, embed_hidden=16, latent=8, hidden=16, reward_weight=1.0).eval()
    obs = (torch.rand(8, 2, 3, 50, 50) * 255).to(torch.uint8)
    actions, rewards = torch.randint(0, 20, (8, 1)), torch.rand(8, 1)
    out = evaluate(m, obs, actions, rewards=rewards, steps=(1,))
    with torch.no_grad():
        pred = m.reward(m.encode(obs[:, 0].float() / 255), actions[:, 0])
    mse = (pred - rewards[:, 0]).pow(2).mean()
    assert out["reward_mse"] == pytest.approx(mse.item(), rel=1e-5)
    assert out["reward_r2"] == pytest.approx(1 - (mse / rewards[:, 0].var(unbiased=False)).item(), rel=1e-5)
    assert "reward_head_r2" not in out  # no known torque cost


def test_reward_head_r2_by_hand() -> None:
    """With a known torque cost c, reward_head_r2 divides the same MSE by the variance of reward + c|a|^2."""
    torch.manual_seed(0)
    m = build_world_model(**REACHER_MODEL, **TINY_WIDTHS, reward_weight=1.0, action_cost=2.0).eval()
    obs = (torch.rand(8, 2, 6, 64, 64) * 255).to(torch.uint8)
    actions, rewards = torch.rand(8, 1, 2) * 2 - 1, -torch.rand(8, 1)
    out = evaluate(m, obs, actions, rewards=rewards, steps=(1,))
    with torch.no_grad():
        pred = m.reward(m.encode(obs[:, 0].float() / 255), actions[:, 0])
    mse = (pred - rewards[:, 0]).pow(2).mean()
    distance = rewards[:, 0] + 2.0 * actions[:, 0].pow(2).sum(1)
    assert out["reward_mse"] == pytest.approx(mse.item(), rel=1e-5)
    assert out["reward_head_r2"] == pytest.approx(1 - (mse / distance.var(unbiased=False)).item(), rel=1e-5)
