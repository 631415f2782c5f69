"""Tests of the pixel Reacher env and its D4 symmetry, with real (headless) MuJoCo rendering."""

from __future__ import annotations

import gc
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from gymnasium.utils.env_checker import check_env  # noqa: E402

import envs  # noqa: E402,F401  (registers the ids)
from envs.env_checker import check_symmetric_env  # noqa: E402
from envs.reacher import ReacherPixelsEnv, ReacherSymmetry, wrap_angle  # noqa: E402
from eqmbrl.core.symmetry import EnvSymmetry, Group, check_equivariance, rotate_points  # noqa: E402
from tests.helpers import python  # noqa: E402

D4 = Group("D4")
IDS = ("eqmbrl/Reacher-pixels-v0", "eqmbrl/ReacherFixedGoal-pixels-v0")


@pytest.fixture(scope="module")
def env() -> ReacherPixelsEnv:
    e = ReacherPixelsEnv(image_size=64)
    yield e
    e.close()


def random_states(env: ReacherPixelsEnv, n: int, seed: int) -> np.ndarray:
    """States ``[n, S]`` with random angles, velocities and goals, one near the joint-1 limit."""
    rng = np.random.default_rng(seed)
    k = env.frame_stack
    angles = np.stack([rng.uniform(-np.pi, np.pi, (n, k)), rng.uniform(-2.8, 2.8, (n, k))], -1)
    vel = rng.uniform(-10, 10, (n, 2))
    goal = rng.uniform(-0.14, 0.14, (n, 2))
    states = np.concatenate([angles.reshape(n, 2 * k), vel, goal], axis=1)
    states[0, 2 * k - 1], states[0, 2 * k + 1] = 2.95, 40.0  # runs into the joint-1 limit
    return states


def wrapped_difference(k: int):
    """``a - b`` of states ``[..., S]`` with the base angles q0 of the ``k`` frames taken modulo 2 pi."""

    def difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d = a - b
        d[..., 0 : 2 * k : 2] = wrap_angle(d[..., 0 : 2 * k : 2])
        return d

    return difference


def assert_states_close(a: np.ndarray, b: np.ndarray, k: int, atol: float = 1e-6) -> None:
    """Compare states, taking the base angles q0 modulo 2 pi."""
    np.testing.assert_allclose(wrapped_difference(k)(a, b), 0.0, atol=atol)


def transform_image(g: int, obs: np.ndarray) -> np.ndarray:
    """Pixel version of T_g = R^k F^f on ``[C, H, W]`` (F: x -> -x flips the columns)."""
    if D4.reflection(g):
        obs = obs[:, :, ::-1]
    return np.rot90(obs, D4.rotation(g), axes=(1, 2))


# ----------------------------------------------------------------------------- gym API
@pytest.mark.parametrize("env_id", IDS)
def test_check_env(env_id: str) -> None:
    e = gym.make(env_id, image_size=16)
    check_env(e.unwrapped, skip_render_check=True)
    e.close()


