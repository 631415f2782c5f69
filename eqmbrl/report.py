"""``python -m eqmbrl.report DIR``: a sweep's runs as one table (mean ± std over seeds) and curves.

Finds every run under ``DIR`` (a directory with ``.hydra/overrides.yaml``; a Hydra multirun dir
or any dir of runs, e.g. ``multirun`` with ``--match 'goal_*'``), reads its ``metrics.json``
and TensorBoard scalars (plus extra per-run JSON files such as ``evaluate.json`` (eqmbrl.evaluate) and
the run's ``timing.json`` with its wall time and seconds per phase, whose keys get the file's stem as
prefix: ``evaluate/success_d1``, ``timing/seconds/env_steps``), and groups the runs by the
command-line overrides that differ between them, except ``seed``. Failed runs (a ``FAILED`` file)
and unfinished ones (no ``metrics.json``) are skipped and counted. Prints a markdown table of the
chosen metrics and writes ``DIR/report.json``, ``DIR/report.csv`` and one PNG of learning curves
per ``--curve`` tag.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

DEFAULT_KEYS = (
    "hits@1/1step",
    "hits@1/10step",
    "ties_hit/hits@1/10step",
    "successor_acc",
    "ee",
    "success",
    "evaluate/success_d1",
    "evaluate/success_d2",
    "evaluate/success_d3",
    "evaluate/success_unseen",
    "return",
    "epochs",
    "timing/wall_minutes",
)
DEFAULT_EXTRA = ("evaluate.json", "timing.json")
DEFAULT_CURVES = ("eval/hits@1/10step", "eval/success", "eval/return")


def find_runs(root: Path, match: str = "*") -> list[Path]:
    """Run dirs under ``root`` (those with ``.hydra/overrides.yaml``) whose name matches ``match``, sorted."""
    return sorted(p.parent.parent for p in root.rglob(".hydra/overrides.yaml") if p.parent.parent.match(match))


def overrides(run: Path) -> dict[str, str]:
    """The run's command-line overrides as ``{key: value}`` (``+``/``~`` prefixes dropped)."""
    items = OmegaConf.to_container(OmegaConf.load(run / ".hydra" / "overrides.yaml"))
    assert isinstance(items, list)
    pairs = (str(item).lstrip("+~").split("=", 1) for item in items)
    return {k: v for k, *rest in pairs for v in (rest or [""])}


def group_runs(runs: list[Path]) -> tuple[dict[tuple[tuple[str, str], ...], list[Path]], list[str]]:
    """Runs grouped by the overrides that differ between them, except ``seed``; and those keys."""
    by_run = {run: overrides(run) for run in runs}
    keys = sorted({k for o in by_run.values() for k in o})
    varying = [k for k in keys if k != "seed" and len({o.get(k, "") for o in by_run.values()}) > 1]
    groups: dict[tuple[tuple[str, str], ...], list[Path]] = defaultdict(list)
    for run, o in by_run.items():
        groups[tuple((k, o.get(k, "")) for k in varying)].append(run)
    return dict(sorted(groups.items())), varying


