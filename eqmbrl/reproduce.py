"""``python -m eqmbrl.reproduce NAME [--budget smoke|cpu|paper] [--seeds N] [HYDRA OVERRIDES]``: one
headline result, from the sweep to its table.

1. **Sweep**: ``python -m eqmbrl.run --multirun`` with the headline's overrides (:mod:`eqmbrl.headlines`)
   at the budget, ``seed=0..N-1``, into ``--runs`` (default ``multirun/reproduce/NAME-BUDGET-<time>``),
   through Hydra's launchers: joblib with ``--jobs`` jobs (default 2) unless the extra arguments name
   another (``hydra/launcher=slurm``; every extra argument goes to Hydra).
2. **Scores**: each finished run's ``metrics.json`` (fixed evaluation episodes), its fresh episodes
   (:mod:`eqmbrl.evaluate`, ``evaluate/...``) and per-direction successor accuracy where the headline
   asks, ``--jobs`` runs at a time.
3. **Table**: runs grouped by the swept values, mean ± standard error over training seeds, the
   paper's figure beside ours; written to ``--out`` (default ``results/NAME``) as ``BUDGET.md`` (the
   table with its command, seeds, budget, machine and date), ``BUDGET.csv``, ``BUDGET.json`` and
   ``BUDGET_<tag>.png`` for a curve. Only a finished scoring writes them.

``--list`` names every headline with its cost at each budget; ``--runs DIR --score-only`` scores an
existing sweep again (e.g. after continuing a killed run with ``eqmbrl.resume``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.core.override_parser.overrides_parser import OverridesParser

from eqmbrl.core.checkpoint import atomic_write, write_json
from eqmbrl.evaluate import OUTPUT as EVALUATE_OUTPUT
from eqmbrl.evaluate import evaluate, standard_error
from eqmbrl.headlines import BUDGETS, DEFAULT_SEEDS, HEADLINES, SMOKE_EPISODES, Headline
from eqmbrl.report import find_runs, group_runs, plot_curves, run_metrics

BY_DIRECTION = "by_direction.json"
SWEEP_TIME = "sweep.json"  # in the sweep dir: its wall minutes, so that --score-only keeps them


def sweep_overrides(headline: Headline, budget: str, seeds: int) -> list[str]:
    """The ``eqmbrl.run --multirun`` overrides of ``headline`` at ``budget`` with seeds ``0..seeds-1``."""
    if budget not in headline.budgets:
        raise ValueError(f"unknown budget {budget!r}; allowed: {', '.join(headline.budgets)}")
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    return [*headline.sweep, *headline.budgets[budget], "seed=" + ",".join(str(s) for s in range(seeds))]


def sweep_command(overrides: list[str], runs: Path, jobs: int, extra: list[str]) -> list[str]:
    """The command line of the sweep (joblib with ``jobs`` jobs unless ``extra`` picks a launcher)."""
    launcher = [] if any(a.startswith("hydra/launcher=") for a in extra) else ["hydra/launcher=joblib"]
    if launcher:
        launcher.append(f"hydra.launcher.n_jobs={jobs}")
    return [sys.executable, "-m", "eqmbrl.run", "--multirun", *overrides, *launcher, f"hydra.sweep.dir={runs}", *extra]


def sweep_axes(overrides: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """The swept keys of ``overrides`` and their values in the order given (``worldmodel=sen,none``
    -> ``{"worldmodel": ["sen", "none"]}``), by Hydra's own override parser."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return {o.get_key_element(): list(o.sweep_string_iterator()) for o in parsed if o.is_sweep_override()}


def _score_run(run: Path, episodes: int, by_direction: bool) -> None:
    """The per-run scores a headline asks for, unless the run has them already."""
    torch.set_num_threads(1)
    if episodes and not (run / EVALUATE_OUTPUT).is_file():
        evaluate(run, episodes)
    if by_direction and not (run / BY_DIRECTION).is_file():
        from eqmbrl.diagnostics.directions import successor_by_direction

        write_json(run / BY_DIRECTION, successor_by_direction(run))


def score_runs(runs: list[Path], headline: Headline, jobs: int, episodes: int) -> None:
    """:func:`_score_run` on every run (``episodes`` fresh ones each, if the headline evaluates), ``jobs``
    at a time, each in its own process with one thread."""
    todo = [r for r in runs if (episodes and not (r / EVALUATE_OUTPUT).is_file())]
    todo += [r for r in runs if headline.by_direction and not (r / BY_DIRECTION).is_file() and r not in todo]
    if not todo:
        return
    print(f"scoring {len(todo)} runs, {jobs} at a time", flush=True)
    with ProcessPoolExecutor(max(1, jobs), mp_context=get_context("spawn")) as pool:
        for _ in pool.map(_score_run, todo, [episodes] * len(todo), [headline.by_direction] * len(todo)):
            pass


