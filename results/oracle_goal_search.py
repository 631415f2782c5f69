"""Goal search with the env's true dynamics as the scorer: which objective and tie rule stall.

    .venv/bin/python results/oracle_goal_search.py

For horizons 1-3 and goals 1-3 moves away (40 each, env seeds 1000..1039), closed-loop search for
at most 10 steps, scored by tests/test_planners.oracle_scorer (squared cell distance to the goal
after each step, reduced by the goal objective). Compares the ``best``-step and ``discounted``
objectives, with ties broken at random (DiscreteSearch) or by enumeration order (the old rule).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from agents.planners import DiscreteSearch  # noqa: E402
from envs.block_pushing import BlockPushingEnv  # noqa: E402
from tests.test_planners import oracle_scorer  # noqa: E402


class FirstTie(DiscreteSearch):
    """The old tie rule: the first maximum in enumeration order."""

    def random_argmax(self, values):  # type: ignore[no-untyped-def]
        return int(values.argmax())


def main() -> None:
    env = BlockPushingEnv(goal_conditioned=True, render_style="shapes", image_size=25)
    print("| objective | ties | horizon | reached d=1 | d=2 | d=3 |\n|---|---|---:|---:|---:|---:|")
    for reduce in ("best", "discounted"):
        for name, cls in (("enumeration order", FirstTie), ("random", DiscreteSearch)):
            for horizon in (1, 2, 3):
                reached = []
                for d in (1, 2, 3):
                    ok = 0
                    for seed in range(1000, 1040):
                        env.reset(seed=seed, options={"goal_distance": d})
                        planner = cls(horizon, 20, seed=seed)
                        for _ in range(10):
                            scorer = oracle_scorer(env.get_state(), env.goal_state, reduce)
                            if env.step(int(planner.plan(scorer)[0]))[2]:
                                break
                        ok += int(np.array_equal(env.get_state(), env.goal_state))
                    reached.append(f"{ok}/40")
                print(f"| {reduce} | {name} | {horizon} | " + " | ".join(reached) + " |", flush=True)


if __name__ == "__main__":
    main()