def test_reset_deterministic_and_truncation() -> None:
    e = ReacherPixelsEnv(image_size=16, episode_steps=3)
    obs_a, info_a = e.reset(seed=7)
    obs_b, info_b = e.reset(seed=7)
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(info_a["state"], info_b["state"])
    np.testing.assert_array_equal(obs_a[:3], obs_a[3:])  # stack filled with frame 0
    flags = [e.step(np.array([0.3, -0.2]))[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]
    _, reward, _, _, info = e.step(np.zeros(2))
    assert set(info) >= {"state", "reward_dist", "reward_ctrl"}
    assert reward == pytest.approx(info["reward_dist"] + info["reward_ctrl"])
    e.close()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(image_size=4),
        dict(frame_stack=0),
        dict(episode_steps=0),
        dict(goal=(0.3, 0.0)),
        dict(render_quality="best"),
        dict(render_mode="human"),
        dict(target_radius=0.0),
        dict(action_repeat=0),
    ],
)
def test_invalid_args(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ReacherPixelsEnv(**kwargs)


def test_target_radius_changes_only_the_drawing() -> None:
    small, large = ReacherPixelsEnv(image_size=32), ReacherPixelsEnv(image_size=32, target_radius=0.02)
    a, b = small.reset(seed=5)[0], large.reset(seed=5)[0]
    drawn = (a != b).any(axis=0)  # only the pixels around the target differ
    assert 0 < drawn.sum() < 0.05 * drawn.size
    for _ in range(5):
        sa, ra, *_, ia = small.step(np.array([0.7, -0.3]))[1:]
        sb, rb, *_, ib = large.step(np.array([0.7, -0.3]))[1:]
        assert ra == rb and np.array_equal(ia["state"], ib["state"])  # same physics and reward
    small.close(), large.close()


def test_action_repeat_is_repeated_physics_with_summed_rewards() -> None:
    """n = 2: one env step is two physics steps of the same torque (rewards and terms summed, the
    frame of the second); 5 physics steps make an episode of 3 env steps, the last one short."""
    one, two = (
        ReacherPixelsEnv(image_size=16, episode_steps=5),
        ReacherPixelsEnv(image_size=16, episode_steps=5, action_repeat=2),
    )
    one.reset(seed=3), two.reset(seed=3)
    torques = [np.array([0.7, -0.3]), np.array([-1.0, 0.2]), np.array([0.4, 0.4])]
    for i, a in enumerate(torques):
        steps = [one.step(a) for _ in range(2 if i < 2 else 1)]
        obs, reward, _, truncated, info = two.step(a)
        np.testing.assert_array_equal(obs[3:], steps[-1][0][3:])
        np.testing.assert_allclose(info["state"][-6:], steps[-1][4]["state"][-6:])
        assert reward == pytest.approx(sum(s[1] for s in steps))
        assert info["reward_dist"] == pytest.approx(sum(s[4]["reward_dist"] for s in steps))
        assert truncated == (i == 2) == steps[-1][3]
    one.close(), two.close()


def test_fixed_and_random_goal() -> None:
    fixed, free = ReacherPixelsEnv(fixed_goal=True, image_size=16), ReacherPixelsEnv(image_size=16)
    goals = []
    for seed in range(3):
        state = fixed.reset(seed=seed)[1]["state"]
        np.testing.assert_allclose(state[-2:], (0.2, 0.2))
        np.testing.assert_allclose(fixed.mj_data.body("target").xpos[:2], (0.2, 0.2))
        goals.append(free.reset(seed=seed)[1]["state"][-2:])
    assert np.all(np.linalg.norm(goals, axis=1) < 0.2) and len({tuple(g) for g in goals}) == 3
    fixed.close(), free.close()


def test_random_arm_reset_option() -> None:
    """``options={"random_arm": True}`` spreads both joints over their ranges (seeded, goal as
    usual); the default start stays within +-0.1; unknown options are refused by name."""
    e = ReacherPixelsEnv(image_size=16, fixed_goal=True)
    starts = np.array([e.reset(seed=s, options={"random_arm": True})[1]["state"] for s in range(40)])
    q0, q1 = starts[:, 2], starts[:, 3]  # the newest frame's angles
    assert q0.min() < -2 and q0.max() > 2 and q1.min() < -2 and q1.max() > 2 and np.abs(q1).max() <= 3.0
    np.testing.assert_allclose(starts[:, -2:], np.tile((0.2, 0.2), (40, 1)))
    np.testing.assert_allclose(starts[:, :2], starts[:, 2:4])  # the frame stack holds the new pose
    again = e.reset(seed=3, options={"random_arm": True})[1]["state"]
    np.testing.assert_array_equal(again, starts[3])
    default = np.array([e.reset(seed=s)[1]["state"] for s in range(10)])
    assert np.abs(default[:, :4]).max() <= 0.1
    with pytest.raises(ValueError, match="reset option 'random_pose'.*random_arm"):
        e.reset(seed=0, options={"random_pose": True})
    e.close()


# ----------------------------------------------------------------------------- rendering
def test_frames_real_and_distinct(env: ReacherPixelsEnv) -> None:
    obs = env.set_state(np.array([0.3, 0.5, 0.3, 0.5, 0.0, 0.0, -0.1, 0.15]))
    frame = obs[3:].astype(int)
    assert frame.std() > 10
    r, g, b = frame
    assert ((r < 40) & (b > 90) & (g < 100)).sum() > 40  # blue arm links (~75 px)
    assert ((r < 40) & (g > 120)).sum() >= 2  # green fingertip
    assert ((r > 150) & (g < 80)).sum() >= 2  # red target
    other = env.render_states(random_states(env, 1, seed=3))[0]
    assert np.abs(other.astype(int) - obs).mean() > 0.5


def test_set_state_reproduces_observation_and_dynamics(env: ReacherPixelsEnv) -> None:
    env.reset(seed=4)
    for _ in range(5):
        obs, *_, info = env.step(np.array([0.5, -0.8]))
    twin = ReacherPixelsEnv(image_size=64)
    assert np.abs(twin.set_state(info["state"]).astype(int) - obs).max() <= 1
    for _ in range(5):
        action = np.array([-0.4, 0.9])
        a, b = env.step(action)[-1]["state"], twin.step(action)[-1]["state"]
        assert_states_close(a, b, env.frame_stack, atol=1e-9)
    twin.close()


@pytest.mark.slow  # a subprocess
def test_render_after_other_env_closed() -> None:
    """In a fresh process: the GL state this test is about must not come from other tests' envs."""
    code = "from tests.test_reacher import render_after_other_env_closed as f; f()"
    res = python("-c", code)
    assert res.returncode == 0, res.stderr[-3000:]


def render_after_other_env_closed() -> None:
    first = ReacherPixelsEnv(image_size=32)
    first.reset(seed=0)
    first.step(np.ones(2))
    first.close()
    del first
    # gymnasium's own rgb_array env, closed and collected while ours renders, used to corrupt
    # our frames (garbage, not only blank); the env detects it and reopens its renderer.
    other = gym.make("Reacher-v5", render_mode="rgb_array", width=32, height=32)
    other.reset(seed=0), other.render(), other.close()
    second = ReacherPixelsEnv(image_size=32)
    second.reset(seed=1)
    second.step(np.zeros(2))
    del other
    gc.collect()
    for _ in range(5):
        obs, *_, info = second.step(np.array([1.0, -1.0]))
        assert obs.std() > 10
        expected = second.render_states(info["state"][None])[0]
        assert np.abs(expected.astype(int) - obs).max() <= 1
    # our context is never current while foreign ones are freed, so nothing had to be repaired
    assert second.renderer_restarts == 0
    second.close()


# ----------------------------------------------------------------------------- symmetry
def test_symmetry_protocol(env: ReacherPixelsEnv) -> None:
    assert isinstance(env.symmetry, EnvSymmetry) and env.symmetry.group == D4
    with pytest.raises(ValueError, match="g=8"):
        env.symmetry.act_state(8, random_states(env, 1, seed=0))


@pytest.mark.parametrize("env_id", IDS)
def test_symmetric_env_checker_passes(env_id: str) -> None:
    """Every element of D4 on the env's own states: a group action on states and torques, twins
    rendered real and pairwise different, MuJoCo's step from the twin the twin of its step with the
    same reward, and the state points turning as points."""
    e = gym.make(env_id)
    check_symmetric_env(e)
    e.close()


def test_symmetric_env_checker_passes_on_random_states(env: ReacherPixelsEnv) -> None:
    """The same on random angles, velocities and goals (the goal is part of the state, so this
    covers both ids), one of them running into the joint-1 limit."""
    states, actions = random_states(env, 6, seed=5), np.random.default_rng(5).uniform(-1, 1, (6, 2))
    # render_atol=255: past the elbow's joint limit (|q1| > 3), step()'s frame is drawn from MuJoCo's
    # kinematics of the RK4 step, not of the final qpos, so it differs from render_states(get_state())
    # (by up to 184 in a few pixels for states[0]); the twins' dynamics are still checked to 1e-6
    difference = wrapped_difference(env.frame_stack)
    check_symmetric_env(env, states, actions.astype(np.float32), render_atol=255, state_difference=difference)


class _UnreflectedTorques(ReacherSymmetry):
    """Keeps the torques under reflections: still a group action, but the mirrored arm turns the wrong way."""

    def act_action(self, g: int, actions: np.ndarray) -> np.ndarray:
        self._check_element(g)
        return np.array(actions, copy=True)


def test_symmetric_env_checker_names_the_broken_element() -> None:
    e = ReacherPixelsEnv(image_size=32)
    e.symmetry = _UnreflectedTorques(e.frame_stack)
    message = r"^check_symmetric_env\(ReacherPixelsEnv\): g=4: the dynamics do not commute with g: the env's step"
    with pytest.raises(AssertionError, match=message):
        check_symmetric_env(e)
    e.close()


def test_twin_moves_fingertip_and_goal(env: ReacherPixelsEnv) -> None:
    """MuJoCo's fingertip and target of the twin g.s are those of s turned as points, for every g."""

    def bodies(states: np.ndarray) -> np.ndarray:  # [B, S] -> fingertip and target xy [B, 2, 2]
        out = []
        for state in states:
            env.set_state(state)
            out.append([env.mj_data.body(name).xpos[:2].copy() for name in ("fingertip", "target")])
        return np.array(out)

    states = random_states(env, 3, seed=2)
    errors = check_equivariance(bodies, states, env.symmetry.act_state, lambda g, p: rotate_points(g, D4, p), D4)
    assert max(errors.values()) < 1e-6, errors
    tip, turned = bodies(states)[:, 0], bodies(env.symmetry.act_state(1, states))[:, 0]
    np.testing.assert_allclose(turned, np.stack([-tip[:, 1], tip[:, 0]], -1), atol=1e-6)  # g = 1, written out


def test_joint_limits_are_reflection_symmetric(env: ReacherPixelsEnv) -> None:
    """Base hinge unlimited (rotations are free); elbow range symmetric, so F maps it to itself."""
    model = env.mj_model
    assert not model.jnt_limited[0]
    assert model.jnt_limited[1] and tuple(model.jnt_range[1]) == (-3.0, 3.0)


@pytest.mark.parametrize("quality", ["fast", "default"])
def test_twin_image_is_pixel_transform(quality: str) -> None:
    """Camera centred and axis-aligned: the twin's image is the rotated/flipped image.

    Measured over 30 states x 8 elements: ``fast`` (no MSAA) differs in at most 0.02% of pixels
    (correlation >= 0.999); with 4x MSAA, whose sample pattern is not D4-symmetric, up to 5% of
    pixels (edges) differ, mean abs diff <= 0.4/255, correlation >= 0.975.
    """
    max_differing, min_corr = {"fast": (0.002, 0.995), "default": (0.1, 0.95)}[quality]
    e = ReacherPixelsEnv(image_size=64, render_quality=quality)
    states = random_states(e, 2, seed=6)
    for g in D4.elements:
        images = e.render_states(np.concatenate([states, e.symmetry.act_state(g, states)]))
        for original, twin in zip(images[:2], images[2:]):
            expected = transform_image(g, original).astype(float)
            assert np.abs(expected - twin).mean() < 1.0
            assert (np.abs(expected - twin).max(axis=0) > 0).mean() < max_differing
            assert np.corrcoef(expected.ravel(), twin.ravel().astype(float))[0, 1] > min_corr
    e.close()


def test_symmetry_validates_shapes() -> None:
    sym = ReacherSymmetry(frame_stack=3)
    assert sym.act_state(1, np.zeros((2, 10))).shape == (2, 10)
    with pytest.raises(ValueError, match="S=10"):
        sym.act_state(1, np.zeros((2, 8)))
    with pytest.raises(ValueError, match="last dim 2"):
        sym.act_action(1, np.zeros((2, 3)))


def test_state_points_by_hand(env: ReacherPixelsEnv) -> None:
    """Elbow, fingertip, goal (reach units) and their velocities (m/s / SPEED_UNIT); that the group
    acts on all five vectors as on points, :func:`check_symmetric_env` checks."""
    from envs.reacher import REACH, SPEED_UNIT

    k = env.frame_stack
    state = np.zeros(2 * k + 4)
    state[2 * k - 2 : 2 * k + 4] = [np.pi / 2, -np.pi / 2, 2.0, 1.0, 0.1, -0.05]
    pts = env.state_points(state[None])[0]
    expected = [[0, 0.1 / REACH], [0.11 / REACH, 0.1 / REACH], [0.1 / REACH, -0.05 / REACH]]
    assert pts.shape == (env.num_state_points, 2) and pts.dtype == np.float32
    np.testing.assert_allclose(pts[:3], expected, atol=1e-6)
    # elbow moves at 0.1 m x 2 rad/s along -x; the forearm (along +x) turns at 3 rad/s: +y
    np.testing.assert_allclose(pts[3:], [[-0.2 / SPEED_UNIT, 0], [-0.2 / SPEED_UNIT, 0.33 / SPEED_UNIT]], atol=1e-6)


def test_full_model_latents_follow_env_twins(env: ReacherPixelsEnv) -> None:
    """The env's element g and the model's element g are the same transformation: a ``full``
    model (steerable embedding, equivariant by construction) encodes the rendered twin of every
    state as its latent acted on by g, reflections included, up to rasterisation."""
    import torch

    from tests.helpers import REACHER_MODEL, TINY_WIDTHS
    from worldmodels.world_model import build_world_model

    torch.manual_seed(0)
    model = build_world_model("full", **REACHER_MODEL, **{**TINY_WIDTHS, "cnn_channels": 8}).eval()
    states = random_states(env, 3, seed=8)

    def encode(s: np.ndarray) -> torch.Tensor:
        return model.encode(torch.from_numpy(env.render_states(s)).float() / 255)

    with torch.no_grad():
        scale = float(encode(states).abs().max())
        errors = check_equivariance(encode, states, env.symmetry.act_state, model.act_latent, D4)
    relative = {g: e / scale for g, e in errors.items()}
    assert max(relative.values()) < 1e-3, relative  # measured: at most 4e-6; 1.56 for g = 4 before the fix


def test_distance_terms_by_hand() -> None:
    """Minus the fingertip-to-goal distance after each physics step, linear between two states."""
    from envs.reacher import REACH, distance_terms

    points = np.zeros((2, 5, 2))
    points[0, 1], points[1, 1] = [0.5, 0.0], [0.1, 0.0]  # fingertip; the goal stays at the origin
    np.testing.assert_allclose(distance_terms(points), [-0.1 * REACH])
    np.testing.assert_allclose(distance_terms(points, action_repeat=2), [-(0.5 * 0.5 + 1.5 * 0.1) * REACH])
