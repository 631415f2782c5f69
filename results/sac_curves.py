"""SAC evaluation curves of ``agent=sac`` runs, finished or not: one PNG and a markdown table.

    .venv/bin/python results/sac_curves.py RUN_DIR [RUN_DIR ...] --out results/sac_reacher_100k.png
        [--reference -9.0 | --reference-run NATURECNN_RUN_DIR] [--at 1000 2000 ...]

Reads each run's ``curve.json`` (a finished run) or ``sb3_progress.json`` (saved after every
evaluation, so a run stopped by the clock still has its curve), labels it by ``worldmodel`` /
``agent.features`` and ``seed`` from its ``.hydra/config.yaml``, plots evaluation return against
env steps, and prints per run: the last step reached, the first and last evaluation, the best, the
mean of the last 3 evaluations and, with ``--reference R``, the first env step whose evaluation
return is >= R. ``--reference-run RUN`` takes R from a run instead (its final return, as the mean
of its last 3 evaluations), adds that run to the plot, and reports the ratio of its steps to reach R
to each run's (issue #12's ratio against NatureCNN-SAC: 3.0 means three times fewer env steps).
``--at S ...`` adds a table of each run's evaluation return at those env steps, and of the mean ±
population std over the seeds of each variant (runs whose labels differ only in the seed).
``--tags TAG ...`` (with ``--at``) adds, per run, those TensorBoard scalars (e.g.
``train/actor_loss``) at the logged step nearest each of those env steps, blank where the run
has not yet logged that far (beyond its last logged step by more than its median logging interval).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from eqmbrl.report import summarize  # noqa: E402


def curve(run: Path) -> tuple[list[int], list[float]]:
    """``(env steps, evaluation returns)`` of a run (finished or saved mid-way)."""
    if (run / "curve.json").is_file():
        data = json.loads((run / "curve.json").read_text())
        return [int(s) for s in data["steps"]], [float(r) for r in data["return"]]
    pairs = json.loads((run / "sb3_progress.json").read_text())["curve"]
    return [int(s) for s, _ in pairs], [float(r) for _, r in pairs]


def mean_last3(returns: list[float]) -> float:
    """The mean of the last (up to) 3 evaluation returns."""
    return sum(returns[-3:]) / len(returns[-3:])


def first_reaching(steps: list[int], returns: list[float], threshold: float) -> int | None:
    """The first env step whose evaluation return is >= ``threshold`` (None if never)."""
    return next((s for s, r in zip(steps, returns) if r >= threshold), None)


def label(run: Path) -> str:
    """``features (seed N)``: the world-model variant, or ``nature_cnn``; SAC networks other than
    SB3's default, fewer than one gradient step per env step, layer-normalised features and a
    fixed BatchNorm are named too."""
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    features = cfg.worldmodel.variant if cfg.agent.features == "worldmodel" else cfg.agent.features
    frozen = "" if cfg.agent.features != "worldmodel" else (" frozen" if cfg.agent.freeze else " fine-tuned")
    policy, algo = cfg.agent.get("policy") or {}, cfg.agent.get("algo_kwargs") or {}
    extra = "".join(
        [f", net {list(policy['net_arch'])}" if "net_arch" in policy else ""]
        + [f", train_freq {algo['train_freq']}" if "train_freq" in algo else ""]
        + [", layer-norm features" if cfg.agent.get("normalize_features") else ""]
        + [", fixed BatchNorm" if cfg.agent.get("fixed_batchnorm") and not cfg.agent.freeze else ""]
    )
    return f"{features}{frozen}{extra} (seed {cfg.seed})"


def returns_at(curves: list[tuple[str, list[int], list[float]]], at: list[int]) -> str:
    """Markdown: each ``(label, steps, returns)`` curve's evaluation return at the env steps ``at``
    (blank where it has none), then the mean ± population std over the seeds of each variant
    (:func:`eqmbrl.report.summarize`), at the steps all its seeds reached."""
    head = "| run | " + " | ".join(f"{s}" for s in at) + " |\n|---|" + "---:|" * len(at)
    rows, groups = [head], {}
    for name, steps, returns in curves:
        by_step = dict(zip(steps, returns))
        rows.append(f"| {name} | " + " | ".join(f"{by_step[s]:.2f}" if s in by_step else "" for s in at) + " |")
        groups.setdefault(re.sub(r" \(seed \d+\)$", "", name), []).append(by_step)
    for variant, seeds in groups.items():
        cells = []
        for s in at:
            stats = summarize([seed[s] for seed in seeds if s in seed])
            cells.append(f"{stats['mean']:.2f} ± {stats['std']:.2f}" if stats["n"] == len(seeds) else "")
        rows.append(f"| **{variant}, {len(seeds)} seeds** | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def scalars_at(run: Path, tag: str, at: list[int]) -> list[float | None]:
    """TensorBoard scalar ``tag`` of ``run`` (all event files in its ``tb/``) at the logged step
    nearest each of ``at``; None where the run never logged it, or stopped logging it before that
    step (more than the median interval between its logged steps before it)."""
    points: dict[int, float] = {}
    for f in sorted((run / "tb").glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(f), size_guidance={"scalars": 0})
        acc.Reload()
        if tag in acc.Tags()["scalars"]:
            points.update((e.step, e.value) for e in acc.Scalars(tag))
    if not points:
        return [None] * len(at)
    steps = sorted(points)
    gap = statistics.median(b - a for a, b in zip(steps, steps[1:])) if len(steps) > 1 else 0
    return [points[min(steps, key=lambda p: (abs(p - s), p))] if s <= steps[-1] + gap else None for s in at]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    ref = parser.add_mutually_exclusive_group()
    ref.add_argument("--reference", type=float, help="report the first env step reaching this return")
    ref.add_argument("--reference-run", type=Path, help="reference return and steps from this run (mean of last 3)")
    parser.add_argument("--at", type=int, nargs="+", help="also tabulate the returns at these env steps")
    parser.add_argument("--tags", nargs="+", default=[], help="with --at: TensorBoard scalars at those steps")
    args = parser.parse_args()
    if args.tags and not args.at:
        parser.error("--tags needs --at (the env steps to read them at)")
    runs, threshold, ref_steps = list(args.runs), args.reference, None
    if args.reference_run is not None:
        steps, returns = curve(args.reference_run)
        threshold = mean_last3(returns)
        ref_steps = first_reaching(steps, returns, threshold)
        runs = [args.reference_run, *(r for r in runs if r.resolve() != args.reference_run.resolve())]
        print(f"reference: {label(args.reference_run)}, mean of last 3 evals {threshold:.2f}, reached at {ref_steps}")
    fig, ax = plt.subplots(figsize=(6, 4))
    head = "| run | env steps | first eval | last eval | best | mean of last 3 |"
    rule = "|---|---:|---:|---:|---:|---:|"
    if threshold is not None:
        head, rule = head + f" steps to reach {threshold:.2f} |", rule + "---:|"
    if ref_steps is not None:
        head, rule = head + " reference steps / steps |", rule + "---:|"
    print(head + "\n" + rule)
    curves = []
    for run in runs:
        steps, returns = curve(run)
        name = label(run)
        curves.append((name, steps, returns))
        ax.plot(steps, returns, marker=".", label=name)
        row = f"| {name} | {steps[-1]} | {returns[0]:.2f} | {returns[-1]:.2f} | {max(returns):.2f} |"
        row += f" {mean_last3(returns):.2f} |"
        if threshold is not None:
            reached = first_reaching(steps, returns, threshold)
            row += f" {reached if reached is not None else 'not reached'} |"
            if ref_steps is not None:
                row += f" {ref_steps / reached:.1f} |" if reached else " – |"
        print(row)
    if threshold is not None:
        ax.axhline(threshold, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("env steps")
    ax.set_ylabel("evaluation return (5 fixed episodes)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    if args.at:
        print("\n" + returns_at(curves, args.at))
    for tag in args.tags:
        print(f"\n| {tag} | " + " | ".join(str(s) for s in args.at) + " |\n|---|" + "---:|" * len(args.at))
        for run, (name, _, _) in zip(runs, curves):
            values = scalars_at(run, tag, args.at)
            print(f"| {name} | " + " | ".join("" if v is None else f"{v:.4g}" for v in values) + " |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
