"""Shared fixtures: deterministic seeds and quiet third-party warnings."""

import os
import warnings

import numpy as np
import pytest
import torch

os.environ.setdefault("MUJOCO_GL", "egl")
warnings.filterwarnings("ignore")
torch.set_num_threads(1)  # small ops on 2 busy cores are far slower with 2 threads


@pytest.fixture(autouse=True)
def _seed() -> None:
    np.random.seed(0)
    torch.manual_seed(0)
