"""Every failed run is marked, a live run is never written twice, and resume starts where the run did."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from eqmbrl.core.checkpoint import atomic_write
from eqmbrl.core.rundir import LOCK, RunLockedError, failure_message, holding_lock, lock_holder, start_dir
from eqmbrl.report import report
from eqmbrl.resume import resume
from eqmbrl.run import resolve_device
from eqmbrl.summary import health_warnings, summary
from tests.helpers import CLI_ENV, ROOT, run_in_process


def test_a_value_error_marks_an_existing_run_dir_and_builds_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="trainer.lr must be > 0"):
        run_in_process(tmp_path, "experiment=debug", "trainer.lr=-1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FAILED", "metrics.json"]
    assert "trainer.lr must be > 0" in (tmp_path / "FAILED").read_text()


def test_full_disk_and_signals_read_plainly() -> None:
    full = OSError(errno.ENOSPC, "No space left on device", "/runs/x/buffer.npz")
    assert (
        failure_message(full) == "disk full writing /runs/x/buffer.npz: free space and resume the run (OSError ENOSPC)"
    )
    assert "SIGINT" in failure_message(KeyboardInterrupt())
    err = RuntimeError("unexpected pos")
    err.add_note("while writing /runs/x/checkpoint.pt")
    assert failure_message(err) == "RuntimeError: unexpected pos (while writing /runs/x/checkpoint.pt)"


def test_a_failed_write_names_its_file(tmp_path: Path) -> None:
    def broken(f: object) -> None:
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos")

    with pytest.raises(RuntimeError) as info:
        atomic_write(tmp_path / "checkpoint.pt", broken)
    assert f"while writing {tmp_path / 'checkpoint.pt'}" in info.value.__notes__
    assert not list(tmp_path.iterdir())  # neither the file nor its .tmp


@pytest.mark.parametrize(
    ("name", "expected"),
    [("cuda:x", "unknown device 'cuda:x'"), ("gpu", "unknown device 'gpu'"), ("cuda:", "unknown device")],
)
def test_bad_devices_are_refused(name: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        resolve_device(name)


def test_a_gpu_index_beyond_the_machine_is_refused_where_there_are_gpus() -> None:
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="GPU"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
    else:  # no GPU: any cuda device falls back to the CPU, as documented
        assert resolve_device("cuda:3", quiet=True) == torch.device("cpu")


def test_a_live_lock_is_refused_and_a_stale_one_taken_over(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / LOCK).write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname()}))
        assert lock_holder(tmp_path) is not None
        with pytest.raises(RunLockedError, match=f"process {sleeper.pid}"), holding_lock(tmp_path):
            pass
    finally:
        sleeper.kill()
        sleeper.wait()
    assert lock_holder(tmp_path) is None  # its process is gone: stale
    with holding_lock(tmp_path):
        assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK).exists()  # released on exit


def test_resume_refuses_a_run_that_is_still_alive(tmp_path: Path) -> None:
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (tmp_path / LOCK).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    with pytest.raises(RunLockedError, match="still being written"):
        resume(tmp_path)
    assert (tmp_path / LOCK).exists()


@pytest.mark.slow  # a subprocess stopped with SIGTERM, then resumed from another cwd
def test_sigterm_marks_the_run_and_resume_finishes_it_from_its_start_dir(tmp_path: Path) -> None:
    start = tmp_path / "start"
    (start / "data").mkdir(parents=True)
    source = tmp_path / "source"
    run_in_process(source, "experiment=debug", "agent=none")
    (start / "data" / "buffer.npz").write_bytes((source / "buffer.npz").read_bytes())
    out = tmp_path / "run"
    args = ["experiment=debug", "agent=none", "trainer.epochs=40", "trainer.buffer_path=data/buffer.npz"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "eqmbrl.run", *args, f"hydra.run.dir={out}"],
        cwd=start,
        env=CLI_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(600):  # until the first epoch is saved
        if (out / "saves" / "train.json").is_file():
            break
        time.sleep(0.1)
    assert lock_holder(out) is not None and json.loads((out / LOCK).read_text())["pid"] == proc.pid
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) != 0
    assert "stopped by SIGTERM" in (out / "FAILED").read_text()
    assert not (out / LOCK).exists()
    assert start_dir(out) == start
    os.chdir(ROOT)  # elsewhere: the relative buffer_path must still mean start/data/buffer.npz
    try:
        metrics = resume(out)
    finally:
        os.chdir(ROOT)
    assert "hits@1/1step" in metrics and not (out / "FAILED").exists() and not (out / LOCK).exists()


def test_collapsed_and_chance_level_models_are_flagged() -> None:
    collapsed = {"hits@1/1step": 0.0, "ties_hit/hits@1/1step": 100.0, "collapsed_latents": 100.0, "successor_acc": 0.0}
    warnings = health_warnings(collapsed)
    assert set(warnings) == {"warning/collapsed", "warning/successor_acc"}
    assert "lower trainer.lr" in warnings["warning/collapsed"]
    assert health_warnings({"hits@1/1step": 100.0, "collapsed_latents": 0.0, "successor_acc": 99.0}) == {}
    text = summary(collapsed, "t", Path("/runs/x"))
    assert text.count("WARNING:") == 2


def test_report_marks_runs_with_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i, flags in enumerate([{}, {"warning/collapsed": 1.0}]):
        run = tmp_path / f"r{i}"
        (run / ".hydra").mkdir(parents=True)
        (run / ".hydra" / "overrides.yaml").write_text(f"- seed={i}\n")
        (run / "metrics.json").write_text(json.dumps({"hits@1/1step": 100.0, **flags}))
    out = report(tmp_path, keys=("hits@1/1step",), curves=())
    assert out["rows"][0]["warned"] == [str(tmp_path / "r1")]
    assert "⚠ 1" in capsys.readouterr().out
