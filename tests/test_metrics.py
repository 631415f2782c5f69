"""Ranking metrics against hand-computed ranks; EE and DIE on constructed cases; checkpoints."""
from pathlib import Path

import pytest
import torch

from eqmbrl.checkpoint import load_checkpoint
from worldmodels.metrics import equivariance_error, evaluate, ranking_metrics, ranks
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


def test_ties_count_as_hits() -> None:
    target = torch.tensor([[1.0], [-1.0]])
    pred = torch.zeros(2, 1)  # equally far from both targets
    assert ranks(pred, target).tolist() == [1, 1]


def _tiny_model():
    return build_world_model("sen", cnn_channels=4, embed_hidden=16, latent=8, hidden=16).eval()


def test_ee_is_zero_for_exact_twins_and_positive_otherwise() -> None:
    m = _tiny_model()
    obs = torch.rand(4, 3, 50, 50)
    # a "twin" whose embedding is exactly the rotated embedding gives EE 0: use the identity element
    assert equivariance_error(m, obs, obs, g=0) == pytest.approx(0.0, abs=1e-6)
    assert equivariance_error(m, obs, obs, g=1) > 1e-3


def test_evaluate_keys_and_identity_twin() -> None:
    m = _tiny_model()
    obs = (torch.rand(6, 11, 3, 50, 50) * 255).to(torch.uint8)
    actions = torch.randint(0, 20, (6, 10))
    out = evaluate(m, obs, actions, twin_obs=obs, twin_actions=actions, steps=(1, 5, 10), g=0)
    assert {"hits@1/1step", "mrr/10step", "ee", "die/5step"} <= set(out)
    assert out["ee"] == pytest.approx(0.0, abs=1e-6)  # twin under the identity is the episode itself
    assert out["die/1step"] == pytest.approx(0.0, abs=1e-6)
    assert 0.0 <= out["hits@1/10step"] <= 100.0


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
