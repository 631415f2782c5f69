"""MPC return of a finished reward-MPC run (Reacher, ``agent=cem|mppi``) against the planning horizon.

    python -m eqmbrl.diagnostics.horizon RUN_DIR [--horizons 1 2 4 8 12] [--episodes 5]

Plans with the run's own agent (its planner config and ``agent.*`` settings, its final world
model, no exploration noise) with the planner's horizon replaced by each of ``horizons``, on
fresh episodes (:mod:`eqmbrl.diagnostics.common`), beside the random and zero-torque baselines on
the same episodes. It separates the reward head from the rollouts: if short horizons reach the
goal and long ones do not, multi-step prediction is what fails. At the run's own horizon the
figure is the run's agent's return on these episodes.
"""

from __future__ import annotations

from collections.abc import Sequence

from eqmbrl.collect import baselines, evaluate_agent
from eqmbrl.core.seeds import BASELINES, DIAGNOSTICS_ENV
from eqmbrl.diagnostics.common import (
    fresh_runs,
    mpc_settings,
    open_run,
    parser,
    pixel_env,
    require_model,
    result_path,
    save_result,
)
from eqmbrl.load import TrainedRun
from eqmbrl.online import EpisodeActor, mpc_agent
from eqmbrl.run import build_planner


def return_by_horizon(
    run: TrainedRun, horizons: Sequence[int] = (1, 2, 4, 8, 12), episodes: int = 5, seed: int = DIAGNOSTICS_ENV
) -> dict[str, float]:
    """Noise-free MPC return (module doc) of ``run`` on ``episodes`` fresh episodes (env seeds
    ``seed + i``) for each horizon h: keys ``h<h>`` (mean) and ``h<h>_std``, and the baselines'
    ``random_return`` and ``still_return``."""
    settings = mpc_settings(run, objective="reward")
    model, env = require_model(run), pixel_env(run)
    runs = fresh_runs(episodes, seed=seed)
    out = baselines(env, runs, run.max_steps, run.seed + BASELINES)
    for h in horizons:
        planner = build_planner({**settings.planner, "horizon": int(h)}, env.action_space, run.seed)
        actor = EpisodeActor(mpc_agent(model, planner, settings, run.seed), env, explore=False)
        scores = evaluate_agent(env, actor, runs, run.max_steps)
        out[f"h{h}"], out[f"h{h}_std"] = scores["return"], scores["return_std"]
    return out


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = parser(__doc__)
    p.add_argument("--horizons", type=int, nargs="+", default=[1, 2, 4, 8, 12], help="planning horizons")
    p.add_argument("--episodes", type=int, default=5, help="fresh episodes (default 5)")
    args = p.parse_args(argv)
    out = result_path(args.run_dir, "horizon", args.out)
    with open_run(args) as run:
        return save_result(out, return_by_horizon(run, args.horizons, args.episodes))


if __name__ == "__main__":
    main()
