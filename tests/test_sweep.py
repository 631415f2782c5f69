"""Sweeps: a real two-job submitit sweep (local subprocesses) end to end, then eqmbrl.report on it."""

import json
import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from eqmbrl.core.rundir import MAX_NAME, short_name
from eqmbrl.report import report
from tests.helpers import cli


@pytest.mark.slow  # a submitit sweep of two subprocess jobs
def test_submitit_sweep_then_report(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    res = cli(
        "-m",
        "hydra/launcher=local",
        "experiment=debug",
        "env=cubes",
        "trainer.epochs=1",
        "seed=0,1",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    runs = sorted(p.parent for p in sweep.glob("*/metrics.json"))
    assert [r.name.split("_")[0] for r in runs] == ["0", "1"]
    first, second = (json.loads((r / "metrics.json").read_text()) for r in runs)
    assert first != second  # different seeds, different data and weights
    assert list(sweep.glob(".submitit/*/*_log.out"))  # submitit ran the jobs

    failed = sweep / "2_failed"
    shutil.copytree(runs[0], failed)
    (failed / "FAILED").write_text("DivergedError: ...\n")
    out = report(sweep, curves=("eval/hits@1/1step",))
    assert out["failed"] == 1 and out["varying"] == [] and len(out["rows"]) == 1
    row = out["rows"][0]
    assert row["hits@1/1step"]["n"] == 2
    assert row["hits@1/1step"]["mean"] == (first["hits@1/1step"] + second["hits@1/1step"]) / 2
    assert (sweep / "report.csv").is_file() and (sweep / "report_eval_hits@1_1step.png").is_file()


def test_report_groups_by_the_overrides_that_differ(tmp_path: Path) -> None:
    for i, (model, seed) in enumerate([("sen", 0), ("sen", 1), ("none", 0)]):
        run = tmp_path / str(i)
        (run / ".hydra").mkdir(parents=True)
        (run / ".hydra" / "overrides.yaml").write_text(f"- env=shapes\n- worldmodel={model}\n- seed={seed}\n")
        (run / "metrics.json").write_text(json.dumps({"hits@1/10step": 10.0 * (i + 1)}))
    (tmp_path / "3" / ".hydra").mkdir(parents=True)
    (tmp_path / "3" / ".hydra" / "overrides.yaml").write_text("- worldmodel=full\n- seed=0\n")  # unfinished
    out = report(tmp_path, keys=("hits@1/10step",), curves=())
    assert out["unfinished"] == 1 and out["varying"] == ["worldmodel"]
    rows = {r["group"]["worldmodel"]: r["hits@1/10step"] for r in out["rows"]}
    assert rows["sen"]["mean"] == 15.0 and rows["sen"]["std"] == 5.0 and rows["none"]["mean"] == 30.0


def test_report_reads_extra_json_files(tmp_path: Path) -> None:
    for i, success in enumerate([0.9, 0.7, None]):
        run = tmp_path / str(i)
        (run / ".hydra").mkdir(parents=True)
        (run / ".hydra" / "overrides.yaml").write_text(f"- seed={i}\n")
        (run / "metrics.json").write_text(json.dumps({"success": 0.5}))
        if success is not None:  # the third run was never goal-evaluated: left out, not zero
            (run / "evaluate.json").write_text(json.dumps({"success_unseen": success, "goals_unseen": 10}))
    out = report(tmp_path, keys=("success", "evaluate/success_unseen", "evaluate/goals_unseen"), curves=())
    row = out["rows"][0]
    assert row["evaluate/success_unseen"]["n"] == 2 and abs(row["evaluate/success_unseen"]["mean"] - 0.8) < 1e-12
    assert row["evaluate/goals_unseen"]["mean"] == 10 and row["success"]["n"] == 3
    alone = report(tmp_path, keys=("evaluate/success_unseen",), curves=(), extra=(), out_dir=tmp_path / "rep")
    assert "evaluate/success_unseen" not in alone["rows"][0]  # not read when not asked for
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["rows"] == alone["rows"]


def test_long_sweep_subdirs_are_shortened_and_stay_distinct() -> None:
    """A job's subdir is its overrides; past 200 bytes (file systems refuse 255) it is cut and
    hashed, so two long override lists differing only at the end still get distinct dirs."""
    short = "env=cubes,seed=0"
    assert short_name(short) == short
    long_a = ",".join(f"trainer.option_{i}=value" for i in range(20)) + ",seed=1"
    long_b = long_a[:-1] + "2"
    a, b = short_name(long_a), short_name(long_b)
    assert len(a.encode()) <= MAX_NAME and len(b.encode()) <= MAX_NAME
    assert a != b and a.startswith(long_a[:100])
    assert OmegaConf.create({"x": long_a, "d": "${short_name:${x}}"}).d == a  # the resolver in configs


def test_curve_labels_are_the_differing_overrides_short() -> None:
    from eqmbrl.report import short_label

    assert short_label((("worldmodel", "sen"), ("trainer.epochs", "20"))) == "worldmodel=sen, epochs=20"
    assert short_label(()) == "all"