def table(headline: Headline, root: Path, jobs: int = 2, budget: str = "cpu") -> dict[str, Any]:
    """Score the finished runs under ``root`` and make the headline's table (rows by swept values)."""
    runs = find_runs(root)
    failed = [r for r in runs if (r / "FAILED").exists()]
    done = [r for r in runs if r not in failed and (r / "metrics.json").is_file()]
    if not done:
        raise ValueError(f"no finished runs under {root} ({len(runs)} runs, {len(failed)} failed)")
    score_runs(done, headline, jobs, min(headline.evaluate, SMOKE_EPISODES) if budget == "smoke" else headline.evaluate)
    metrics = {r: run_metrics(r, (EVALUATE_OUTPUT, BY_DIRECTION, "timing.json")) for r in done}
    groups, varying = group_runs(done)
    axes = sweep_axes([*headline.sweep, *headline.budgets.get(budget, ())])

    def order(group: tuple[tuple[str, str], ...]) -> tuple[int, ...]:  # rows in the sweep's order
        return tuple(axes[k].index(v) if v in axes.get(k, []) else len(axes.get(k, [])) for k, v in group)

    rows = []
    for group, members in sorted(groups.items(), key=lambda item: order(item[0])):
        label = " ".join(v for _, v in group) or "all"
        row: dict[str, Any] = {
            "label": label,
            "group": dict(group),
            "seeds": len(members),
            "runs": [str(r) for r in members],
        }
        row["warned"] = sum(any(k.startswith("warning/") for k in metrics[r]) for r in members)
        for col in headline.columns:
            values = [float(metrics[r].get(col.key, math.nan)) * col.scale for r in members]
            finite = [v for v in values if math.isfinite(v)]
            row[col.key] = {
                "mean": float(np.mean(finite)) if finite else math.nan,
                "se": standard_error(finite) if len(finite) > 1 else math.nan,  # one seed: no error bar
                "values": values,
                "paper": headline.paper.get(label, {}).get(col.key),
            }
        rows.append(row)
    minutes = [float(m.get("timing/wall_minutes", math.nan)) for m in metrics.values()]
    return {
        "name": headline.name,
        "varying": varying,
        "rows": rows,
        "runs": len(runs),
        "failed": len(failed),
        "unfinished": len(runs) - len(done) - len(failed),
        "run_minutes": {"mean": float(np.nanmean(minutes)), "max": float(np.nanmax(minutes))},
    }


def _cell(stat: dict[str, Any]) -> str:
    if not math.isfinite(stat["mean"]):
        return "—"
    digits = 3 if abs(stat["mean"]) < 1 else 1
    cell = f"{stat['mean']:.{digits}f}" + (f" ± {stat['se']:.{digits}f}" if math.isfinite(stat["se"]) else "")
    return cell + (f" ({stat['paper']:g})" if stat["paper"] is not None else "")


def markdown(headline: Headline, result: dict[str, Any]) -> str:
    """The table as markdown with its provenance (command, seeds, budget, machine, date)."""
    head = ["model" if result["varying"] == ["worldmodel"] else " ".join(result["varying"]) or "runs", "seeds"]
    head += [c.label for c in headline.columns]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|" + "---:|" * len(headline.columns)]
    for row in result["rows"]:
        label = row["label"] + (f" (⚠ {row['warned']} runs)" if row.get("warned") else "")
        cells = [label, str(row["seeds"]), *(_cell(row[c.key]) for c in headline.columns)]
        lines.append("| " + " | ".join(cells) + " |")
    meta = result["meta"]
    lines += [
        "",
        *(
            ["⚠: runs whose latents collapsed or whose successor accuracy is below 25% (metrics.json warning/...)", ""]
            if any(row.get("warned") for row in result["rows"])
            else []
        ),
        "Mean ± standard error over training seeds; in brackets the paper's figure"
        + (f" ({headline.source})." if headline.source else " (none for this table)."),
        *([headline.note] if headline.note else []),
        "",
        f"- command: `{meta['command']}`",
        f"- budget: {meta['budget']}; seeds: {meta['seeds']}; runs: {result['runs']} "
        f"({result['failed']} failed, {result['unfinished']} unfinished)",
        f"- machine: {meta['machine']}; date: {meta['date']}; "
        + (f"sweep wall time {meta['sweep_minutes']:.0f} min, " if meta["sweep_minutes"] is not None else "")
        + f"{result['run_minutes']['mean']:.1f} min per run (max {result['run_minutes']['max']:.1f})",
    ]
    return "\n".join(lines) + "\n"


