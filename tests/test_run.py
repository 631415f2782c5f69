"""``python -m eqmbrl.run``: end to end on a tiny config, and config errors that name the problem."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "eqmbrl.run", *overrides], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("variant,env", [("sen", "cubes"), ("full", "shapes"), ("sen", "reacher")])
def test_run_end_to_end(tmp_path: Path, variant: str, env: str) -> None:
    out = tmp_path / "run"
    res = _run("experiment=debug", f"worldmodel={variant}", f"env={env}", f"hydra.run.dir={out}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("hits@1/1step", "mrr/10step", "ee", "die/1step", "train_loss"):
        assert key in metrics and metrics[key] == metrics[key]  # present and not NaN
    assert (out / "checkpoint.pt").is_file() and (out / "buffer.npz").is_file()
    assert list((out / "tb").glob("events.out.tfevents.*"))
    assert "final metrics" in res.stdout
    if env == "reacher":
        assert metrics["reward_mse"] >= 0.0  # the reward head is trained and evaluated on Reacher


def test_buffer_reuse_leaves_the_file_untouched(tmp_path: Path) -> None:
    first = tmp_path / "a"
    assert _run("experiment=debug", f"hydra.run.dir={first}", cwd=tmp_path).returncode == 0
    before = (first / "buffer.npz").read_bytes()
    second = tmp_path / "b"
    res = _run("experiment=debug", f"trainer.buffer_path={first / 'buffer.npz'}", f"hydra.run.dir={second}",
               cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (first / "buffer.npz").read_bytes() == before
    assert not (second / "buffer.npz").exists()


@pytest.mark.parametrize("override,expected", [
    ("worldmodel=xyz", "Could not find 'worldmodel/xyz'"),
    ("env=nope", "Could not find 'env/nope'"),
    ("worldmodel.hidden=abc", "full_key: worldmodel.hidden"),
    ("worldmodel.foo=1", "Key 'foo' not in"),
    ("trainer.epochs=1.5", "full_key: trainer.epochs"),
    ("device=tpu", "unknown device 'tpu'"),
    ("trainer.buffer_path=/nonexistent/buffer.npz", "does not exist"),
])
def test_config_errors_name_the_problem(tmp_path: Path, override: str, expected: str) -> None:
    res = _run("experiment=debug", override, f"hydra.run.dir={tmp_path / 'r'}", cwd=tmp_path)
    assert res.returncode != 0
    assert expected in res.stderr + res.stdout, (res.stderr + res.stdout)[-2000:]
