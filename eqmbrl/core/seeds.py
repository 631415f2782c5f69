"""Every seed offset of a run in one place, so that no two streams of randomness coincide.

A run with ``seed=s`` uses env seeds ``s, s+1, ...`` for its training episodes and the offsets
below for everything else. Agent evaluation uses the *absolute* seeds ``EVAL_ENV + i`` (the same
in every run, so agents are compared on the same episodes).
"""

from __future__ import annotations

EVAL_DATA_AGENT = 1  # random agent of the world-model evaluation episodes (s + 1)
EVAL_DATA_ENV = 10_000_000  # env seeds of the world-model evaluation episodes (s + 1e7 + i)
EVAL_ENV = 20_000_000  # env seeds of agent evaluation episodes (absolute: 2e7 + i)
ONLINE_ENV = 30_000_000  # env seeds of online MPC episodes (s + 3e7 + episode)
ONLINE_RNG = 1  # the online loop's own choices, e.g. goal distances (s + 1)
BASELINES = 2  # random-policy baseline agent (s + 2)
VAL_DATA_AGENT = 3  # random agent of the validation episodes (s + 3)
VAL_DATA_ENV = 40_000_000  # env seeds of the world-model validation episodes (s + 4e7 + i)
