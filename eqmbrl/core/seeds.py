"""Every seed offset of a run in one place, so that no two streams of randomness coincide, and the
one helper that saves and restores every process-wide RNG.

A run with ``seed=s`` uses env seeds ``s, s+1, ...`` for its training episodes and the offsets
below for everything else. Agent evaluation uses the *absolute* seeds ``EVAL_ENV + i`` (the same
in every run, so agents are compared on the same episodes).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

EVAL_DATA_AGENT = 1  # random agent of the world-model evaluation episodes (s + 1)
EVAL_DATA_ENV = 10_000_000  # env seeds of the world-model evaluation episodes (s + 1e7 + i)
EVAL_ENV = 20_000_000  # env seeds of agent evaluation episodes (absolute: 2e7 + i)
ONLINE_ENV = 30_000_000  # env seeds of online MPC episodes (s + 3e7 + episode)
ONLINE_RNG = 1  # the online loop's own choices, e.g. goal distances (s + 1)
BASELINES = 2  # random-policy baseline agent (s + 2)
VAL_DATA_AGENT = 3  # random agent of the validation episodes (s + 3)
VAL_DATA_ENV = 40_000_000  # env seeds of the world-model validation episodes (s + 4e7 + i)
FRESH_ENV = 50_000_000  # eqmbrl.evaluate's fresh episodes: 5e7 + 1e5 * s + 1000 * d + i (goal distance d, else 0)
SB3_ENV = 80_000_000  # env seeds of SB3's training episodes (s + 8e7 + episode, envs.seeded.SeededEpisodes)
DIAGNOSTICS_ENV = 90_000_000  # eqmbrl.diagnostics' fresh episodes and their random agent (absolute: 9e7 + i)


def global_rng_state() -> dict[str, Any]:
    """Every process-wide RNG state: python's ``random``, numpy's global, torch's CPU and, when CUDA is
    present, every CUDA device's. Objects with their own generators save those in their ``state_dict``."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_global_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`global_rng_state` (the CUDA states only where CUDA is present and they were saved)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global RNG and torch (every device)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
