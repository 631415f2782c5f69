"""Replay buffer: episode boundaries, k-step sampling, ring overwrite, atomic save/load, bad files."""

import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from eqmbrl.core.buffer import ReplayBuffer


def _filled(capacity: int = 64, episodes: int = 3, T: int = 5, continuous: bool = False) -> ReplayBuffer:
    buf = ReplayBuffer(capacity, (1, 2, 2), (2,) if continuous else (), state_shape=(3,))
    for e in range(episodes):
        obs = (10 * e + np.arange(T + 1)).astype(np.uint8)[:, None, None, None].repeat(2, 2).repeat(2, 3)
        acts = np.stack([np.arange(T)] * 2, 1).astype(np.float32) if continuous else 100 * e + np.arange(T)
        buf.add_episode(obs, acts, np.arange(T, dtype=np.float32), np.full((T + 1, 3), float(e)))
    return buf


def test_sequences_stay_inside_episodes() -> None:
    buf = _filled()
    assert len(buf) == 18 and buf.num_episodes == 3
    assert len(buf.valid_starts(1)) == 15 and len(buf.valid_starts(5)) == 3
    batch = buf.gather(buf.valid_starts(5), 5)
    assert batch.obs.shape == (3, 6, 1, 2, 2) and batch.actions.shape == (3, 5)
    frames = (batch.obs[:, :, 0, 0, 0] * 255).round()
    assert torch.equal(frames, torch.tensor([[10.0 * e + t for t in range(6)] for e in range(3)]))
    assert torch.equal(batch.actions[:, 0], torch.tensor([0, 100, 200]))


def test_ring_overwrite_never_mixes_episodes() -> None:
    buf = _filled(capacity=10, episodes=3, T=3)  # 12 rows into 10: episode 0 partly overwritten
    for k in (1, 2, 3):
        b = buf.gather(buf.valid_starts(k), k)
        frames = (b.obs[:, :, 0, 0, 0] * 255).round()
        assert torch.all(frames[:, 1:] - frames[:, :-1] == 1)  # consecutive steps of one episode
    assert sorted(buf.valid_starts(3).tolist()) == [4, 8]


