"""eqmbrl.reproduce and its registry: every headline's sweep composes at every budget, the table's
numbers against hand-computed ones, and (slow) every headline end to end at the smoke budget."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from eqmbrl.headlines import BUDGETS, HEADLINES, Column, Headline
from eqmbrl.reproduce import list_headlines, main, markdown, sweep_command, sweep_overrides, table
from eqmbrl.run import compose_config, settings_of
from tests.helpers import python


def jobs_of(overrides: list[str]) -> list[list[str]]:
    """The single runs a multirun of ``overrides`` launches (Hydra's own sweep expansion)."""
    axes = [
        [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override() else [o.input_line]
        for o in OverridesParser.create().parse_overrides(overrides)
    ]
    return [list(job) for job in itertools.product(*axes)]


@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("name", sorted(HEADLINES))
def test_every_job_of_every_headline_composes_and_validates(name: str, budget: str) -> None:
    jobs = jobs_of(sweep_overrides(HEADLINES[name], budget, seeds=2))
    assert len(jobs) >= 4  # at least two models (or settings) x two seeds
    for job in jobs:
        settings_of(compose_config(*job))  # every value check that needs no env


def test_sweep_uses_joblib_unless_a_launcher_is_named(tmp_path: Path) -> None:
    cmd = sweep_command(["env=shapes"], tmp_path, 3, [])
    assert "hydra/launcher=joblib" in cmd and "hydra.launcher.n_jobs=3" in cmd and "--multirun" in cmd
    cmd = sweep_command(["env=shapes"], tmp_path, 3, ["hydra/launcher=slurm"])
    assert "hydra/launcher=joblib" not in cmd and cmd[-1] == "hydra/launcher=slurm"


def test_bad_budget_and_seeds_name_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="unknown budget 'big'; allowed: smoke, cpu, paper"):
        sweep_overrides(HEADLINES["shapes_up"], "big", 3)
    with pytest.raises(ValueError, match="--seeds must be >= 1"):
        sweep_overrides(HEADLINES["shapes_up"], "cpu", 0)


def test_unknown_headline_is_a_one_line_error_listing_them() -> None:
    proc = python("-m", "eqmbrl.reproduce", "nope")
    assert proc.returncode == 2
    assert "unknown headline 'nope'; allowed: shapes_up, cubes_urd" in proc.stderr


def test_list_names_every_headline_with_its_cost_per_budget() -> None:
    text = list_headlines()
    for h in HEADLINES.values():
        line = next(x for x in text.splitlines() if x.startswith(f"| {h.name} |"))
        assert all(h.minutes[b] in line for b in BUDGETS)


def fake_run(
    root: Path, name: str, model: str, seed: int, metrics: dict[str, float], fresh: dict | None, extra: str = ""
) -> None:
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(f"- env=shapes\n- worldmodel={model}\n- seed={seed}\n{extra}")
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "timing.json").write_text(json.dumps({"wall_minutes": 2.0}))
    if fresh is not None:
        (run / "evaluate.json").write_text(json.dumps(fresh))


TOY = Headline(
    name="toy",
    title="toy",
    sweep=(),
    budgets={"cpu": ()},
    minutes={"cpu": "1"},
    columns=(Column("hits@1/10step", "H@1"), Column("evaluate/success", "fresh", 100)),
    paper={"sen": {"hits@1/10step": 99.9}},
    source="the toy paper",
    evaluate=5,
)


def test_table_is_mean_and_standard_error_over_seeds_with_the_papers_figure(tmp_path: Path) -> None:
    for seed, (hits, success) in enumerate([(100.0, 0.9), (98.0, 1.0), (96.0, 0.8)]):
        fake_run(tmp_path, f"sen{seed}", "sen", seed, {"hits@1/10step": hits}, {"success": success})
    fake_run(tmp_path, "none0", "none", 0, {"hits@1/10step": 50.0}, {"success": 0.5})
    (tmp_path / "failed" / ".hydra").mkdir(parents=True)
    (tmp_path / "failed" / ".hydra" / "overrides.yaml").write_text("- worldmodel=sen\n- seed=9\n")
    (tmp_path / "failed" / "FAILED").write_text("boom\n")
    result = table(TOY, tmp_path)  # every run has evaluate.json: nothing is re-scored
    rows = {r["label"]: r for r in result["rows"]}
    assert rows["sen"]["seeds"] == 3 and result["failed"] == 1
    hits = rows["sen"]["hits@1/10step"]
    assert hits["mean"] == pytest.approx(98.0) and hits["se"] == pytest.approx(2.0 / math.sqrt(3))
    assert rows["sen"]["evaluate/success"]["mean"] == pytest.approx(90.0)
    assert rows["sen"]["evaluate/success"]["se"] == pytest.approx(np.std([90, 100, 80], ddof=1) / math.sqrt(3))
    assert hits["paper"] == 99.9 and rows["none"]["hits@1/10step"]["paper"] is None
    result["meta"] = dict(command="c", budget="cpu", seeds=3, machine="m", date="d", sweep_minutes=1.0)
    text = markdown(TOY, result)
    assert "| sen | 3 | 98.0 ± 1.2 (99.9) | 90.0 ± 5.8 |" in text
    assert "| none | 1 | 50.0 | 50.0 |" in text  # one seed: no error bar
    assert "the toy paper" in text and "1 failed" in text


def test_rows_follow_the_budgets_swept_order_and_score_only_keeps_the_sweep_time(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for model in ("none", "sen"):
        for episodes in (200, 20, 60):  # made out of order: the table follows the budget's order
            fake_run(
                runs,
                f"{model}{episodes}",
                model,
                0,
                {"successor_acc": 1.0},
                {"success": 0.5},
                f"- trainer.episodes={episodes}\n",
            )
            (runs / f"{model}{episodes}" / "by_direction.json").write_text(json.dumps({"left": 1.0}))
    (runs / "sweep.json").write_text(json.dumps({"minutes": 7.0}))
    main(["unseen_data", "--score-only", "--runs", str(runs), "--out", str(tmp_path / "out")])
    labels = [r["label"] for r in json.loads((tmp_path / "out" / "cpu.json").read_text())["rows"]]
    assert labels == ["20 sen", "20 none", "60 sen", "60 none", "200 sen", "200 none"]
    assert "sweep wall time 7 min" in (tmp_path / "out" / "cpu.md").read_text()


def test_score_only_needs_an_existing_sweep(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["shapes_up", "--score-only"])
    with pytest.raises(ValueError, match="no finished runs"):
        main(["shapes_up", "--score-only", "--runs", str(tmp_path), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()  # nothing written for a failed scoring


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HEADLINES))
def test_every_headline_runs_end_to_end_at_the_smoke_budget(name: str, tmp_path: Path) -> None:
    proc = python(
        "-m", "eqmbrl.reproduce", name, "--budget", "smoke", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path)
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "smoke.json").read_text())
    headline = HEADLINES[name]
    assert result["failed"] == 0 and result["unfinished"] == 0
    assert len(result["rows"]) == len(jobs_of(sweep_overrides(headline, "smoke", 1)))  # one seed: one row per job
    for row in result["rows"]:
        assert all(math.isfinite(row[c.key]["mean"]) for c in headline.columns), row
    text = (tmp_path / "smoke.md").read_text()
    assert f"python -m eqmbrl.reproduce {name} --budget smoke" in text
    if headline.curve:
        assert (tmp_path / f"smoke_{headline.curve.replace('/', '_')}.png").is_file()