def write_outputs(headline: Headline, result: dict[str, Any], out: Path, budget: str, root: Path) -> None:
    """``BUDGET.md``, ``.csv``, ``.json`` (and the curve's PNG) in ``out``, each written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(headline, result)
    atomic_write(out / f"{budget}.md", lambda f: f.write(text.encode()))
    write_json(out / f"{budget}.json", result)
    header = ["label", "seeds", *(f"{c.key} {s}" for c in headline.columns for s in ("mean", "se", "paper"))]
    csv_lines = [",".join(header)]
    for row in result["rows"]:
        stats = [row[c.key][s] for c in headline.columns for s in ("mean", "se", "paper")]
        csv_lines.append(",".join([row["label"], str(row["seeds"]), *("" if v is None else f"{v:.6g}" for v in stats)]))
    atomic_write(out / f"{budget}.csv", lambda f: f.write(("\n".join(csv_lines) + "\n").encode()))
    if headline.curve:
        groups, _ = group_runs([Path(r) for row in result["rows"] for r in row["runs"]])
        plot_curves(out, headline.curve, groups, name=f"{budget}_{headline.curve.replace('/', '_')}.png")
    print(text)
    print(f"written: {out}/{budget}.md, .csv, .json")


def machine() -> str:
    """The CPU model, its core count and the GPU (if any), e.g. for a results table's provenance."""
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.is_file():
        names = [
            line.split(":", 1)[1].strip() for line in info.read_text().splitlines() if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    return f"{cpu}, {os.cpu_count()} CPU cores, {device}"


def list_headlines() -> str:
    lines = [
        "| name | what | " + " | ".join(f"{b} (min)" for b in BUDGETS) + " |",
        "|---|---|" + "---:|" * len(BUDGETS),
    ]
    for h in HEADLINES.values():
        lines.append(f"| {h.name} | {h.title} | " + " | ".join(h.minutes.get(b, "—") for b in BUDGETS) + " |")
    return (
        "\n".join(lines) + "\n\nminutes: the whole sweep (3 seeds; smoke: 1) with 2 jobs on 2 CPU cores; ~ = estimated"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].replace("``", ""),
        epilog="Any other argument goes to Hydra, e.g. hydra/launcher=slurm or hydra.launcher.n_jobs=4.",
    )
    parser.add_argument("name", nargs="?", help="the headline (see --list)")
    parser.add_argument("--list", action="store_true", help="name every headline with its cost per budget")
    parser.add_argument("--budget", default="cpu", choices=BUDGETS)
    parser.add_argument("--seeds", type=int, help="training seeds 0..N-1 (default: 3; smoke: 1)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (joblib launcher) and scored at a time")
    parser.add_argument("--runs", type=Path, help="the sweep dir (default: multirun/reproduce/NAME-BUDGET-<time>)")
    parser.add_argument("--score-only", action="store_true", help="score the sweep in --runs without running it")
    parser.add_argument("--out", type=Path, help="where the table files go (default: results/NAME)")
    args, extra = parser.parse_known_args(argv)
    if args.list:
        print(list_headlines())
        return
    if args.name not in HEADLINES:
        parser.error(f"unknown headline {args.name!r}; allowed: {', '.join(HEADLINES)} (--list describes them)")
    headline = HEADLINES[args.name]
    seeds = args.seeds or DEFAULT_SEEDS[args.budget]
    overrides = sweep_overrides(headline, args.budget, seeds)
    if args.score_only and args.runs is None:
        parser.error("--score-only needs --runs DIR (the sweep to score)")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    runs = args.runs or Path("multirun") / "reproduce" / f"{headline.name}-{args.budget}-{stamp}"
    command = " ".join(
        ["python -m eqmbrl.reproduce", headline.name, f"--budget {args.budget}", *map(shlex.quote, extra)]
    )
    command += f" --seeds {seeds}" if args.seeds else ""
    start = time.monotonic()
    if not args.score_only:
        if runs.exists() and any(runs.iterdir()):
            raise SystemExit(f"--runs {runs} is not empty: pass --score-only to score it, or a new dir")
        cmd = sweep_command(overrides, runs, args.jobs, extra)
        print("sweep:", " ".join(map(shlex.quote, cmd)), flush=True)
        proc = subprocess.run(cmd)
        if proc.returncode:
            raise SystemExit(
                f"the sweep in {runs} failed (exit {proc.returncode}); continue killed runs with "
                f"python -m eqmbrl.resume RUN_DIR, then score with --runs {runs} --score-only"
            )
    result = table(headline, runs, args.jobs, args.budget)
    if not args.score_only:  # the sweep's cost, scoring included
        write_json(runs / SWEEP_TIME, {"minutes": (time.monotonic() - start) / 60})
    result["meta"] = {
        "command": command,
        "overrides": overrides,
        "budget": args.budget,
        "seeds": seeds,
        "machine": machine(),
        "date": datetime.date.today().isoformat(),
        "sweep_minutes": json.loads((runs / SWEEP_TIME).read_text())["minutes"]
        if (runs / SWEEP_TIME).is_file()
        else None,
        "runs_dir": str(runs),
    }
    write_outputs(headline, result, args.out or Path("results") / headline.name, args.budget, runs)


if __name__ == "__main__":
    main()
