"""Where a run's time goes: nested phases are charged their exclusive time, and a run writes them."""

import json
from pathlib import Path

import pytest

import eqmbrl.core.timing as timing
from eqmbrl.core.timing import PhaseTimer, breakdown
from eqmbrl.report import run_metrics
from tests.helpers import cli, run_in_process


def test_nested_phases_are_charged_their_exclusive_time(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 1.0, 4.0, 6.0, 7.0, 10.0])  # outer opens, inner 1-4, inner 6-7, outer closes at 10
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    timer = PhaseTimer()
    with timer.phase("evaluation"):
        for _ in range(2):
            with timer.phase("env_steps"):
                pass
    assert dict(timer.seconds) == {"evaluation": 6.0, "env_steps": 4.0}
    assert dict(timer.calls) == {"evaluation": 1, "env_steps": 2}
    report = timer.report(wall_seconds=12.0)
    assert report["seconds"] == {"evaluation": 6.0, "env_steps": 4.0, "untimed": 2.0}
    assert breakdown(report, top=2) == "time: 12 s: evaluation 50% (6 s), env_steps 33% (4 s)"


def test_closing_a_phase_that_is_not_the_open_one_is_an_error() -> None:
    timer = PhaseTimer()
    timer.start("sb3_rollouts")
    with pytest.raises(RuntimeError, match="'sb3_updates'.*open phase is 'sb3_rollouts'"):
        timer.stop("sb3_updates")


PPO = ("agent=ppo", "agent.total_steps=64", "agent.eval_every=32", "agent.algo_kwargs.n_steps=32")
RUNS = {
    "search": (("env=shapes_goal", "agent=search", "agent.episodes=0"), ("training_epochs", "validation", "planning")),
    "ppo": (PPO, ("sb3_rollouts", "sb3_updates", "saves", "agent_evaluation")),
}


@pytest.mark.parametrize("name", RUNS)
def test_a_run_writes_its_time_per_phase_and_report_reads_it(tmp_path: Path, name: str) -> None:
    overrides, phases = RUNS[name]
    run_in_process(tmp_path, "experiment=debug", *overrides)
    report = json.loads((tmp_path / "timing.json").read_text())
    seconds = report["seconds"]
    for phase in ("env_steps", "world_model_metrics", "model_build", *phases):
        assert seconds[phase] > 0, phase
    assert sum(seconds.values()) == pytest.approx(report["wall_minutes"] * 60, rel=1e-3, abs=1e-2)
    assert run_metrics(tmp_path)[f"timing/seconds/{phases[0]}"] == seconds[phases[0]]


@pytest.mark.slow
def test_a_job_of_a_joblib_sweep_times_its_phases_too(tmp_path: Path) -> None:
    """Hydra's joblib launcher pickles ``eqmbrl.run``'s task by value: the timer must still be the
    one the other modules charge (it once came back with nothing but ``untimed``)."""
    res = cli("-m", "hydra/launcher=joblib", "experiment=debug", f"hydra.sweep.dir={tmp_path / 's'}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    (timing_file,) = (tmp_path / "s").glob("*/timing.json")
    assert json.loads(timing_file.read_text())["seconds"]["training_epochs"] > 0
