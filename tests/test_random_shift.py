"""DrQ's random shift (``agent.random_shift``): crops of the border-repeated image, only in training mode."""

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from stable_baselines3.common.torch_layers import NatureCNN

from agents.random_shift import random_shift
from agents.sb3 import ShiftedNatureCNN, WorldModelExtractor
from eqmbrl.settings import SB3Settings
from tests.helpers import REACHER_MODEL, TINY_WIDTHS
from worldmodels.world_model import build_world_model


def test_each_image_is_a_crop_of_its_padded_self_at_every_offset_once_in_a_while() -> None:
    x = torch.rand(400, 3, 9, 11)
    gen = torch.Generator().manual_seed(0)
    y = random_shift(x, 2, gen)
    padded = F.pad(x, (2, 2, 2, 2), mode="replicate")
    offsets = set()
    for b in range(len(x)):
        found = [(i, j) for i in range(5) for j in range(5) if torch.equal(y[b], padded[b, :, i : i + 9, j : j + 11])]
        assert found, f"image {b} is no crop of its padded self"
        offsets.add(found[0])
    assert len(offsets) == 25  # every offset in [-2, 2]^2 is drawn
    assert random_shift(x, 0) is x
    with pytest.raises(ValueError, match="pad must be >= 0"):
        random_shift(x, -1)


def test_nature_cnn_shifts_only_in_training_mode_and_is_sb3s_without_shift() -> None:
    space = gym.spaces.Box(0, 255, (3, 36, 36), np.uint8)
    torch.manual_seed(0)
    shifted = ShiftedNatureCNN(space, features_dim=16, shift=4)
    torch.manual_seed(0)
    plain = NatureCNN(space, features_dim=16)
    x = torch.rand(6, 3, 36, 36)
    shifted.eval()
    assert torch.equal(shifted(x), plain(x))  # acting: no shift
    shifted.train()
    torch.manual_seed(1)
    assert not torch.allclose(shifted(x), plain(x))
    with pytest.raises(ValueError, match="shift must be >= 0 pixels"):
        ShiftedNatureCNN(space, shift=-2)


def test_random_shift_refuses_cached_latents() -> None:
    with pytest.raises(ValueError, match="set agent.cache_latents=false"):
        SB3Settings(random_shift=4)
    assert SB3Settings(random_shift=4, cache_latents=False).random_shift == 4
    assert SB3Settings(random_shift=4, features="nature_cnn").random_shift == 4


def test_world_model_extractor_shifts_only_in_training_mode() -> None:
    torch.manual_seed(0)
    model = build_world_model(**{**REACHER_MODEL, **TINY_WIDTHS})
    space = gym.spaces.Box(0, 255, (6, 64, 64), np.uint8)
    plain = WorldModelExtractor(space, world_model=model)
    shifted = WorldModelExtractor(space, world_model=model, shift=4)
    x = torch.rand(4, 6, 64, 64)
    shifted.eval()
    assert torch.allclose(shifted(x), plain(x))
    shifted.train()
    torch.manual_seed(3)
    got = shifted(x)
    torch.manual_seed(3)
    assert torch.allclose(got, plain(random_shift(x, 4)))  # the same draws: the batch was shifted
    assert not torch.allclose(got, plain(x))
