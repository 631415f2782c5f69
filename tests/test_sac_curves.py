"""results/sac_curves.py: the steps-to-reach ratio against a reference run, on hand-made curves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from torch.utils.tensorboard import SummaryWriter

from tests.helpers import script

pytestmark = pytest.mark.slow  # every test runs results/sac_curves.py in a subprocess


def fake_run(path: Path, features: str, seed: int, curve: list[tuple[int, float]], agent: str = "freeze: true") -> Path:
    """A run dir as an unfinished ``agent=sac`` run leaves it: its config and ``sb3_progress.json``."""
    (path / ".hydra").mkdir(parents=True)
    config = f"seed: {seed}\nworldmodel: {{variant: sen}}\nagent: {{features: {features}, {agent}}}\n"
    (path / ".hydra" / "config.yaml").write_text(config)
    (path / "sb3_progress.json").write_text(json.dumps({"curve": curve, "metrics": {}}))
    return path


def test_ratio_against_reference_run(tmp_path: Path) -> None:
    # reference: last 3 evaluations -12, -10, -11 -> threshold -11.0, first reached at step 2000 (-11.0)
    ref_curve = [(1000, -13.0), (2000, -11.0), (3000, -12.0), (4000, -10.0), (5000, -11.0)]
    ref = fake_run(tmp_path / "cnn", "nature_cnn", 0, ref_curve)
    sen = fake_run(tmp_path / "sen", "worldmodel", 1, [(500, -12.0), (1000, -10.5), (1500, -8.0)])
    slow = fake_run(tmp_path / "slow", "worldmodel", 2, [(1000, -14.0), (2000, -13.0)])
    proc = script("sac_curves.py", str(sen), str(slow), "--out", str(tmp_path / "c.png"), "--reference-run", str(ref))
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in out.splitlines()[3:6]}
    assert "mean of last 3 evals -11.00, reached at 2000" in out.splitlines()[0]
    assert rows["nature_cnn (seed 0)"][-2:] == ["2000", "1.0"]
    assert rows["sen frozen (seed 1)"][-2:] == ["1000", "2.0"]  # -10.5 >= -11 at step 1000: 2000 / 1000
    assert rows["sen frozen (seed 2)"][-2:] == ["not reached", "–"]
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # a PNG image was written


def test_returns_at_given_steps_with_seed_means(tmp_path: Path) -> None:
    a = fake_run(tmp_path / "a", "worldmodel", 0, [(1000, -12.0), (2000, -10.0), (3000, -9.0)])
    b = fake_run(tmp_path / "b", "worldmodel", 1, [(1000, -14.0), (2000, -12.0)])
    proc = script("sac_curves.py", str(a), str(b), "--out", str(tmp_path / "c.png"), "--at", "1000", "2000", "3000")
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = [line for line in proc.stdout.split("\n\n")[1].splitlines() if line.startswith("|")]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in table[2:]}
    assert rows["sen frozen (seed 0)"] == ["-12.00", "-10.00", "-9.00"]
    assert rows["sen frozen (seed 1)"] == ["-14.00", "-12.00", ""]
    # mean ± population std over the 2 seeds; blank at 3000, which seed 1 did not reach
    assert rows["**sen frozen, 2 seeds**"] == ["-13.00 ± 1.00", "-11.00 ± 1.00", ""]


def test_labels_name_the_fine_tuning_options(tmp_path: Path) -> None:
    opts = "freeze: false, normalize_features: true, fixed_batchnorm: true"
    a = fake_run(tmp_path / "a", "worldmodel", 0, [(1000, -12.0)], "freeze: false")
    b = fake_run(tmp_path / "b", "worldmodel", 0, [(1000, -11.0)], opts)
    proc = script("sac_curves.py", str(a), str(b), "--out", str(tmp_path / "c.png"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| sen fine-tuned (seed 0) | 1000 |" in proc.stdout
    assert "| sen fine-tuned, layer-norm features, fixed BatchNorm (seed 0) | 1000 |" in proc.stdout


def test_tensorboard_scalars_at_given_steps(tmp_path: Path) -> None:
    run = fake_run(tmp_path / "a", "worldmodel", 0, [(1000, -12.0), (2000, -11.0)])
    writer = SummaryWriter(str(run / "tb"))
    for step, value in ((950, 1.5), (1050, 2.5), (1980, 40.0)):
        writer.add_scalar("train/actor_loss", value, step)
    writer.close()
    args = ("--at", "1000", "2000", "3000", "--tags", "train/actor_loss", "train/critic_loss")
    proc = script("sac_curves.py", str(run), "--out", str(tmp_path / "c.png"), *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # nearest logged step: 950 and 1050 tie for 1000 (the earlier wins), 1980 for 2000; 3000 lies
    # beyond the last logged step (1980) by more than the median interval (515): blank, as never logged
    assert "| sen frozen (seed 0) | 1.5 | 40 |  |" in proc.stdout.split("| train/actor_loss |")[1]
    assert "| sen frozen (seed 0) |  |  |  |" in proc.stdout.split("| train/critic_loss |")[1]
    assert script("sac_curves.py", str(run), "--out", str(tmp_path / "c.png"), "--tags", "x").returncode == 2