def test_same_episode_negatives_are_other_frames_of_the_episode() -> None:
    """Frames are 10 * episode + t, so a negative's frame names its episode and time step."""
    buf = _filled(capacity=10, episodes=3, T=3)  # ring: episode 0 keeps only its last 2 rows
    rng = np.random.default_rng(0)
    starts = np.repeat(buf.valid_starts(1), 50)
    b = buf.gather(starts, 1, negatives_rng=rng)
    first = (b.obs[:, 0, 0, 0, 0] * 255).round()
    neg = (b.negatives[:, 0, 0, 0] * 255).round()
    assert torch.equal(neg // 10, first // 10) and not torch.any(neg == first)
    seen = {(int(f), int(n)) for f, n in zip(first, neg)}
    assert {n for f, n in seen if f == 10} == {11, 12, 13}  # every other frame of episode 1 is drawn
    assert {n for f, n in seen if f == 2} == {3}  # episode 0: only its stored rows
    assert buf.sample(4, 1, rng=rng).negatives is None
    assert buf.sample(4, 1, rng=rng, negatives=True).negatives.shape == (4, 1, 2, 2)


def test_sample_is_seeded_and_on_device() -> None:
    buf = _filled(continuous=True)
    a = buf.sample(7, 2, rng=np.random.default_rng(1))
    b = buf.sample(7, 2, rng=np.random.default_rng(1))
    assert torch.equal(a.obs, b.obs) and a.actions.shape == (7, 2, 2) and a.actions.dtype == torch.float32
    with pytest.raises(ValueError, match="no 6-step sequence"):
        buf.sample(1, 6)


def test_sample_draws_a_fraction_from_recent_rows() -> None:
    """``recent_fraction`` of the batch starts at rows >= ``recent_from`` (here the last episode,
    frames 20..25); the rest is uniform, and with no recent row the whole batch is uniform."""
    buf = _filled()
    rng = np.random.default_rng(0)
    first = (buf.sample(200, 1, rng=rng, recent_from=12, recent_fraction=0.75).obs[:, 0, 0, 0, 0] * 255).round()
    assert torch.all(first[:150] >= 20) and 0 < int((first[150:] < 20).sum()) < 50
    uniform = buf.sample(200, 1, rng=rng, recent_from=100, recent_fraction=1.0).obs[:, 0, 0, 0, 0] * 255
    assert int((uniform.round() < 20).sum()) > 100


def test_save_load_round_trip(tmp_path: Path) -> None:
    buf = _filled()
    buf.save(tmp_path / "b.npz")
    back = ReplayBuffer.load(tmp_path / "b.npz")
    for k in ("obs", "actions", "rewards", "has_next", "episode", "states"):
        assert np.array_equal(getattr(buf, k), getattr(back, k))
    assert (back.size, back.pos, back.num_episodes) == (buf.size, buf.pos, buf.num_episodes)
    assert not list(tmp_path.glob("*.tmp"))


def test_bad_files_give_clear_errors_and_are_not_touched(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ReplayBuffer.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="corrupt"):
        ReplayBuffer.load(bad)
    assert bad.read_bytes() == b"not a zip file"


def test_episode_length_mismatch_is_rejected() -> None:
    buf = ReplayBuffer(8, (1, 2, 2), state_shape=None)
    with pytest.raises(ValueError, match="T\\+1 observations"):
        buf.add_episode(np.zeros((3, 1, 2, 2), np.uint8), np.zeros(3, np.int64))


def test_resized_keeps_rows_in_order_and_grows() -> None:
    buf = _filled(capacity=10, episodes=3, T=3)  # wrapped ring: oldest row is not at index 0
    big = buf.resized(30)
    assert len(big) == 10 and big.capacity == 30 and big.num_episodes == 3
    for k in (1, 2, 3):
        old, new = (b.gather(b.valid_starts(k), k) for b in (buf, big))
        key = lambda batch: sorted(map(tuple, (batch.obs[:, :, 0, 0, 0] * 255).round().tolist()))  # noqa: E731
        assert key(old) == key(new)
    big.add_episode(np.zeros((4, 1, 2, 2), np.uint8), np.arange(3), None, np.zeros((4, 3)))
    assert len(big) == 14 and len(big.valid_starts(3)) == len(buf.valid_starts(3)) + 1
    with pytest.raises(ValueError, match="cannot hold the 10 stored rows"):
        buf.resized(5)


def _tampered(tmp_path: Path, **changes) -> Path:
    """A valid 5x5-action buffer file with some fields replaced."""
    buf = ReplayBuffer(8, (3, 4, 4))
    buf.add_episode(np.zeros((4, 3, 4, 4), np.uint8), np.array([0, 1, 2]), np.zeros(3, np.float32))
    path = tmp_path / "b.npz"
    buf.save(path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.update(changes)
    np.savez(path, **arrays)
    return path


OBS_SPACE = gym.spaces.Box(0, 255, (3, 4, 4), np.uint8)


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"obs": np.zeros((8, 3, 5, 5), np.uint8)}, "obs", "images of shape (3, 5, 5), the env's are (3, 4, 4)"),
        ({"obs": np.zeros((8, 6, 4, 4), np.uint8)}, "obs", "images of shape (6, 4, 4)"),
        ({"obs": np.zeros((8, 4, 4, 3), np.uint8)}, "obs", "channel-last"),
        ({"obs": np.zeros((8, 3, 4, 4), np.float32)}, "obs", "must be uint8 images"),
        ({"actions": np.zeros(8, np.float32)}, "actions", "must be int64 [N]"),
        ({"actions": np.array([0, 99, 2, 0, 0, 0, 0, 0])}, "actions", "must lie in 0..19, got 0..99"),
        ({"rewards": np.array([0, np.nan, 0, 0, 0, 0, 0, 0], np.float32)}, "rewards", "non-finite"),
        ({"episode": np.zeros(5, np.int64)}, "episode", "has 5 rows, but the buffer's capacity is 8"),
        ({"meta": np.array([8, 9, 0, 1])}, "meta", "inconsistent"),
    ],
)
def test_loaded_buffers_are_validated(tmp_path: Path, changes: dict, field: str, message: str) -> None:
    path = _tampered(tmp_path, **changes)
    with pytest.raises(ValueError, match=rf"replay buffer file {path}: field '{field}' .*{re.escape(message)}"):
        ReplayBuffer.load(path, OBS_SPACE, gym.spaces.Discrete(20))


def test_continuous_actions_are_checked_against_the_bounds(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    _filled(continuous=True).save(path)
    with pytest.raises(ValueError, match="field 'actions' must be finite and within the action bounds"):
        ReplayBuffer.load(path, None, gym.spaces.Box(-1.0, 1.0, (2,)))
    assert len(ReplayBuffer.load(path, None, gym.spaces.Box(0.0, 4.0, (2,)))) == len(_filled())


def test_state_features_follow_the_sequence() -> None:
    """``state_fn`` maps the stored states of each sequence's k+1 rows, flattened to ``[B, k+1, F]``."""
    buf = _filled()
    batch = buf.gather(buf.valid_starts(2), 2, state_fn=lambda s: np.stack([s, -s], -2))
    assert batch.states is not None and batch.states.shape == (len(buf.valid_starts(2)), 3, 6)
    assert batch.states.dtype == torch.float32
    episode = torch.tensor([float(e) for e in buf.episode[buf.valid_starts(2)]])
    assert torch.equal(batch.states[:, :, 0], episode[:, None].expand(-1, 3))
    assert torch.equal(batch.states[:, :, 3], -episode[:, None].expand(-1, 3))
    assert buf.gather(buf.valid_starts(2), 2).states is None
    plain = ReplayBuffer(8, (1, 2, 2))
    plain.add_episode(np.zeros((3, 1, 2, 2), np.uint8), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="stores no env states"):
        plain.gather(plain.valid_starts(1), 1, state_fn=lambda s: s)
