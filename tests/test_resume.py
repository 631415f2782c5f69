"""Resume: a run killed with SIGKILL mid-training continues and ends as the uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eqmbrl.checkpoint import load_checkpoint
from eqmbrl.resume import resume
from tests.helpers import CLI_ENV, run_in_process

OVERRIDES = ("experiment=debug", "env=shapes_goal", "trainer.epochs=40", "trainer.patience=0")


def test_killed_run_resumes_to_the_same_metrics(tmp_path: Path) -> None:
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "eqmbrl.run", *OVERRIDES, f"hydra.run.dir={killed}"],
        cwd=tmp_path,
        env=CLI_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline:  # kill once a few epochs are done
        state = killed / "resume.pt"
        if state.is_file() and load_checkpoint(state)["progress"]["epochs"] >= 3:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "metrics.json").exists(), "the run finished before it was killed: make it longer"
    (killed / "checkpoint.pt.tmp").write_bytes(b"half-written")  # what a kill during a write leaves
    resumed = resume(killed)
    assert not list(killed.rglob("*.tmp"))
    reference = run_in_process(tmp_path / "reference", *OVERRIDES)
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
