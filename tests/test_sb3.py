"""Tests of the SB3 world-model features extractor: PPO/SAC on block pushing and pixel Reacher,
freezing, invariant features, save/load, checkpoints, clear errors, and the NatureCNN baseline."""

from __future__ import annotations

import copy
import gc
import os

os.environ.setdefault("MUJOCO_GL", "egl")

from collections.abc import Iterator  # noqa: E402
from typing import Any

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from stable_baselines3 import PPO, SAC  # noqa: E402
from stable_baselines3.common.torch_layers import NatureCNN  # noqa: E402
from torch import nn  # noqa: E402

import envs  # noqa: E402,F401  (registers the ids)
from agents.sb3 import LatentObservation, WorldModelExtractor, latent_features, policy_kwargs  # noqa: E402
from eqmbrl.core.checkpoint import save_checkpoint  # noqa: E402
from tests.helpers import REACHER_MODEL, TINY_WIDTHS  # noqa: E402
from worldmodels.persistence import load_world_model, save_world_model  # noqa: E402
from worldmodels.world_model import WorldModel, build_world_model  # noqa: E402

BLOCK_KWARGS: dict[str, Any] = dict(variant="sen", **TINY_WIDTHS)
REACHER_KWARGS: dict[str, Any] = dict(variant="sen", **REACHER_MODEL, **TINY_WIDTHS)
PPO_SMALL: dict[str, Any] = dict(n_steps=64, batch_size=32, n_epochs=1, device="cpu", seed=0)


# --------------------------------------------------------------------------- fixtures and helpers
@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """One torch thread: these nets are tiny, and 2 threads on 2 busy cores ran ~100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def block_env() -> Iterator[gym.Env]:
    env = gym.make("eqmbrl/BlockPushing-cubes-v0")
    yield env
    env.close()


@pytest.fixture(scope="module")
def reacher_env() -> Iterator[gym.Env]:
    env = gym.make("eqmbrl/ReacherFixedGoal-pixels-v0")
    yield env
    env.close()
    del env
    gc.collect()  # a late GL cleanup could blank a later env's frames (test_reacher.py's render tests)


@pytest.fixture(scope="module")
def _block_model() -> WorldModel:
    torch.manual_seed(1)
    return build_world_model(**BLOCK_KWARGS)


@pytest.fixture(scope="module")
def _reacher_model() -> WorldModel:
    torch.manual_seed(2)
    return build_world_model(**REACHER_KWARGS)


@pytest.fixture
def block_model(_block_model: WorldModel) -> WorldModel:
    """A fresh copy per test (built once per module): tests may change its mode or weights."""
    return copy.deepcopy(_block_model)


@pytest.fixture
def reacher_model(_reacher_model: WorldModel) -> WorldModel:
    return copy.deepcopy(_reacher_model)


def params(module: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of ``module``'s parameters by name."""
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def changed(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], prefix: str) -> bool:
    """Whether any parameter whose name starts with ``prefix`` differs between ``a`` and ``b``."""
    return any(not torch.equal(a[k], b[k]) for k in a if k.startswith(prefix))


def wm(extractor: nn.Module) -> WorldModel:
    assert isinstance(extractor, WorldModelExtractor)
    return extractor.world_model


# --------------------------------------------------------------------------- PPO / SAC
@pytest.mark.slow  # SB3 training
@pytest.mark.parametrize("freeze", [True, False])
def test_ppo_block_pushing(block_env: gym.Env, block_model: WorldModel, freeze: bool) -> None:
    algo = PPO(
        "CnnPolicy",
        block_env,
        **PPO_SMALL,
        policy_kwargs=policy_kwargs("worldmodel", world_model=block_model, freeze=freeze),
    )
    extractor = algo.policy.features_extractor
    assert same(params(wm(extractor)), params(block_model))  # ortho_init did not touch them
    pretrained = params(block_model)
    algo.learn(128)
    after = params(wm(extractor))
    assert same(params(block_model), pretrained)  # the extractor tunes its own copy
    if freeze:
        assert same(after, params(block_model)) and not wm(extractor).training
        assert not any(p.requires_grad for p in wm(extractor).parameters())
    else:
        assert changed(after, params(block_model), "embedding.") and changed(after, params(block_model), "encoder.")


@pytest.mark.slow  # SB3 training on MuJoCo frames
def test_ppo_reacher(reacher_env: gym.Env, reacher_model: WorldModel) -> None:
    algo = PPO(
        "CnnPolicy", reacher_env, **PPO_SMALL, policy_kwargs=policy_kwargs("worldmodel", world_model=reacher_model)
    )
    algo.learn(128)
    assert same(params(wm(algo.policy.features_extractor)), params(reacher_model))
    action, _ = algo.predict(reacher_env.observation_space.sample(), deterministic=True)
    assert action.shape == (2,)


