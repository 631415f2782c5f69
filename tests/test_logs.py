"""Logs that read in text: a line per epoch, online episode and evaluation; bars only on a terminal."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from eqmbrl.core.progress import bars_on, progress_bar
from tests.helpers import run_in_process


def test_bars_only_on_a_terminal_unless_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EQMBRL_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert not bars_on() and progress_bar(range(3)).disable
    monkeypatch.setenv("EQMBRL_PROGRESS", "1")
    assert bars_on() and not progress_bar(range(3)).disable
    monkeypatch.setenv("EQMBRL_PROGRESS", "0")
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert not bars_on()


def test_a_run_logs_a_line_per_epoch_episode_and_evaluation(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="eqmbrl"):
        run_in_process(tmp_path, "experiment=debug", "agent.episodes=2", "agent.eval_episodes=1", "agent.eval_every=1")
    lines = [r.getMessage() for r in caplog.records if r.name == "eqmbrl"]
    assert [m.split(":")[0] for m in lines if m.startswith("epoch")] == ["epoch 1/2", "epoch 2/2"]
    assert "validation successor accuracy" in lines[0]
    assert sum(m.startswith("online episode") for m in lines) == 2
    assert sum(m.startswith("evaluation at env step") for m in lines) == 2
