"""The teapot in SO(3): rotations and the cube group, the env (dynamics, renders, symmetry, checkers),
the SO(3) world models (Gram–Schmidt, MatMul equivariance under continuous rotations, latents in
SO(3)), TH@1 / HH@1 on hand-built latents, and a tiny run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers the gym ids)
from envs.env_checker import check_symmetric_env
from envs.teapot import SUCCESS_ANGLE, TeapotEnv, TeapotSymmetry, step_states
from eqmbrl.collect import twin_episodes
from eqmbrl.core.rotations import (
    TURN_ANGLE,
    conjugate_turns,
    cube_rotations,
    geodesic_angle,
    random_rotations,
    rotvec_to_matrix,
    turn_matrices,
)
from eqmbrl.core.symmetry import Group
from worldmodels.metrics import hard_hits, turn_hits
from worldmodels.rotations import encode_rotations, gram_schmidt, rotate_vectors, rotvec_matrices
from worldmodels.world_model import build_world_model

KINDS = ("continuous", "discrete")
TEAPOT_MODEL = dict(group="O", in_channels=1, image_size=64, slots=2, stride=4, cnn_channels=4, embed_hidden=16)


@pytest.fixture(scope="module", params=KINDS)
def env(request: pytest.FixtureRequest) -> TeapotEnv:
    e = TeapotEnv(actions=request.param)
    yield e
    e.close()


def random_so3(n: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.as_tensor(random_rotations(np.random.default_rng(seed), n), dtype=dtype)


# ---------------------------------------------------------------------------------- rotations
def test_cube_rotations_are_a_group_of_24_rotations() -> None:
    g = cube_rotations()
    assert g.shape == (24, 3, 3) and np.allclose(g[0], np.eye(3))
    assert np.allclose(g @ g.transpose(0, 2, 1), np.eye(3)) and np.allclose(np.linalg.det(g), 1)
    group = Group("O")
    for a in range(24):
        for b in range(24):
            assert np.array_equal(g[a] @ g[b], g[group.compose(a, b)])
    assert all(group.compose(a, group.inverse(a)) == 0 for a in range(24))


def test_cube_rotations_permute_the_turns_exactly() -> None:
    g, t = cube_rotations(), turn_matrices()
    for i in range(24):
        for a in range(6):
            assert np.abs(g[i] @ t[a] @ g[i].T - t[conjugate_turns()[i, a]]).max() < 1e-15


def test_planar_only_methods_refuse_the_cube_group() -> None:
    with pytest.raises(ValueError, match="group O is not planar"):
        Group("O").rotation(1)


def test_rodrigues_numpy_and_torch_agree_and_are_equivariant() -> None:
    w = np.random.default_rng(0).uniform(-TURN_ANGLE, TURN_ANGLE, (50, 3))
    m = rotvec_to_matrix(w)
    assert np.abs(m - rotvec_matrices(torch.as_tensor(w)).numpy()).max() < 1e-12
    g = random_rotations(np.random.default_rng(1), 50)
    assert np.abs(rotvec_to_matrix(np.einsum("bij,bj->bi", g, w)) - g @ m @ g.transpose(0, 2, 1)).max() < 1e-12


# ---------------------------------------------------------------------------------- env
def test_an_action_composes_the_orientation_exactly(env: TeapotEnv) -> None:
    env.reset(seed=3)
    start = env.get_state().reshape(3, 3)
    action = env.action_space.sample()
    env.step(action)
    mat = turn_matrices()[action] if env.kind == "discrete" else rotvec_to_matrix(np.asarray(action, np.float64))
    assert np.abs(env.get_state().reshape(3, 3) - mat @ start).max() < 1e-12


@pytest.mark.parametrize("axis", range(3))
def test_thirty_turns_about_one_axis_return_to_the_start(axis: int) -> None:
    start = random_rotations(np.random.default_rng(axis), 1).reshape(1, 9)
    state = start
    for _ in range(30):
        state = step_states(state, np.array([2 * axis]), "discrete")
    assert np.abs(state - start).max() < 1e-12
    env = TeapotEnv(actions="discrete")
    states, actions = env.turn_episodes(np.random.default_rng(0), 2)
    assert states.shape == (3, 2, 31, 9) and actions.shape == (3, 2, 30)
    assert np.abs(states[:, :, -1] - states[:, :, 0]).max() < 1e-12
    env.close()


def test_gymnasium_and_sb3_check_env_pass(env: TeapotEnv) -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    check_env(env, skip_render_check=True)
    sb3_check_env(env, warn=False)


@pytest.mark.parametrize("env_id", ["eqmbrl/Teapot-v0", "eqmbrl/TeapotGoal-v0"])
@pytest.mark.parametrize("kind", KINDS)
def test_symmetric_env_checker_passes(env_id: str, kind: str) -> None:
    e = gym.make(env_id, actions=kind)
    check_symmetric_env(e, num_states=3)
    e.close()


def test_different_orientations_give_different_images(env: TeapotEnv) -> None:
    states = random_rotations(np.random.default_rng(0), 20).reshape(20, 9)
    images = env.render_states(states)
    assert images.shape == (20, 1, 64, 64) and images.dtype == np.uint8
    flat = images.reshape(20, -1).astype(int)
    assert (np.abs(flat[:, None] - flat[None]).sum(-1) + np.eye(20, dtype=int) * 10**9).min() > 0
    one_turn = step_states(states[:1], np.array([4]), "discrete")  # one yaw turn changes the image
    assert not np.array_equal(env.render_states(one_turn), images[:1])


def test_twins_are_renders_of_the_rotated_orientation(env: TeapotEnv) -> None:
    env.reset(seed=0)
    states = np.stack([env.get_state()] + [env.step(env.action_space.sample())[4]["state"] for _ in range(3)])
    actions = np.stack([env.action_space.sample() for _ in range(3)])
    for g in (1, 5, 17):
        twin_obs, _ = twin_episodes(env, actions[None], states[None], g)
        for t, state in enumerate(states):
            rotated = (cube_rotations()[g] @ state.reshape(3, 3)).reshape(9)
            assert np.array_equal(twin_obs[0, t], env.set_state(rotated))
            assert not np.array_equal(twin_obs[0, t], env.render_states(state[None])[0])


def test_goal_variant_succeeds_within_half_a_turn() -> None:
    env = TeapotEnv(actions="discrete", goal_conditioned=True, goal_axes=(2,))
    env.reset(seed=1, options={"goal_distance": 1})
    goal = env.goal_state.reshape(3, 3)
    assert np.isclose(geodesic_angle(goal, env.get_state().reshape(3, 3)), TURN_ANGLE)
    turn = next(
        a
        for a in (4, 5)
        if np.allclose(step_states(env.get_state()[None], np.array([a]), "discrete"), goal.reshape(1, 9))
    )
    _, reward, terminated, _, info = env.step(turn)
    assert terminated and info["is_success"] and reward > -SUCCESS_ANGLE / np.pi
    env.close()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(actions="big"), "unknown actions 'big'"),
        (dict(channels=2), "unknown channels 2"),
        (dict(goal_axes=(3,)), "goal_axes must be a non-empty subset"),
        (dict(goal_distance=0), "goal_distance must be an int in 1..10"),
    ],
)
def test_bad_arguments_are_one_line_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TeapotEnv(**kwargs)


def test_states_must_be_rotations(env: TeapotEnv) -> None:
    with pytest.raises(ValueError, match="must be rotation matrices"):
        env.render_states(np.full((1, 9), 0.5))
    with pytest.raises(ValueError, match=r"shape \[B, 9\]"):
        env.set_state(np.eye(3))


# ---------------------------------------------------------------------------------- world models
def test_gram_schmidt_gives_rotations_and_is_equivariant() -> None:
    v = torch.randn(100, 2, 3, dtype=torch.float64)
    r = gram_schmidt(v)
    assert (r @ r.transpose(-1, -2) - torch.eye(3, dtype=torch.float64)).abs().max() < 1e-12
    assert (torch.linalg.det(r) - 1).abs().max() < 1e-12
    g = random_so3(100, dtype=torch.float64)
    assert (gram_schmidt(v @ g.transpose(-1, -2)) - g @ r).abs().max() < 1e-10


@pytest.mark.parametrize("encoding", ["rotvecs", "turns"])
def test_matmul_transition_is_equivariant_under_continuous_rotations(encoding: str) -> None:
    model = build_world_model("sen", action_encoding=encoding, action_dim=3, **TEAPOT_MODEL).eval()
    z = model.encode(torch.rand(8, 1, 64, 64))
    if encoding == "rotvecs":
        w = (torch.rand(8, 3) * 2 - 1) * TURN_ANGLE
        a = encode_rotations(w, encoding, 2)
    else:
        a = encode_rotations(torch.arange(8) % 6, encoding, 2)
    g = random_so3(8, seed=2)[:, None]  # one continuous rotation per sample
    a_g = (g @ a.unflatten(-1, (3, 3)) @ g.transpose(-1, -2)).flatten(-2)  # A -> g A g^T
    step = model.transition
    assert (step(rotate_vectors(g, z), a_g) - rotate_vectors(g, step(z, a))).abs().max() < 1e-4
    if encoding == "rotvecs":  # the encoding of g w is g A g^T
        w_g = (g[:, 0] @ w[..., None])[..., 0]
        assert (encode_rotations(w_g, encoding, 2) - a_g).abs().max() < 1e-5


@pytest.mark.parametrize("encoding", ["rotvecs", "turns"])
def test_model_steps_commute_with_every_cube_rotation(encoding: str) -> None:
    kind = "continuous" if encoding == "rotvecs" else "discrete"
    sym = TeapotSymmetry(kind)
    model = build_world_model("sen", action_encoding=encoding, action_dim=3, **TEAPOT_MODEL).eval()
    z = model.encode(torch.rand(6, 1, 64, 64))
    actions = (
        np.random.default_rng(0).uniform(-TURN_ANGLE, TURN_ANGLE, (6, 3)).astype(np.float32)
        if kind == "continuous"
        else np.arange(6)
    )
    for g in range(24):
        twin = torch.as_tensor(sym.act_action(g, actions))
        err = model.step(model.act_latent(g, z), twin) - model.act_latent(g, model.step(z, torch.as_tensor(actions)))
        assert err.abs().max() < 1e-5, g


def test_sen_latents_lie_in_so3_and_none_latents_are_free() -> None:
    sen = build_world_model("sen", action_encoding="rotvecs", action_dim=3, **TEAPOT_MODEL)
    z = sen.encode(torch.rand(16, 1, 64, 64)).unflatten(-1, (3, 3))  # B x K x 3 x 3
    assert z.shape == (16, 2, 3, 3)
    assert (z @ z.transpose(-1, -2) - torch.eye(3)).abs().max() < 1e-5
    assert (torch.linalg.det(z) - 1).abs().max() < 1e-5
    none = build_world_model("none", action_encoding="rotvecs", action_dim=3, **TEAPOT_MODEL)
    z = none.encode(torch.rand(16, 1, 64, 64)).unflatten(-1, (3, 3))
    assert (z @ z.transpose(-1, -2) - torch.eye(3)).abs().max() > 1e-2
    assert none.act_latent(5, z.flatten(-2)) is not None and none.group.order == 1


def test_rotation_models_refuse_what_they_do_not_have() -> None:
    with pytest.raises(ValueError, match="sen and none only"):
        build_world_model("full", action_encoding="rotvecs", action_dim=3, **TEAPOT_MODEL)
    with pytest.raises(ValueError, match="the cube group O goes with rotation actions"):
        build_world_model("sen", group="O", action_encoding="torques", action_dim=2, in_channels=1, image_size=64)


# ---------------------------------------------------------------------------------- TH@1 and HH@1
class AngleModel:
    """A hand-built model: an image ``[1, 1, 1]`` holds a yaw angle; the latent is that rotation,
    and a step applies the action's yaw turn (``perfect``) or nothing."""

    device = torch.device("cpu")

    def __init__(self, perfect: bool) -> None:
        self.perfect = perfect

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        w = torch.zeros(len(obs), 3)
        w[:, 2] = obs.flatten(1)[:, 0] * 2 * np.pi
        return rotvec_matrices(w).flatten(-2)[:, None]  # B x 1 x 9

    def step(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        if not self.perfect:
            return z
        return (encode_rotations(actions, "turns", 1).unflatten(-1, (3, 3)) @ z.unflatten(-1, (3, 3))).flatten(-2)

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        zs = [z0]
        for t in range(actions.shape[1]):
            zs.append(self.step(zs[-1], actions[:, t]))
        return torch.stack(zs, 1)


def yaw_turns(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Full yaw turns as angle images ``[n, 31, 1, 1, 1]`` (fractions of a turn) and turns ``[n, 30]``."""
    start = torch.rand(n, 1)
    obs = (start + torch.arange(31) / 30) % 1.0
    return obs[..., None, None, None], torch.full((n, 30), 4)


def test_turn_hits_on_hand_built_latents() -> None:
    obs, actions = yaw_turns(5)
    assert turn_hits(AngleModel(perfect=True), obs, actions) == pytest.approx(100.0)
    # a model that never moves only hits the last step, a full turn back at the start: 1 of 30
    assert turn_hits(AngleModel(perfect=False), obs, actions) == pytest.approx(100 / 30)


def test_hard_hits_on_hand_built_latents() -> None:
    obs, actions = yaw_turns(4)
    pair = obs[:, :2]  # the first transition of each turn
    negatives = torch.stack([obs[:, 0], obs[:, 2], obs[:, 1]], 1)  # the start, two turns on, the true next
    valid = torch.tensor([[True, True, False]] * 4)
    assert hard_hits(AngleModel(perfect=True), pair, actions[:, 0], negatives, valid) == pytest.approx(100.0)
    assert hard_hits(AngleModel(perfect=False), pair, actions[:, 0], negatives, valid) == 0.0
    assert hard_hits(AngleModel(perfect=True), pair, actions[:, 0], negatives, ~valid) == 0.0  # the next itself


# ---------------------------------------------------------------------------------- end to end
TINY_RUN = (
    "trainer.episodes=4",
    "trainer.episode_length=5",
    "trainer.eval_episodes=6",
    "trainer.eval_length=5",
    "trainer.epochs=1",
    "trainer.batch_size=8",
    "worldmodel.cnn_channels=4",
    "worldmodel.embed_hidden=16",
    "worldmodel.hidden=16",
)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["sen", "none"])
def test_tiny_goal_run_end_to_end(model: str, tmp_path: Path) -> None:
    from tests.helpers import run_in_process

    metrics = run_in_process(
        tmp_path, "env=teapot_goal", f"worldmodel={model}", *TINY_RUN, "agent.episodes=1", "agent.eval_episodes=1"
    )
    for key in ("hard_hits@1/1step", "turn_hits@1/yaw", "turn_hits@1/pitch", "turn_hits@1/roll", "ee", "die/1step"):
        assert np.isfinite(metrics[key]), key
    assert "success" in metrics and (tmp_path / "checkpoint_final.pt").is_file()
    assert json.loads((tmp_path / "metrics.json").read_text())["pretrain/turn_hits@1/roll"] >= 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert "eval/episode" in events.Tags()["images"]  # the goal, then each frame
    tag = next(t for t in events.Tags()["tensors"] if t.startswith("eval/actions"))
    text = events.Tensors(tag)[-1].tensor_proto.string_val[0].decode()
    assert text.startswith("first image: the goal") and ("yaw" in text or "pitch" in text or "roll" in text)
