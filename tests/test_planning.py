"""Exported planning copies (frozen, filters cached, fast execution) compute the same function as the original."""

import numpy as np
import pytest
import torch

from agents.mpc import MPCAgent
from agents.planners import CEM
from tests.helpers import REACHER_MODEL
from worldmodels.layers import set_execution
from worldmodels.world_model import build_world_model

TINY = dict(cnn_channels=4, embed_hidden=16, latent=8, hidden=16)
REACHER = REACHER_MODEL
CASES = {  # name: (build kwargs, observation shape)
    **{f"blocks-{v}": (dict(variant=v), (3, 50, 50)) for v in ("sen", "none", "full")},
    **{f"reacher-{v}": (dict(variant=v, **REACHER), (6, 64, 64)) for v in ("sen", "none")},
}


def _actions(model, n: int, horizon: int) -> torch.Tensor:
    if model.action_encoding == "directions":
        return torch.randint(0, 4 * model.slots, (n, horizon))
    return torch.rand(n, horizon, 2) * 2 - 1


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("execution", ["dense", "fourier"])
def test_export_equals_the_original(case: str, execution: str) -> None:
    kwargs, shape = CASES[case]
    model = set_execution(build_world_model(**kwargs, **TINY), "escnn")
    model.train()
    copy = model.export(execution)
    model.eval()
    obs, actions = torch.rand(6, *shape), _actions(model, 6, 4)
    with torch.no_grad():
        outs = [(m.rollout(m.encode(obs), actions), m.reward(m.encode(obs), actions[:, 0])) for m in (model, copy)]
    for a, b in zip(*outs):
        assert torch.allclose(a, b, atol=1e-5), float((a - b).abs().max())
    assert not copy.training and not any(p.requires_grad for p in copy.parameters())
    assert all(p.requires_grad for p in model.parameters())


def test_copy_leaves_the_original_training_and_sync_follows_new_weights() -> None:
    model = build_world_model("sen", **REACHER, **TINY).train()
    agent = MPCAgent(model, CEM(horizon=2, action_dim=2, population=16, elites=4, iterations=2))
    assert model.training and agent.model is not model
    obs = np.random.default_rng(0).integers(0, 256, (6, 64, 64), dtype=np.uint8)
    agent.set_goal(obs)
    before = agent.goal.clone()
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(0.1)
    agent.sync()
    model.eval()
    with torch.no_grad():
        expected = model.encode(torch.as_tensor(obs)[None].float() / 255)
    assert torch.allclose(agent.goal, expected, atol=1e-5) and not torch.allclose(agent.goal, before)
