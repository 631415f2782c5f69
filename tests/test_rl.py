"""``agent=ppo|sac``: SB3 on world-model features end to end on tiny configs, swaps and errors."""

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO, SAC
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import envs  # noqa: F401  (registers the eqmbrl/ ids)
from agents.sb3 import LatentObservation, WorldModelExtractor
from eqmbrl.core.checkpoint import committed_save, load_checkpoint
from tests.helpers import run_in_process
from worldmodels.persistence import load_world_model

PPO_TINY = (
    "agent=ppo",
    "agent.total_steps=64",
    "agent.eval_every=32",
    "agent.eval_episodes=1",
    "agent.algo_kwargs.n_steps=32",
    "agent.algo_kwargs.batch_size=16",
    "+agent.algo_kwargs.n_epochs=1",
)
SAC_TINY = (
    "agent=sac",
    "env=reacher",
    "agent.total_steps=60",
    "agent.eval_every=30",
    "agent.eval_episodes=1",
    "agent.algo_kwargs.learning_starts=20",
    "agent.algo_kwargs.batch_size=8",
)


def _tags(out: Path) -> set[str]:
    """Scalar tags of every event file in the run's tb/ (ours and SB3's)."""
    tags: set[str] = set()
    for f in (out / "tb").glob("events.out.tfevents.*"):
        acc = EventAccumulator(str(f))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    return tags


def _ok(tmp_path: Path, *overrides: str, name: str = "run") -> tuple[Path, dict]:
    out = tmp_path / name
    return out, run_in_process(out, "experiment=debug", *overrides)


@pytest.mark.slow  # SB3 end to end
def test_ppo_on_pretrained_sen_features(tmp_path: Path) -> None:
    out, metrics = _ok(tmp_path, *PPO_TINY, "agent.cache_latents=false")  # the frozen extractor inside the policy
    assert (out / "buffer.npz").is_file() and "pretrain/hits@1/1step" in metrics  # pretraining ran
    curve = json.loads((out / "curve.json").read_text())
    assert curve["steps"] == [32, 64] and len(curve["return"]) == 2
    assert {"eval/return", "eval/random_return", "train/value_loss", "pretrain/wm/loss"} <= _tags(out)
    algo = PPO.load(out / "sb3_model.zip")  # SB3 round trip: the frozen world model's weights come back
    saved = load_checkpoint(out / "world_model.pt")["model"]
    extractor = algo.policy.features_extractor
    assert isinstance(extractor, WorldModelExtractor) and extractor.freeze
    extractor.world_model.train()
    for k, v in extractor.world_model.state_dict().items():
        assert torch.equal(v, saved[k]), k


@pytest.mark.slow  # SB3 and MuJoCo end to end
@pytest.mark.parametrize("stable", [False, True])
def test_sac_with_fine_tuning_and_auxiliary_loss(tmp_path: Path, stable: bool) -> None:
    """``stable``: layer-normalised features and BatchNorm kept on its running statistics."""
    flags = ("agent.normalize_features=true", "agent.fixed_batchnorm=true") if stable else ()
    out, metrics = _ok(
        tmp_path,
        *SAC_TINY,
        "agent.freeze=false",
        "agent.aux_weight=1.0",
        "agent.aux_batch_size=16",
        "worldmodel=none",
        *flags,
    )
    assert {"aux/loss", "eval/return", "eval/hits@1/1step", "train/critic_loss"} <= _tags(out)
    assert "hits@1/1step" in metrics and "still_return" in metrics  # metrics of the trained world model
    algo = SAC.load(out / "sb3_model.zip")
    extractor = algo.policy.critic.features_extractor
    assert (extractor.normalize, extractor.fixed_batchnorm) == (stable, stable)
    tuned = extractor.world_model.train().state_dict()
    start = load_checkpoint(out / "world_model.pt")["model"]
    assert any(not torch.equal(tuned[k], start[k]) for k in start)  # the RL and auxiliary losses trained it
    stats = [k for k in start if k.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.equal(tuned[k], start[k]) for k in stats) == stable
    save = committed_save(out, "sb3")  # the resume state after the last evaluation (step 60)
    assert save is not None
    resumable = SAC.load(save.path("model.zip"))
    resumable.load_replay_buffer(save.path("replay.pkl"))
    assert resumable.num_timesteps == 60 and resumable.replay_buffer.size() == 60