@pytest.mark.slow  # SB3 training on MuJoCo frames
@pytest.mark.parametrize("share, freeze", [(True, True), (False, False)])
def test_sac_reacher(reacher_env: gym.Env, reacher_model: WorldModel, share: bool, freeze: bool) -> None:
    kwargs = policy_kwargs(
        "worldmodel", "sac", policy={"share_features_extractor": share}, world_model=reacher_model, freeze=freeze
    )
    algo = SAC(
        "CnnPolicy",
        reacher_env,
        buffer_size=256,
        learning_starts=64,
        batch_size=16,
        train_freq=16,
        gradient_steps=2,
        device="cpu",
        seed=0,
        policy_kwargs=kwargs,
    )
    actor, critic = algo.policy.actor.features_extractor, algo.policy.critic.features_extractor
    assert (actor is critic) == share
    algo.learn(128)
    before = params(reacher_model)
    for extractor in (actor, critic):
        assert same(params(wm(extractor)), before) == freeze


# --------------------------------------------------------------------------- modes and features
def test_tuned_extractor_sees_weight_updates_in_eval_mode(block_env: gym.Env, block_model: WorldModel) -> None:
    """A fine-tuned extractor keeps escnn layers uncached, so e.g. a Polyak-updated target sees new weights."""
    extractor = WorldModelExtractor(block_env.observation_space, world_model=block_model, freeze=False).eval()
    obs = torch.rand(2, *block_env.observation_space.shape)
    y0 = extractor(obs)
    with torch.no_grad():
        for p in wm(extractor).encoder.parameters():
            p.add_(0.1)
    assert not torch.allclose(extractor(obs), y0)
    assert wm(extractor).embedding.training is False  # BatchNorm follows SB3's mode