def scalars(run: Path, tag: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values of TensorBoard scalar ``tag`` in the run's ``tb/`` (empty if absent)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    steps: dict[int, float] = {}
    for events in sorted((run / "tb").glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        if tag in acc.Tags()["scalars"]:
            steps.update({e.step: e.value for e in acc.Scalars(tag)})
    order = sorted(steps)
    return np.array(order), np.array([steps[s] for s in order])


def summarize(values: list[float]) -> dict[str, Any]:
    finite = [v for v in values if math.isfinite(v)]
    return {
        "mean": float(np.mean(finite)) if finite else float("nan"),
        "std": float(np.std(finite)) if finite else float("nan"),
        "n": len(finite),
        "values": values,
    }


def flat(data: dict[str, Any], prefix: str) -> dict[str, Any]:
    """``data`` with nested dicts flattened: ``{"a": {"b": 1}}`` -> ``{"<prefix>/a/b": 1}``."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        out.update(flat(v, f"{prefix}/{k}") if isinstance(v, dict) else {f"{prefix}/{k}": v})
    return out


def run_metrics(run: Path, extra: tuple[str, ...] = DEFAULT_EXTRA) -> dict[str, Any]:
    """The run's ``metrics.json``, plus every key ``k`` of each extra JSON file present as ``<stem>/k``
    (nested: ``timing/seconds/env_steps``)."""
    metrics = json.loads((run / "metrics.json").read_text())
    for name in extra:
        path = run / name
        if path.is_file():
            metrics.update(flat(json.loads(path.read_text()), Path(name).stem))
    return metrics


def report(
    root: Path,
    keys: tuple[str, ...] | None = None,
    curves: tuple[str, ...] = DEFAULT_CURVES,
    match: str = "*",
    extra: tuple[str, ...] = DEFAULT_EXTRA,
    out_dir: Path | None = None,
) -> dict[str, Any]:
    """The report of the runs under ``root`` (see the module doc); also printed and written to
    ``out_dir`` (default ``root``)."""
    runs = find_runs(root, match)
    if not runs:
        raise FileNotFoundError(f"no runs under {root} (dirs with .hydra/overrides.yaml matching {match!r})")
    failed = [r for r in runs if (r / "FAILED").exists()]
    unfinished = [r for r in runs if r not in failed and not (r / "metrics.json").is_file()]
    done = [r for r in runs if r not in failed and r not in unfinished]
    if not done:
        raise ValueError(f"none of the {len(runs)} runs under {root} finished ({len(failed)} failed)")
    metrics = {r: run_metrics(r, extra) for r in done}
    groups, varying = group_runs(done)
    present = [k for k in (keys or DEFAULT_KEYS) if any(k in m for m in metrics.values())]
    rows = []
    for group, members in groups.items():
        row: dict[str, Any] = {"group": dict(group), "runs": [str(r) for r in members]}
        row["warned"] = [str(r) for r in members if any(k.startswith("warning/") for k in metrics[r])]
        row.update({k: summarize([float(metrics[r].get(k, float("nan"))) for r in members]) for k in present})
        rows.append(row)
    out = {"root": str(root), "varying": varying, "failed": len(failed), "unfinished": len(unfinished), "rows": rows}
    print_table(out, present)
    out_dir = out_dir or root
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(out, indent=2))
    write_csv(out_dir / "report.csv", rows, varying, present)
    for tag in curves:
        plot_curves(out_dir, tag, groups)
    return out


def print_table(out: dict[str, Any], keys: list[str]) -> None:
    head = out["varying"] or ["runs"]
    print("| " + " | ".join([*head, "seeds", "warned", *keys]) + " |")
    print("|" + "---|" * len(head) + "---:|" * (2 + len(keys)))
    for row in out["rows"]:
        labels = [row["group"].get(k, "") for k in out["varying"]] or ["all"]
        cells = [f"{row[k]['mean']:.3g} ± {row[k]['std']:.2g}" if row[k]["n"] else "—" for k in keys]
        warned = f"⚠ {len(row['warned'])}" if row["warned"] else ""
        print("| " + " | ".join([*labels, str(len(row["runs"])), warned, *cells]) + " |")
    print(f"\nskipped: {out['failed']} failed, {out['unfinished']} unfinished")
    if any(row["warned"] for row in out["rows"]):
        print("⚠: runs whose world model collapsed or whose successor accuracy is low (metrics.json warning/...)")


def write_csv(path: Path, rows: list[dict[str, Any]], varying: list[str], keys: list[str]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*varying, "seeds", *(f"{k} {s}" for k in keys for s in ("mean", "std"))])
        for row in rows:
            stats = [row[k][s] for k in keys for s in ("mean", "std")]
            writer.writerow([*(row["group"].get(k, "") for k in varying), len(row["runs"]), *stats])


def short_label(group: tuple[tuple[str, str], ...]) -> str:
    """A legend label of a group: its differing overrides with each key's last part
    (``worldmodel=sen, trainer.epochs=20`` -> ``worldmodel=sen, epochs=20``)."""
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in group) or "all"


def plot_curves(
    out_dir: Path, tag: str, groups: dict[tuple[tuple[str, str], ...], list[Path]], name: str | None = None
) -> None:
    """Mean ± std over each group's runs of scalar ``tag`` by step, one line per group (if any run has
    it), with the legend outside the axes, saved as ``out_dir/name`` (default ``report_<tag>.png``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    drawn = False
    for group, members in groups.items():
        series = [s for s in (scalars(r, tag) for r in members) if len(s[0])]
        if not series:
            continue
        steps = sorted(set.intersection(*(set(s[0].tolist()) for s in series)))
        if not steps:
            continue
        values = np.array([[dict(zip(s[0].tolist(), s[1].tolist(), strict=True))[t] for t in steps] for s in series])
        label = f"{short_label(group)} (n={len(series)})"
        ax.plot(steps, values.mean(0), label=label)
        ax.fill_between(steps, values.mean(0) - values.std(0), values.mean(0) + values.std(0), alpha=0.2)
        drawn = True
    if drawn:
        ax.set_xlabel("step")
        ax.set_ylabel(tag)
        ax.set_title(f"{tag}: mean ± std over seeds", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
        fig.tight_layout()
        fig.savefig(out_dir / (name or f"report_{tag.replace('/', '_')}.png"), dpi=120, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="a Hydra multirun dir, or any dir of runs")
    parser.add_argument("--keys", help="comma-separated metrics.json keys (default: common ones present)")
    parser.add_argument("--curve", action="append", help="TensorBoard tag to plot (repeatable)")
    parser.add_argument("--match", default="*", help="only runs whose dir name matches this glob")
    parser.add_argument(
        "--extra", action="append", help=f"extra per-run JSON file to read (repeatable; default: {DEFAULT_EXTRA})"
    )
    parser.add_argument("--out", type=Path, help="where report.json/.csv/.png go (default: ROOT)")
    args = parser.parse_args()
    keys = tuple(args.keys.split(",")) if args.keys else None
    curves = tuple(args.curve) if args.curve else DEFAULT_CURVES
    report(args.root, keys, curves, args.match, tuple(args.extra) if args.extra else DEFAULT_EXTRA, args.out)


if __name__ == "__main__":
    main()
