"""Every save has one commit point: a run killed after any file of any save resumes to the same run."""

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf
from stable_baselines3.common.save_util import load_from_zip_file

import eqmbrl.core.checkpoint as checkpoint
from eqmbrl.core.checkpoint import commit_save, committed_save
from eqmbrl.resume import resume
from eqmbrl.run import compose_config, run
from tests.helpers import DQN_HER_TINY, ROOT, run_in_process


class Killed(Exception):
    """Stands in for a kill -9: raised right after a file of a save is written."""


def kill_after(monkeypatch: pytest.MonkeyPatch, kind: str, number: int, k: int) -> None:
    """Make the process stop right after the ``k``-th file (1-based) of save ``number`` of ``kind``
    is written; ``k`` one past its files: right after the commit (before the previous save is
    deleted and the user-facing files are exported)."""
    original, original_drop, written = checkpoint.file_sha256, checkpoint.drop_other_saves, []

    def sha(path: Any) -> str:
        digest = original(path)
        if Path(path).parent.name == f"{kind}-{number}":
            written.append(path)
            if len(written) == k:
                raise Killed(f"killed after {path}")
        return digest

    def drop(saves: Path, dropped_kind: str, keep: int) -> None:
        if (dropped_kind, keep) == (kind, number):
            raise Killed(f"killed after committing {kind} save {number}")
        original_drop(saves, dropped_kind, keep)

    monkeypatch.setattr(checkpoint, "file_sha256", sha)
    monkeypatch.setattr(checkpoint, "drop_other_saves", drop)


def killed_run(out: Path, overrides: tuple[str, ...], kind: str, number: int, k: int) -> None:
    """Run ``overrides`` into ``out`` (with ``.hydra/config.yaml``, as the CLI leaves it) and stop it
    right after file ``k`` of save ``number`` of ``kind``."""
    cfg = compose_config(*overrides)
    (out / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, out / ".hydra" / "config.yaml")
    with pytest.MonkeyPatch.context() as patch:
        kill_after(patch, kind, number, k)
        with pytest.raises(Killed):
            run(cfg, out)
    assert "Killed" in (out / "FAILED").read_text()


def assert_same_policy(zip_a: Path, zip_b: Path) -> None:
    """The two SB3 zips hold bit-identical weights and optimizer states."""
    params_a, params_b = (load_from_zip_file(z)[1] for z in (zip_a, zip_b))
    assert params_a is not None and params_b is not None and params_a.keys() == params_b.keys()
    for name in params_a:
        flat_a, flat_b = (torch.utils._pytree.tree_leaves(p[name]) for p in (params_a, params_b))
        assert len(flat_a) == len(flat_b)
        for x, y in zip(flat_a, flat_b):
            assert torch.equal(x, y) if isinstance(x, torch.Tensor) else x == y, name


TRAIN = ("experiment=debug", "env=shapes_goal", "agent=none", "trainer.epochs=3", "trainer.patience=0")
REFIT = (*TRAIN, "worldmodel.reward_weight=1", "trainer.reward_refit_steps=20")
ONLINE = (
    "experiment=debug",
    "env=shapes_goal",
    "agent=search",
    "trainer.epochs=2",
    "trainer.patience=0",
    "agent.planner.horizon=1",
    "agent.episodes=4",
    "agent.eval_every=2",
    "agent.eval_episodes=1",
    "agent.refit_every=10",
    "agent.refit_steps=3",
    "agent.save_every=2",
)
PPO = (
    "experiment=debug",
    "agent=ppo",
    "agent.total_steps=64",
    "agent.eval_every=32",
    "agent.eval_episodes=1",
    "agent.algo_kwargs.n_steps=32",
    "agent.algo_kwargs.batch_size=16",
    "+agent.algo_kwargs.n_epochs=1",
)
SAC = (  # MuJoCo Reacher: SAC needs continuous actions
    "experiment=debug",
    "agent=sac",
    "env=reacher",
    "agent.total_steps=60",
    "agent.eval_every=30",
    "agent.eval_episodes=1",
    "agent.algo_kwargs.learning_starts=20",
    "agent.algo_kwargs.batch_size=8",
)
PPO_AUX = (*PPO, "agent.freeze=false", "agent.aux_weight=0.5", "agent.aux_batch_size=4")  # fine-tuned, + aux loss
DQN_HER = DQN_HER_TINY  # goal Dicts: HER's replay buffer pickled without its env, given it back on load
# (overrides, kind, save number, files in it): the kill comes in the save with a previous one to fall back to
CASES = {
    "train-epoch": (TRAIN, "train", 2, 2),  # state.pt, checkpoint.pt
    "reward-refit": (REFIT, "train", 4, 2),  # after the 3 epoch saves
    "online-first": (ONLINE, "online", 1, 2),  # no online save before: the online phase starts again
    "online": (ONLINE, "online", 2, 2),  # buffer.npz, state.pt
    "sb3-ppo": (PPO, "sb3", 2, 3),  # model.zip, progress.json, state.pt
    "sb3-ppo-aux": (PPO_AUX, "sb3", 2, 4),  # model.zip, progress.json, state.pt, aux.npz (the aux loss's buffer)
    "sb3-sac": (SAC, "sb3", 2, 4),  # model.zip, replay.pkl, progress.json, state.pt
    "sb3-dqn-her": (DQN_HER, "sb3", 2, 4),  # model.zip, replay.pkl (HerReplayBuffer), progress.json, state.pt
}
SLOW = {"online-first", "online", "sb3-ppo", "sb3-ppo-aux", "sb3-sac", "sb3-dqn-her"}  # 2-5 s each: 25 cases
PARAMS = [
    pytest.param(
        name,
        k,
        id=f"{name}-after-file-{k}" if k <= CASES[name][3] else f"{name}-after-commit",
        marks=[pytest.mark.slow] if name in SLOW else [],
    )
    for name in CASES
    for k in range(1, CASES[name][3] + 2)
]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The run dir of a case's uninterrupted run, made on first use."""
    root = tmp_path_factory.mktemp("references")

    def made(name: str) -> Path:
        if not (root / name / "metrics.json").is_file():
            run_in_process(root / name, *CASES[name][0])
        return root / name

    return made


