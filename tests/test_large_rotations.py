"""Large-rotation training transitions for the teapot (``trainer.large_rotations``): they are real
transitions of the env's dynamics beyond its action box, rendered from their states, drawn as told,
and they give the MatMul loss the global signal that 12-degree steps lack (docs/teapot.md)."""

import numpy as np
import pytest
import torch

from agents.random_agent import RandomAgent
from envs.teapot import TeapotEnv
from eqmbrl.augment import LargeRotations, chain
from eqmbrl.collect import collect
from eqmbrl.core.rotations import TURN_ANGLE, random_rotvecs, rotvec_to_matrix
from eqmbrl.core.types import to_float_images
from eqmbrl.settings import TrainerSettings
from worldmodels.rotations import encode_rotations
from worldmodels.world_model import build_world_model


@pytest.fixture(scope="module")
def teapot() -> TeapotEnv:
    return TeapotEnv(image_size=32)


def test_random_rotvecs_are_haar(teapot: TeapotEnv) -> None:
    w = random_rotvecs(np.random.default_rng(0), 20000)
    angle = np.linalg.norm(w, axis=1)
    assert angle.max() <= np.pi + 1e-9 and (angle > 3 * TURN_ANGLE).mean() > 0.9
    traces = np.trace(rotvec_to_matrix(w), axis1=1, axis2=2)
    assert abs(traces.mean()) < 0.03  # Haar: E tr A = 0 (tr = 1 + 2 cos angle)
    assert abs((angle < np.pi / 2).mean() - (np.pi / 2 - 1) / np.pi) < 0.01  # P(angle < t) = (t - sin t) / pi
    assert np.array_equal(w, random_rotvecs(np.random.default_rng(0), 20000))


def test_replaced_sequences_are_real_transitions(teapot: TeapotEnv) -> None:
    buf = collect(teapot, RandomAgent(teapot.action_space, 0), 4, 5, seed=0)
    starts = buf.valid_starts(2)[:12]
    plain = buf.gather(starts, 2)
    batch = buf.gather(starts, 2, augment=LargeRotations(teapot, 1.0, np.random.default_rng(3)))
    rows = (starts[:, None] + np.arange(3)) % buf.capacity
    states = buf.states[rows].copy()
    actions = batch.actions.numpy().astype(np.float64)
    assert np.abs(actions).max() > TURN_ANGLE  # beyond the env's box
    for t in range(2):  # the env's dynamics R -> A R from the stored start
        states[:, t + 1] = (rotvec_to_matrix(actions[:, t]) @ states[:, t].reshape(-1, 3, 3)).reshape(-1, 9)
    frames = to_float_images(torch.from_numpy(teapot.render_states(states.reshape(-1, 9))))
    assert np.allclose(batch.obs.flatten(0, 1).numpy(), frames.numpy())
    assert np.array_equal(batch.obs[:, 0].numpy(), plain.obs[:, 0].numpy())
    none = buf.gather(starts, 2, augment=LargeRotations(teapot, 0.0, np.random.default_rng(3)))
    assert np.array_equal(none.obs.numpy(), plain.obs.numpy()) and chain(None, None) is None


def test_a_training_box_keeps_its_signs(teapot: TeapotEnv) -> None:
    """Trained without roll (its component pinned to 0) the large rotations have no roll component
    either, yet are large about the other two axes; a one-sided component keeps its sign."""
    buf = collect(teapot, RandomAgent(teapot.action_space, 0), 4, 5, seed=0)
    starts = buf.valid_starts(1)[:16]
    box = LargeRotations(teapot, 1.0, np.random.default_rng(3), low=[-0.2, 0.0, 0.0], high=[0.2, 0.0, 0.2])
    w = buf.gather(starts, 1, augment=box).actions.numpy().reshape(-1, 3)
    assert np.all(w[:, 1] == 0) and np.all(w[:, 2] >= 0) and (w[:, 0] < 0).any() and (w[:, 0] > 0).any()
    assert np.linalg.norm(w, axis=1).max() > 3 * TURN_ANGLE


def test_bad_values_are_named() -> None:
    with pytest.raises(ValueError, match=r"trainer.large_rotations must be in \[0, 1\], got -0.1"):
        TrainerSettings(large_rotations=-0.1)
    env = TeapotEnv(actions="discrete", image_size=32)
    with pytest.raises(ValueError, match="needs rotation-vector actions .* encodes its actions as 'turns'"):
        LargeRotations(env, 1.0, np.random.default_rng(0))


def test_small_steps_barely_penalise_an_invariant_embedding() -> None:
    """The cause (docs/teapot.md): a constant latent C pays positive energy |A C - C|^2 / (2 sigma^2),
    below 0.6 (a 21-degree turn at most) for every action in the 2 pi / 30 box, less than the hinge
    margin that a collapse costs, against 12 on average for Haar rotations."""
    model = build_world_model(
        "sen", slots=1, group="O", in_channels=1, image_size=32, stride=4, action_encoding="rotvecs", action_dim=3
    )
    rng = np.random.default_rng(0)
    small = torch.from_numpy(rng.uniform(-TURN_ANGLE, TURN_ANGLE, (4000, 3))).float()
    large = torch.from_numpy(random_rotvecs(rng, 4000)).float()
    c = torch.eye(3).flatten().expand(4000, 1, 9)

    def energy(w: torch.Tensor) -> torch.Tensor:  # [4000]: |A C - C|^2 / (2 sigma^2)
        a = encode_rotations(w, "rotvecs", 1).unflatten(-1, (3, 3))
        return model.energy((a @ c.unflatten(-1, (3, 3))).flatten(-2), c)

    assert energy(small).max() < 0.6 < model.hinge  # the negatives' margin outweighs it
    assert 11.5 < energy(large).mean() < 12.5  # E |A - I|^2 = 6 under Haar, sigma 0.5