@pytest.mark.parametrize("pool", ["max", "mean"])
@pytest.mark.parametrize("case", ["block", "reacher"])
def test_invariant_features(case: str, pool: str, request: pytest.FixtureRequest) -> None:
    env: gym.Env = request.getfixturevalue(f"{case}_env")
    model: WorldModel = request.getfixturevalue(f"{case}_model")
    extractor = WorldModelExtractor(env.observation_space, world_model=model, invariant=True, pool=pool)
    plain = WorldModelExtractor(env.observation_space, world_model=model)
    K, C, G = model.slots, model.latent_type.size, model.group.order
    assert (extractor.features_dim, plain.features_dim) == (K * C // G, K * C)
    z = torch.randn(4, K, C)
    for g in model.group.elements:
        gz = model.act_latent(g, z)
        torch.testing.assert_close(extractor.features(gz), extractor.features(z))
        if g:
            assert not torch.allclose(plain.features(gz), plain.features(z))
    obs = torch.rand(3, *env.observation_space.shape)
    assert extractor(obs).shape == (3, extractor.features_dim)


def test_normalized_features_by_hand() -> None:
    z = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # [B=1, K=2, C=2]: mean 2.5, variance 1.25
    want = (torch.tensor([[1.0, 2.0, 3.0, 4.0]]) - 2.5) / (1.25 + 1e-5) ** 0.5
    torch.testing.assert_close(latent_features(z, normalize=True), want)
    big = latent_features(1000 * torch.randn(5, 2, 8), normalize=True)  # bounded whatever the scale
    torch.testing.assert_close(big.norm(dim=1), torch.full((5,), 16**0.5), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", ["block", "reacher"])
def test_normalized_features_stay_equivariant(case: str, request: pytest.FixtureRequest) -> None:
    """Layer norm commutes with the channel permutations of regular fields, under every group element."""
    model: WorldModel = request.getfixturevalue(f"{case}_model")
    K, C, G = model.slots, model.latent_type.size, model.group.order
    z = torch.randn(4, K, C)
    norm = latent_features(z, normalize=True).view(4, K, C)
    for g in model.group.elements:
        gz = model.act_latent(g, z)
        torch.testing.assert_close(
            latent_features(gz, normalize=True).view(4, K, C), model.act_latent(g, norm), atol=1e-4, rtol=0
        )
        pooled = latent_features(gz, G, "max", normalize=True)
        torch.testing.assert_close(pooled, latent_features(z, G, "max", normalize=True), atol=1e-4, rtol=0)


@pytest.mark.parametrize("fixed", [False, True])
def test_fixed_batchnorm_keeps_running_statistics(reacher_env: gym.Env, reacher_model: WorldModel, fixed: bool) -> None:
    """Fine-tuning with ``fixed_batchnorm``: BatchNorm stays in eval mode (its statistics are not
    updated by train-mode forwards), the rest follows SB3's mode, and the weights still get gradients."""
    extractor = WorldModelExtractor(
        reacher_env.observation_space, world_model=reacher_model, freeze=False, fixed_batchnorm=fixed
    ).train()
    norms = [m for m in wm(extractor).modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(m.training != fixed for m in norms) and wm(extractor).training
    before = [m.running_mean.clone() for m in norms]
    extractor(torch.rand(4, *reacher_env.observation_space.shape)).square().sum().backward()
    assert all(torch.equal(m.running_mean, b) for m, b in zip(norms, before)) == fixed
    assert all(p.grad is not None for p in wm(extractor).embedding.parameters())


def test_latent_observation_normalizes(reacher_env: gym.Env, reacher_model: WorldModel) -> None:
    """The normalised features are the plain ones minus their mean, over sqrt(variance + 1e-5)
    (layer norm's eps, which matters here: the small test model's latents vary by ~1e-3)."""
    obs = LatentObservation(reacher_env, reacher_model, normalize=True).reset(seed=0)[0]
    raw = LatentObservation(reacher_env, reacher_model).reset(seed=0)[0].astype(np.float64)
    expected = (raw - raw.mean()) / np.sqrt(raw.var() + 1e-5)
    assert obs.shape == raw.shape and np.allclose(obs, expected, atol=1e-4)
    assert abs(obs.mean()) < 1e-5


def test_latent_features_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown pool 'sum'"):
        latent_features(torch.zeros(1, 1, 8), 4, "sum")
    with pytest.raises(ValueError, match="not a multiple of the fibre size 3"):
        latent_features(torch.zeros(1, 1, 8), 3, "max")


def test_extractor_copies_a_model_in_eval_mode(block_env: gym.Env, block_model: WorldModel) -> None:
    """escnn's eval-mode filter caches are non-leaf tensors that plain ``copy.deepcopy`` refuses."""
    extractor = WorldModelExtractor(block_env.observation_space, world_model=block_model.eval())
    assert all(b.is_leaf for b in extractor.buffers())
    clone = copy.deepcopy(extractor)
    assert same(params(wm(clone)), params(block_model))


# --------------------------------------------------------------------------- save / load
@pytest.mark.slow  # SB3 training
@pytest.mark.parametrize("freeze", [True, False])
def test_sb3_save_load_round_trip(block_env: gym.Env, block_model: WorldModel, tmp_path: Any, freeze: bool) -> None:
    algo = PPO(
        "CnnPolicy",
        block_env,
        **PPO_SMALL,
        policy_kwargs=policy_kwargs("worldmodel", world_model=block_model, freeze=freeze),
    )
    algo.learn(64)
    obs = np.stack([block_env.observation_space.sample() for _ in range(3)])
    algo.predict(obs, deterministic=True)  # leaves the policy in eval mode
    algo.save(tmp_path / "ppo.zip")
    loaded = PPO.load(tmp_path / "ppo.zip", device="cpu")
    assert same(params(wm(loaded.policy.features_extractor)), params(wm(algo.policy.features_extractor)))
    assert same(params(wm(loaded.policy.features_extractor)), params(block_model)) == freeze
    for policy in (algo.policy, loaded.policy):
        policy.set_training_mode(False)
    x, _ = algo.policy.obs_to_tensor(obs)
    with torch.no_grad():
        logits = [p.get_distribution(x).distribution.logits for p in (algo.policy, loaded.policy)]
    torch.testing.assert_close(logits[0], logits[1])
    np.testing.assert_array_equal(algo.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])


def test_extractor_from_checkpoint(block_env: gym.Env, block_model: WorldModel, tmp_path: Any) -> None:
    path = tmp_path / "wm.pt"
    save_world_model(path, block_model.eval(), epoch=3)
    extractor = WorldModelExtractor(block_env.observation_space, checkpoint=str(path))
    assert same(params(wm(extractor)), params(block_model))
    assert wm(extractor).build_kwargs == block_model.build_kwargs and block_model.build_kwargs["hidden"] == 16
    algo = PPO("CnnPolicy", block_env, **PPO_SMALL, policy_kwargs=policy_kwargs("worldmodel", checkpoint=str(path)))
    assert same(params(wm(algo.policy.features_extractor)), params(block_model))
    obs = torch.rand(2, *block_env.observation_space.shape)
    with torch.no_grad():
        torch.testing.assert_close(extractor(obs), block_model.eval().encode(obs).flatten(1))


def test_trainer_style_checkpoint_needs_model_kwargs(
    block_env: gym.Env, block_model: WorldModel, tmp_path: Any
) -> None:
    """A plain save_checkpoint file (without model_kwargs) loads when they are given."""
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, block_model.train(), epoch=1)
    block_model.eval()
    with pytest.raises(ValueError, match="stores no 'model_kwargs'"):
        load_world_model(path)
    model = load_world_model(path, BLOCK_KWARGS)
    assert same(params(model), params(block_model)) and not model.training
    WorldModelExtractor(block_env.observation_space, checkpoint=path, model_kwargs=BLOCK_KWARGS)


def test_checkpoint_errors(block_env: gym.Env, block_model: WorldModel, tmp_path: Any) -> None:
    space = block_env.observation_space
    with pytest.raises(FileNotFoundError, match="does not exist"):
        WorldModelExtractor(space, checkpoint=tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt"):
        WorldModelExtractor(space, checkpoint=tmp_path / "bad.pt")
    save_world_model(tmp_path / "wm.pt", block_model)
    with pytest.raises(ValueError, match="does not fit the model built from"):
        WorldModelExtractor(space, checkpoint=tmp_path / "wm.pt", model_kwargs={**BLOCK_KWARGS, "latent": 16})
    with pytest.raises(ValueError, match=r"keys \['latnet'\] that build_world_model does not take"):
        load_world_model(tmp_path / "wm.pt", {"latnet": 16})
    with pytest.raises(ValueError, match="exactly one of world_model"):
        WorldModelExtractor(space)
    with pytest.raises(ValueError, match="exactly one of world_model"):
        WorldModelExtractor(space, world_model=block_model, checkpoint=tmp_path / "wm.pt")


def test_observation_space_mismatch(block_model: WorldModel, reacher_env: gym.Env, tmp_path: Any) -> None:
    reacher_space = reacher_env.observation_space
    msg = r"observation space \(6, 64, 64\) does not match the world model's input \(3, 50, 50\)"
    with pytest.raises(ValueError, match=msg):
        WorldModelExtractor(reacher_space, world_model=block_model)
    save_world_model(tmp_path / "wm.pt", block_model)
    with pytest.raises(ValueError, match=msg):
        WorldModelExtractor(reacher_space, checkpoint=tmp_path / "wm.pt")
    with pytest.raises(ValueError, match=r"\(3, 52, 52\) does not match"):  # 52 // 5 == 50 // 5: no conv error
        WorldModelExtractor(gym.spaces.Box(0, 255, (3, 52, 52), np.uint8), world_model=block_model)
    with pytest.raises(ValueError, match="needs image observations"):
        WorldModelExtractor(gym.spaces.Box(0, 1, (8,)), world_model=block_model)


# --------------------------------------------------------------------------- policy_kwargs
def test_ortho_init_would_overwrite_pretrained_weights(block_env: gym.Env, block_model: WorldModel) -> None:
    kwargs = {**policy_kwargs("worldmodel", world_model=block_model), "ortho_init": True}
    algo = PPO("CnnPolicy", block_env, **PPO_SMALL, policy_kwargs=kwargs)
    assert not same(params(wm(algo.policy.features_extractor)), params(block_model))
    with pytest.raises(ValueError, match="ortho_init=True would re-initialise"):
        policy_kwargs("worldmodel", policy={"ortho_init": True}, world_model=block_model)


def test_policy_kwargs_choices() -> None:
    assert "ortho_init" not in policy_kwargs("worldmodel", "sac", checkpoint="x.pt")
    assert "ortho_init" not in policy_kwargs("nature_cnn")
    with pytest.raises(ValueError, match="unknown features 'resnet'; allowed: worldmodel, nature_cnn"):
        policy_kwargs("resnet")
    assert policy_kwargs("worldmodel", "a2c", checkpoint="x.pt")["ortho_init"] is False
    with pytest.raises(ValueError, match="unknown pool 'median'"):
        WorldModelExtractor(gym.spaces.Box(0, 255, (3, 50, 50), np.uint8), checkpoint="x.pt", pool="median")


@pytest.mark.slow  # SB3 training
@pytest.mark.parametrize("env_name", ["block", "reacher"])
def test_nature_cnn_baseline(env_name: str, request: pytest.FixtureRequest) -> None:
    env: gym.Env = request.getfixturevalue(f"{env_name}_env")
    algo = PPO("CnnPolicy", env, **PPO_SMALL, policy_kwargs=policy_kwargs("natural_cnn", features_dim=32))
    assert isinstance(algo.policy.features_extractor, NatureCNN)
    before = params(algo.policy.features_extractor)
    algo.learn(128)
    assert algo.num_timesteps == 128 and not same(params(algo.policy.features_extractor), before)
