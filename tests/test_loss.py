"""The contrastive hinge loss: value by hand, and decreasing when fitting a tiny dataset."""

import pytest
import torch

from eqmbrl.types import SequenceBatch
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