@pytest.mark.slow  # SB3 and MuJoCo end to end
def test_nature_cnn_baseline_skips_the_world_model(tmp_path: Path) -> None:
    out, metrics = _ok(tmp_path, *SAC_TINY, "agent.features=natural_cnn", "agent.random_shift=4")  # DrQ
    assert not (out / "buffer.npz").exists() and not (out / "world_model.pt").exists()
    assert "return" in metrics and not any(k.startswith("pretrain/") for k in metrics)


@pytest.mark.slow  # SB3 end to end
def test_checkpoint_replaces_pretraining(tmp_path: Path) -> None:
    first, _ = _ok(tmp_path, "trainer.epochs=1", name="first")
    out, metrics = _ok(tmp_path, *PPO_TINY, f"agent.checkpoint={first / 'checkpoint.pt'}")
    assert not (out / "buffer.npz").exists() and not any(k.startswith("pretrain/") for k in metrics)
    want, got = (load_checkpoint(p)["model"] for p in (first / "checkpoint.pt", out / "world_model.pt"))
    assert all(torch.equal(want[k], got[k]) for k in want)


@pytest.mark.parametrize(
    "overrides,error,expected",
    [
        (("agent=sac",), ValueError, "SAC needs continuous actions"),
        (
            ("agent=ppo", "agent.features=resnet"),
            ValueError,
            "unknown agent.features 'resnet'; allowed: worldmodel, nature_cnn",
        ),
        (("agent=sac", "env=reacher", "agent.aux_weight=1.0"), ValueError, "use features=worldmodel with freeze=false"),
        (
            ("agent=ppo", "agent.checkpoint=/nonexistent/checkpoint.pt"),
            FileNotFoundError,
            "agent.checkpoint /nonexistent",
        ),
        (("agent=ppo", "agent.total_steps=0"), ValueError, "agent.total_steps must be >= 1, got 0"),
        (("agent=ppo", "agent.algo=a2c"), ValueError, "unknown agent.algo 'a2c'; allowed: ppo, sac, dqn"),
    ],
)
def test_sb3_config_errors(tmp_path: Path, overrides: tuple[str, ...], error: type[Exception], expected: str) -> None:
    with pytest.raises(error, match=expected):
        run_in_process(tmp_path, "experiment=debug", *overrides)
    assert not (tmp_path / "buffer.npz").exists()


@pytest.mark.slow  # SB3 and MuJoCo end to end
def test_frozen_features_are_cached_latents(tmp_path: Path) -> None:
    """Frozen world model, default ``cache_latents``: the env yields latent features (encoded once),
    SAC's networks are MLPs and its replay buffer holds features, not images."""
    out, metrics = _ok(tmp_path, *SAC_TINY)
    assert "return" in metrics and "pretrain/hits@1/1step" in metrics
    algo = SAC.load(out / "sb3_model.zip")
    model = load_world_model(out / "world_model.pt")
    dim = model.slots * model.latent_type.size
    assert algo.observation_space.shape == (dim,) and not any(
        isinstance(m, WorldModelExtractor) for m in algo.policy.modules()
    )
    save = committed_save(out, "sb3")
    assert save is not None
    algo.load_replay_buffer(save.path("replay.pkl"))
    assert algo.replay_buffer.observations.shape[-1] == dim
    raw, env = gym.make("eqmbrl/Reacher-pixels-v0"), LatentObservation(gym.make("eqmbrl/Reacher-pixels-v0"), model)
    image, obs = raw.reset(seed=0)[0], env.reset(seed=0)[0]
    with torch.no_grad():
        expected = model.encode(torch.as_tensor(image[None]).float() / 255).flatten(1)[0].numpy()
    np.testing.assert_allclose(obs, expected, atol=1e-5)  # each observation is the encoded image
    raw.close(), env.close()
