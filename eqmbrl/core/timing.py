"""Where a run's wall clock goes: seconds per named phase (env steps, planning, training epochs, ...).

The phases nest (an evaluation runs env steps and plans); each phase is charged its *exclusive*
time, the time not spent in a phase nested inside it, so the phases add up to the time measured and
``wall - total`` is everything untimed. One process-wide :data:`PHASES` is reset at the start of a
run and written to ``RUN_DIR/timing.json`` at its end (:func:`eqmbrl.run.run`).
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class PhaseTimer:
    """Exclusive wall-clock seconds and call counts per phase name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._open: list[tuple[str, float, list[float]]] = []  # open phases: name, start, [time nested in it]

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()
        self._open.clear()

    def start(self, name: str) -> None:
        """Open phase ``name`` (inside the phase open now, if any); :meth:`stop` closes it."""
        self._open.append((name, time.perf_counter(), [0.0]))

    def stop(self, name: str) -> None:
        """Close phase ``name``, the last one opened, charging it its time less its nested phases'."""
        if not self._open or self._open[-1][0] != name:
            now = self._open[-1][0] if self._open else None
            raise RuntimeError(f"PhaseTimer.stop({name!r}): the open phase is {now!r}")
        _, start, nested = self._open.pop()
        elapsed = time.perf_counter() - start
        self.seconds[name] += elapsed - nested[0]
        self.calls[name] += 1
        if self._open:
            self._open[-1][2][0] += elapsed

    def is_open(self, name: str) -> bool:
        """Whether ``name`` is the phase open now."""
        return bool(self._open) and self._open[-1][0] == name

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Charge the time inside the ``with`` block, less its nested phases, to ``name``."""
        self.start(name)
        try:
            yield
        finally:
            self.stop(name)

    def timed(self, name: str) -> Callable[[F], F]:
        """Decorator: every call of the function is phase ``name``."""

        def decorate(fn: F) -> F:
            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with self.phase(name):
                    return fn(*args, **kwargs)

            return wrapper  # type: ignore[return-value]

        return decorate

    def report(self, wall_seconds: float) -> dict[str, Any]:
        """``{"wall_minutes", "seconds": {phase: s, "untimed": s}, "calls": {phase: n}}``, phases by time spent."""
        order = sorted(self.seconds, key=lambda k: -self.seconds[k])
        seconds = {k: round(self.seconds[k], 3) for k in order}
        seconds["untimed"] = round(max(wall_seconds - sum(self.seconds.values()), 0.0), 3)
        return {"wall_minutes": wall_seconds / 60, "seconds": seconds, "calls": {k: self.calls[k] for k in order}}


PHASES = PhaseTimer()
"""The process's phase timer (one run at a time per process)."""


def breakdown(report: dict[str, Any], top: int = 6) -> str:
    """One line of a :meth:`PhaseTimer.report`: its ``top`` phases by share of the wall clock."""
    wall = report["wall_minutes"] * 60
    parts = sorted(report["seconds"].items(), key=lambda kv: -kv[1])[:top]
    shares = ", ".join(f"{name} {100 * s / wall:.0f}% ({s:.0f} s)" for name, s in parts if wall > 0)
    return f"time: {wall:.0f} s: {shares}"
