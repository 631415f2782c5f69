"""Resume: a run killed with SIGKILL mid-training continues and ends as the uninterrupted run."""

import json
import os
import signal
import time
from pathlib import Path

import pytest

from eqmbrl.core.checkpoint import committed_save, load_state
from eqmbrl.resume import resume
from tests.helpers import cli_async, run_in_process

TRAINING = (  # the cosine schedule: the resumed epochs must train at the rates the uninterrupted ones do
    "experiment=debug",
    "env=shapes_goal",
    "agent=none",
    "trainer.epochs=40",
    "trainer.patience=0",
    "trainer.lr_schedule=cosine",
)
ONLINE = (  # online MPC: the kill comes after the world-model training, during the online episodes
    "experiment=debug",
    "env=shapes_goal",
    "agent=search",
    "agent.planner.horizon=1",
    "agent.episodes=12",
    "agent.eval_every=4",
    "agent.eval_episodes=1",
    "agent.refit_every=10",
    "agent.refit_steps=3",
    "agent.save_every=3",  # the kill comes after the save at 3: the resumed run replays from there
)


def kill_when(overrides: tuple[str, ...], out: Path, kind: str, counter: str, at: int) -> None:
    """Start the run as a CLI process and SIGKILL it once the committed ``kind`` save's ``counter`` reaches ``at``."""
    proc = cli_async(*overrides, f"hydra.run.dir={out}", cwd=out.parent)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if counter_of(out, kind, counter) >= at:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "metrics.json").exists(), "the run finished before it was killed: make it longer"


def counter_of(out: Path, kind: str, counter: str) -> int:
    """``counter`` of the committed ``kind`` save in ``out`` (-1 if there is none yet)."""
    try:
        save = committed_save(out, kind)
        if save is None:
            return -1
        if kind == "sb3":
            return len(json.loads(save.path("progress.json").read_text())[counter])
        state = load_state(save.path("state.pt"))
    except (ValueError, FileNotFoundError):  # a save being replaced: try again
        return -1
    return int(state["progress" if "progress" in state else "counters"][counter])


@pytest.mark.slow  # a CLI subprocess killed with SIGKILL, resumed, and a reference run
@pytest.mark.parametrize(
    "overrides, state, counter",
    [(TRAINING, "train", "epochs"), (ONLINE, "online", "episodes")],
    ids=["training", "online-mpc"],
)
def test_killed_run_resumes_to_the_same_metrics(tmp_path: Path, overrides: tuple, state: str, counter: str) -> None:
    killed = tmp_path / "killed"
    kill_when(overrides, killed, state, counter, 3)
    (killed / "checkpoint.pt.tmp").write_bytes(b"half-written")  # what a kill during a write leaves
    resumed = resume(killed)
    assert not list(killed.rglob("*.tmp"))
    reference = run_in_process(tmp_path / "reference", *overrides)
    assert resumed == reference
    assert json.loads((killed / "metrics.json").read_text()) == reference


def test_resume_refuses_finished_and_foreign_dirs(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not an eqmbrl run dir"):
        resume(tmp_path)
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(ValueError, match="has finished"):
        resume(tmp_path)


@pytest.mark.slow  # a CLI subprocess killed with SIGKILL, resumed
def test_killed_sb3_run_resumes_and_finishes(tmp_path: Path) -> None:
    """SB3 (PPO): resumed from the last evaluation's save, it learns the remaining steps."""
    overrides = (
        "experiment=debug",
        "agent=ppo",
        "agent.total_steps=1536",
        "agent.eval_every=256",
        "agent.eval_episodes=1",
        "agent.algo_kwargs.n_steps=128",
        "agent.algo_kwargs.batch_size=64",
        "+agent.algo_kwargs.n_epochs=1",
    )
    killed = tmp_path / "killed"
    kill_when(overrides, killed, "sb3", "curve", 2)
    save = committed_save(killed, "sb3")
    assert save is not None
    saved = json.loads(save.path("progress.json").read_text())["curve"]
    resume(killed)
    curve = json.loads((killed / "curve.json").read_text())
    assert curve["steps"][: len(saved)] == [s for s, _ in saved]  # the evaluations before the kill are kept
    assert curve["steps"][-1] == 1536 and curve["steps"] == sorted(set(curve["steps"]))
