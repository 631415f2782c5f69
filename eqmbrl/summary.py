"""The few lines a run ends with: what the agent achieved beside its baselines, the world model's
key numbers with what a good value is, and where the logs and files are (``metrics.json`` has all)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

WORLD_MODEL_KEYS = (  # (metric, label, how it is printed): the two or three numbers that matter
    ("hits@1/10step", "hits@1 after 10 steps", "{:.1f}"),
    ("successor_acc", "successor accuracy", "{:.1f}%"),
    ("ee", "equivariance error EE", "{:.3f}"),
    ("reward_head_r2", "reward head R2", "{:.2f}"),
)


COLLAPSED = 50.0  # percent of collapsed latents above which the ranking scores mean nothing
LOW_SUCCESSOR = 25.0  # successor accuracy (percent) below which plans on the model reach little


def health_warnings(metrics: dict[str, float]) -> dict[str, str]:
    """Why the world model's headline scores cannot be trusted, by ``warning/...`` key (empty: none):
    collapsed latents (SEN's ranking, ``ties_hit/``, reads 100; ours 0) or successor accuracy so low
    that its predicted next states are mostly ones the env never reaches."""
    out: dict[str, str] = {}
    collapsed = metrics.get("collapsed_latents", 0.0)
    if collapsed > COLLAPSED:
        hits = metrics.get("hits@1/1step", float("nan"))
        out["warning/collapsed"] = (
            f"{collapsed:.0f}% of latents collapsed (hits@1 {hits:.0f}, ties as misses; SEN's tie-as-hit "
            "ranking, ties_hit/, reads 100): the model tells states apart poorly; lower trainer.lr or check the data"
        )
    successor = metrics.get("successor_acc")
    if successor is not None and successor < LOW_SUCCESSOR:
        out["warning/successor_acc"] = (
            f"successor accuracy {successor:.0f}%: most predicted next states are not ones the env reaches, "
            "so plans on this model reach little; train longer (trainer.epochs, trainer.patience)"
        )
    return out


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def agent_lines(metrics: dict[str, float], episodes: int, goal_distances: Sequence[int] | None) -> list[str]:
    """The agent's score beside the baselines (keys of :func:`eqmbrl.collect.baselines`), on the same
    ``episodes`` evaluation episodes (per goal distance for goal tasks)."""
    if "success" in metrics:
        distances = list(goal_distances or [])
        per = "  ".join(f"d{d} {_pct(metrics[f'success_d{d}'])}" for d in distances if f"success_d{d}" in metrics)
        lines = [
            f"Agent on {episodes * len(distances)} fresh goals {min(distances)}-{max(distances)} moves away "
            "(success = every object on its goal cell):",
            f"  agent            {_pct(metrics['success'])}   {per}",
        ]
        if "random_success" in metrics:
            lines.append(f"  random actions   {_pct(metrics['random_success'])}")
        if "still_success" in metrics:
            lines.append(f"  doing nothing    {_pct(metrics['still_success'])}")
        return lines
    lines = [f"Agent on {episodes} fresh episodes (mean return, higher is better):"]
    lines.append(f"  agent            {metrics['return']:8.2f} +- {metrics.get('return_std', float('nan')):.2f}")
    if "random_return" in metrics:
        lines.append(f"  random actions   {metrics['random_return']:8.2f}")
    if "still_return" in metrics:
        lines.append(f"  zero actions     {metrics['still_return']:8.2f}")
    return lines


def world_model_line(metrics: dict[str, float]) -> str:
    """The world model's key numbers on the held-out evaluation episodes."""
    parts = [label + " " + fmt.format(metrics[key]) for key, label, fmt in WORLD_MODEL_KEYS if key in metrics]
    return "  " + ",  ".join(parts)


def summary(
    metrics: dict[str, float],
    title: str,
    out: Path,
    episodes: int | None = None,
    goal_distances: Sequence[int] | None = None,
) -> str:
    """The end-of-run summary of ``metrics`` (``episodes`` is None for a world-model-only run)."""
    lines = [f"== {title} =="]
    if episodes is not None and "return" in metrics:
        lines += agent_lines(metrics, episodes, goal_distances)
    lines.append("World model on held-out episodes (good: hits@1 and successor accuracy near 100, EE near 0):")
    lines.append(world_model_line(metrics))
    lines += [f"  WARNING: {text}" for text in health_warnings(metrics).values()]
    lines.append(f"Files: {out}  (metrics.json has every metric; checkpoint.pt, buffer.npz)")
    lines.append(f"TensorBoard: tensorboard --logdir {out / 'tb'}")
    return "\n".join(lines)