@pytest.mark.parametrize("name, k", PARAMS)
def test_a_run_killed_after_any_file_of_a_save_resumes_to_the_same_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: Callable[[str], Path], name: str, k: int
) -> None:
    """Stopped right after file ``k`` of a save (or right after its commit), the run resumes from
    the last committed save (the old one, or the new one after the commit) and ends as the
    uninterrupted run; the reward refit's old bug was a head refitted twice, the online save's
    episodes added twice."""
    overrides, kind, number, files = CASES[name]
    out = tmp_path / "killed"
    killed_run(out, overrides, kind, number, k)
    save = committed_save(out, kind)
    assert (save.number if save else 0) == (number if k > files else number - 1)
    monkeypatch.chdir(ROOT)
    resumed, ref = resume(out), reference(name)
    assert resumed == json.loads((ref / "metrics.json").read_text())
    if kind == "sb3":  # every evaluation, and the policy itself, bit for bit
        assert json.loads((out / "curve.json").read_text()) == json.loads((ref / "curve.json").read_text())
        assert_same_policy(out / "sb3_model.zip", ref / "sb3_model.zip")
    save = committed_save(out, kind)
    assert save is not None and [p.name for p in (out / "saves").glob(f"{kind}-*")] == [save.folder.name]


def test_commit_keeps_the_previous_save_until_the_manifest_is_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def writers(text: str) -> dict[str, Any]:
        return {name: (lambda p, n=name: p.write_text(f"{n} {text}")) for name in ("a.txt", "b.txt")}

    first = commit_save(tmp_path, "demo", writers("old"), "step 1")
    assert str(first) == "demo save 1 (step 1)"
    for k in (1, 2, 3):
        with pytest.MonkeyPatch.context() as patch:
            kill_after(patch, "demo", 2, k)
            with pytest.raises(Killed):
                commit_save(tmp_path, "demo", writers("new"), "step 2")
        save = committed_save(tmp_path, "demo")
        assert save is not None
        want = "old" if k <= 2 else "new"  # k = 3: the manifest was renamed, the commit happened
        assert [save.path(n).read_text() for n in ("a.txt", "b.txt")] == [f"a.txt {want}", f"b.txt {want}"]
    third = commit_save(tmp_path, "demo", writers("newer"), "step 3")
    assert third.number == 3 and sorted(p.name for p in (tmp_path / "saves").iterdir()) == ["demo-3", "demo.json"]
    assert committed_save(tmp_path, "other") is None


def test_every_file_of_a_save_is_on_disk_before_its_manifest_is_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against power loss: each file is fsynced before its rename, and the save's folder and files
    before the manifest's rename (the commit), whose folder is fsynced after it."""
    events: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace

    def logged_fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def logged_replace(src: Any, dst: Any) -> None:
        events.append(("rename", str(dst)))
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", logged_fsync)
    monkeypatch.setattr(os, "replace", logged_replace)
    writers = {name: (lambda p: checkpoint.write_json(p, {})) for name in ("a.json", "b.json")}
    commit_save(tmp_path, "x", writers, "step 1")
    saves, folder = str(tmp_path / "saves"), str(tmp_path / "saves" / "x-1")
    manifest = events.index(("rename", f"{saves}/x.json"))
    for name in ("a.json", "b.json"):
        done = events.index(("rename", f"{folder}/{name}"))
        assert ("fsync", f"{folder}/{name}.tmp") in events[:done] and ("fsync", folder) in events[done:manifest]
    assert ("fsync", f"{saves}/x.json.tmp") in events[:manifest] and ("fsync", saves) in events[:manifest]
    assert ("fsync", saves) in events[manifest:]


def test_a_corrupt_or_missing_save_file_is_refused_naming_it(tmp_path: Path) -> None:
    save = commit_save(tmp_path, "demo", {"state.pt": lambda p: p.write_bytes(b"12345")}, "epoch 1")
    save.path("state.pt").write_bytes(b"12346")
    with pytest.raises(ValueError, match=r"state.pt of demo save 1 \(epoch 1\) does not match its sha256") as err:
        committed_save(tmp_path, "demo")
    assert "\n" not in str(err.value)
    save.path("state.pt").unlink()
    with pytest.raises(ValueError, match="state.pt of demo save 1 .* is missing"):
        committed_save(tmp_path, "demo")
    (tmp_path / "saves" / "demo.json").write_text("{")
    with pytest.raises(ValueError, match="save manifest .*demo.json is corrupt"):
        committed_save(tmp_path, "demo")


def test_resume_refuses_a_run_whose_save_is_corrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "killed"
    killed_run(out, TRAIN, "train", 3, 1)
    state = out / "saves" / "train-2" / "state.pt"
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    state.write_bytes(bytes(data))
    monkeypatch.chdir(ROOT)
    with pytest.raises(ValueError, match=f"{state} of train save 2 \\(epoch 2\\) does not match its sha256") as err:
        resume(out)
    assert "\n" not in str(err.value)
    assert json.loads((out / "saves" / "train.json").read_text())["save"] == 2  # nothing was overwritten
