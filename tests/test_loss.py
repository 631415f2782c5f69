"""The contrastive hinge loss: value by hand, and decreasing when fitting a tiny dataset."""

import pytest
import torch

from eqmbrl.core.types import SequenceBatch
from tests.helpers import REACHER_MODEL, TINY_WIDTHS
from worldmodels.actions import encode_actions
from worldmodels.world_model import build_world_model


@pytest.mark.parametrize("variant", ["sen", "none", "full"])
def test_loss_decreases_on_tiny_dataset(variant: str) -> None:
    torch.manual_seed(0)
    m = build_world_model(variant, cnn_channels=8, embed_hidden=32, latent=8, hidden=32)
    obs = torch.rand(32, 2, 3, 50, 50)
    batch = SequenceBatch(obs, torch.randint(0, 20, (32, 1)), torch.zeros(32, 1))
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    losses = []
    for _ in range(40):
        torch.manual_seed(1)  # same negatives each step, so the curve is comparable
        out = m.loss(batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    assert losses[-1] < 0.75 * losses[0], losses


def test_energy_and_hinge_by_hand() -> None:
    m = build_world_model("sen", cnn_channels=4, embed_hidden=8, latent=4, hidden=8, sigma=0.5, hinge=1.0)
    x = torch.zeros(2, 5, 4)
    y = torch.zeros(2, 5, 4)
    y[0, 0, 0] = 1.0  # one slot differs by 1 in one channel: |d|^2 = 1, mean over 5 slots, / (2 * 0.25)
    assert m.energy(x, y).tolist() == pytest.approx([0.4, 0.0])


def test_reward_from_next_reads_the_next_latent() -> None:
    """``reward_from="next"`` scores (z', a): the head's input is step(z, a) unless z' is given."""
    torch.manual_seed(0)
    m = build_world_model(**REACHER_MODEL, **TINY_WIDTHS, reward_weight=1.0, reward_from="next").eval()
    z, a = torch.randn(4, 1, m.latent_type.size), torch.rand(4, 2) * 2 - 1
    z_next = m.step(z, a)
    with torch.no_grad():
        assert torch.allclose(m.reward(z, a), m.reward(z + 1.0, a, z_next))  # z itself is not read
        assert torch.allclose(m.reward(z, a), m.reward_head(z_next, encode_actions(a, "torques", 1)))
        assert not torch.allclose(m.reward(z, a), m.reward(z, a, z_next + 1.0))


def test_same_episode_negative_by_hand() -> None:
    """``batch.negatives`` adds max(0, hinge - E(z_0, z_neg)), encoded in the same call as the sequence."""
    torch.manual_seed(0)
    m = build_world_model("sen", cnn_channels=4, embed_hidden=8, latent=4, hidden=8).eval()
    obs, actions, negatives = torch.rand(4, 2, 3, 50, 50), torch.randint(0, 20, (4, 1)), torch.rand(4, 3, 50, 50)
    torch.manual_seed(1)
    plain = m.loss(SequenceBatch(obs, actions, torch.zeros(4, 1)))
    torch.manual_seed(1)
    out = m.loss(SequenceBatch(obs, actions, torch.zeros(4, 1), negatives))
    with torch.no_grad():
        expected = torch.relu(1.0 - m.energy(m.encode(obs[:, 0]), m.encode(negatives))).mean()
    assert out["negative_episode"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert out["loss"].item() == pytest.approx((plain["loss"] + expected).item(), rel=1e-5)


def test_inverse_dynamics_loss_by_hand() -> None:
    """``inverse_weight`` x the squared error of the torques predicted from each encoded pair."""
    torch.manual_seed(0)
    m = build_world_model(**REACHER_MODEL, **TINY_WIDTHS, inverse_weight=0.5).eval()
    obs, actions = torch.rand(4, 3, 6, 64, 64), torch.rand(4, 2, 2) * 2 - 1
    torch.manual_seed(1)
    out = m.loss(SequenceBatch(obs, actions, torch.zeros(4, 2)))
    with torch.no_grad():
        z = [m.encode(obs[:, t]) for t in range(3)]
        a_hat = torch.stack([m.inverse(z[t], z[t + 1]) for t in range(2)], 1)
        expected = (a_hat - actions).pow(2).mean()
    assert out["inverse"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert out["loss"].item() == pytest.approx((out["positive"] + out["negative"] + 0.5 * expected).item(), rel=1e-5)
    with pytest.raises(ValueError, match="worldmodel.inverse_weight=1.0 needs continuous torque actions"):
        build_world_model(**TINY_WIDTHS, slots=1, inverse_weight=1.0)


def test_action_cost_is_added_analytically() -> None:
    """``action_cost = c`` subtracts the known ``c |a|^2`` from the head's output, so the head is
    trained on the rest of the reward; ``c = 0`` is the head alone."""
    torch.manual_seed(0)
    m = build_world_model(**REACHER_MODEL, **TINY_WIDTHS, reward_weight=1.0, action_cost=0.5).eval()
    z, a = torch.randn(4, 1, m.latent_type.size), torch.tensor([[1.0, 0.0], [0.5, -0.5], [0.0, 0.0], [-1.0, 1.0]])
    with torch.no_grad():
        head = m.reward_head(z, encode_actions(a, "torques", 1))
        assert torch.allclose(m.reward(z, a), head - 0.5 * torch.tensor([1.0, 0.5, 0.0, 2.0]))
        m.action_cost = 0.0
        assert torch.allclose(m.reward(z, a), head)
    with pytest.raises(ValueError, match="worldmodel.action_cost=1.0 needs continuous torque actions"):
        build_world_model(**TINY_WIDTHS, action_cost=1.0)  # block pushing: discrete pushes


def test_k_step_loss_by_hand() -> None:
    """With 2-step sequences the positive averages E over the rolled-out predictions, the negative
    and the reward error over both steps (the reward of step 2 read in the predicted latent)."""
    torch.manual_seed(0)
    m = build_world_model("sen", cnn_channels=4, embed_hidden=8, latent=4, hidden=8, reward_weight=0.5).eval()
    obs, actions, rewards = torch.rand(4, 3, 3, 50, 50), torch.randint(0, 20, (4, 2)), torch.randn(4, 2)
    torch.manual_seed(1)
    out = m.loss(SequenceBatch(obs, actions, rewards))
    torch.manual_seed(1)
    perm = torch.randperm(4)
    with torch.no_grad():
        z = [m.encode(obs[:, t]) for t in range(3)]
        p1 = m.step(z[0], actions[:, 0])
        p2 = m.step(p1, actions[:, 1])
        positive = (m.energy(p1, z[1]).mean() + m.energy(p2, z[2]).mean()) / 2
        negative = sum(torch.relu(1.0 - m.energy(z[t], z[t][perm])).mean() for t in range(2)) / 2
        r = torch.stack([m.reward(z[0], actions[:, 0]), m.reward(p1, actions[:, 1])], 1)
        reward = (r - rewards).pow(2).mean()
    assert out["positive"].item() == pytest.approx(positive.item(), rel=1e-5)
    assert out["negative"].item() == pytest.approx(negative.item(), rel=1e-5)
    assert out["reward"].item() == pytest.approx(reward.item(), rel=1e-5)
    assert out["loss"].item() == pytest.approx((positive + negative + 0.5 * reward).item(), rel=1e-5)


def test_state_head_loss_by_hand() -> None:
    """``state_weight`` x the squared error of the planar vectors decoded from the k+1 encoded
    latents and the k rollout latents; without ``batch.states`` the term is absent."""
    torch.manual_seed(0)
    m = build_world_model(**REACHER_MODEL, **TINY_WIDTHS, state_weight=0.5, state_points=5).eval()
    obs, actions, states = torch.rand(4, 3, 6, 64, 64), torch.rand(4, 2, 2) * 2 - 1, torch.randn(4, 3, 10)
    torch.manual_seed(1)
    out = m.loss(SequenceBatch(obs, actions, torch.zeros(4, 2), states=states))
    with torch.no_grad():
        z = torch.stack([m.encode(obs[:, t]) for t in range(3)], 1)
        rolled = m.rollout(z[:, 0], actions)[:, 1:]
        errors = [(m.decode_state(z[:, t]) - states[:, t]).pow(2) for t in range(3)]
        errors += [(m.decode_state(rolled[:, t]) - states[:, t + 1]).pow(2) for t in range(2)]
        expected = torch.stack(errors).mean()
    assert out["state"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert out["loss"].item() == pytest.approx((out["positive"] + out["negative"] + 0.5 * expected).item(), rel=1e-5)
    torch.manual_seed(1)
    assert "state" not in m.loss(SequenceBatch(obs, actions, torch.zeros(4, 2)))
    with pytest.raises(ValueError, match="needs an env whose unwrapped env has state_points"):
        build_world_model(**REACHER_MODEL, **TINY_WIDTHS, state_weight=1.0, state_points=0)
    with pytest.raises(ValueError, match="worldmodel.state_weight needs a single-slot model"):
        build_world_model(**TINY_WIDTHS, state_weight=1.0, state_points=2)
