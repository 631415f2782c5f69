"""Seeing what the agent does (issue 41): episode videos, the imagined plan, HParams of a run."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO, SAC
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

import envs  # noqa: F401  (registers the eqmbrl/ gymnasium ids)
from agents.mpc import MPCAgent
from agents.planners import DiscreteSearch
from agents.random_agent import RandomAgent
from eqmbrl.collect import eval_runs, evaluate_agent
from eqmbrl.core.logger import Logger, flat_hparams
from eqmbrl.imagined import encode_images, imagined_plan, imagined_plan_figure, nearest_frames
from eqmbrl.rl import PolicyAgent, critic_value
from eqmbrl.run import compose_config, settings_of
from eqmbrl.video import LINE, MIN_PANEL, RecordEpisodes, Recording, episode_video, log_videos, stack_videos
from tests.helpers import TINY_WIDTHS, run_in_process
from worldmodels.world_model import build_world_model

SHAPES_MODEL = dict(group="C4", action_encoding="directions", in_channels=3, image_size=50, slots=5, **TINY_WIDTHS)
ONLINE_TINY = (
    "experiment=debug",
    "env=shapes_goal",
    "agent.episodes=1",
    "agent.eval_episodes=1",
    "agent.goal_distances=[1]",
    "agent.refit_every=0",
    "agent.planner.horizon=1",
)


def _events(out: Path) -> list[EventAccumulator]:
    accs = [EventAccumulator(str(p), size_guidance={"images": 0, "tensors": 0}) for p in out.glob("events.*")]
    return [acc.Reload() for acc in accs]


def _recording(channels: int = 3, steps: int = 4, goal: bool = True) -> Recording:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (channels, 50, 50), dtype=np.uint8) for _ in range(steps + 1)]
    goal_image = rng.integers(0, 255, (channels, 50, 50), dtype=np.uint8) if goal else None
    return Recording(frames, [-0.4] * steps, goal_image, True, seed=3, options={"goal_distance": 2})


@pytest.mark.parametrize("channels,goal", [(3, True), (3, False), (6, False), (1, True)])
def test_episode_video_frames(channels: int, goal: bool) -> None:
    rec = _recording(channels, goal=goal)
    video = episode_video(rec, [f"model {t}" for t in range(5)])
    width = MIN_PANEL * 2 + 4 if goal else MIN_PANEL  # 50 px frames upscaled 3x, the goal beside
    assert video.dtype == np.uint8 and video.shape == (5, 3, MIN_PANEL + 2 * LINE + 2, width)
    newest = rec.frames[2][-3:] if channels > 1 else np.repeat(rec.frames[2], 3, 0)
    assert np.array_equal(video[2, :, :MIN_PANEL:3, :MIN_PANEL:3], newest)  # the frame itself, upscaled
    if goal:
        goal_image = rec.goal[-3:] if channels > 1 else np.repeat(rec.goal, 3, 0)
        assert np.array_equal(video[0, :, :MIN_PANEL:3, MIN_PANEL + 4 :: 3], goal_image)
    assert (video[:, :, MIN_PANEL:] < 255).any()  # text under the frames
    padded = stack_videos([video, video[:2]])
    assert padded.shape == (2, *video.shape) and np.array_equal(padded[1, 4], video[1])


def test_videos_are_written_to_tensorboard_and_files(tmp_path: Path) -> None:
    logger = Logger(tmp_path / "tb")
    recs = [_recording(), _recording(steps=2)]
    video = log_videos(logger, recs, 7, [None, None], ["first", "second"], tmp_path, "gif")
    logger.close()
    assert video.dtype == np.uint8 and video.shape[:3] == (2, 5, 3)
    (acc,) = _events(tmp_path / "tb")
    (image,) = acc.Images("eval/video")
    assert image.step == 7 and image.encoded_image_string[:6] == b"GIF89a"
    assert (image.width, image.height) == (2 * video.shape[-1], video.shape[-2])  # the two side by side
    caption = acc.Tensors("eval/video_caption/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "1. first" in caption and "2. second" in caption
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == ["eval_7_0.gif", "eval_7_1.gif"]
    mp4 = log_videos(Logger(tmp_path / "tb2"), recs[:1], 0, out_dir=tmp_path / "mp4", file_format="mp4")
    assert mp4.shape[0] == 1 and (tmp_path / "mp4" / "videos" / "eval_0_0.mp4").stat().st_size > 0


def test_record_episodes_records_only_when_armed() -> None:
    env = RecordEpisodes(gym.make("eqmbrl/BlockPushingGoal-shapes-v0"))
    runs = eval_runs(2, [1])
    evaluate_agent(env, RandomAgent(env.action_space, 0), runs, 5)
    assert env.recordings == []
    env.record(1)
    evaluate_agent(env, RandomAgent(env.action_space, 0), runs, 5)
    (rec,) = env.recordings
    assert len(rec.frames) == len(rec.rewards) + 1 and 1 <= len(rec.rewards) <= 5
    assert rec.goal is not None and rec.goal.shape == (3, 50, 50) and rec.seed == runs[0][0]
    assert rec.success is not None


def test_video_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="agent.video_episodes must be >= 0"):
        settings_of(compose_config("agent.video_episodes=-1"))
    with pytest.raises(ValueError, match="agent.video_file"):
        settings_of(compose_config("agent=ppo", "agent.video_file=avi"))


def test_nearest_frames_on_hand_made_latents() -> None:
    model = build_world_model(**SHAPES_MODEL)
    bank = torch.zeros(6, 5, model.latent_type.size)
    bank[:, 0, 0] = torch.arange(6.0) * 10  # frame i sits at 10 i along one axis
    latents = torch.zeros(3, 5, model.latent_type.size)
    latents[:, 0, 0] = torch.tensor([41.0, 2.0, 19.0])  # nearest: 4, 0, 2
    index, energy = nearest_frames(model, latents, bank)
    assert index.tolist() == [4, 0, 2]
    # squared distance / 2 sigma^2, mean over the 5 slots
    expected = torch.tensor([1.0, 4.0, 1.0]) / 5 / (2 * model.sigma**2)
    torch.testing.assert_close(energy, expected)


def test_imagined_plan_finds_the_known_frames_and_leaves_the_agent_as_it_was() -> None:
    model = build_world_model(**SHAPES_MODEL)
    env = gym.make("eqmbrl/BlockPushingGoal-shapes-v0")
    agent = MPCAgent(model, DiscreteSearch(horizon=2, num_actions=20), objective="goal", export=False)
    obs, _ = env.reset(seed=5, options={"goal_distance": 2})
    agent.set_goal(env.unwrapped.goal_obs)
    before = agent.state_dict()
    bank_obs = np.random.default_rng(0).integers(0, 255, (8, 3, 50, 50), dtype=np.uint8)
    first = imagined_plan(model, agent, env, bank_obs, seed=5, options={"goal_distance": 2})
    assert first.actions.shape == (2,) and first.imagined.shape == (3, 5, model.latent_type.size)
    assert len(first.real) == 3 and np.array_equal(first.real[0], obs)
    torch.testing.assert_close(first.real_energy[0], torch.tensor(0.0))  # the start is encoded as itself
    # a bank whose latents hold the imagined ones at rows 6, 1, 3: those are the nearest, at energy 0
    bank_latents = encode_images(model, bank_obs).clone()
    bank_latents[[6, 1, 3]] = first.imagined
    again = imagined_plan(model, agent, env, bank_obs, seed=5, options={"goal_distance": 2}, bank_latents=bank_latents)
    assert torch.equal(again.actions, first.actions)  # the agent's planner state was restored
    assert again.nearest.tolist() == [6, 1, 3] and again.nearest_energy.abs().max() < 1e-5
    after = agent.state_dict()
    assert torch.equal(after["planner"]["generator"], before["planner"]["generator"])
    figure = imagined_plan_figure(model, agent, env, bank_obs, seed=5, options={"goal_distance": 2})
    assert figure.dtype == np.uint8 and figure.ndim == 3 and figure.shape[0] == 3 and figure.shape[2] > 300


def test_hparams_result_is_one_row_in_the_runs_own_dir(tmp_path: Path) -> None:
    logger = Logger(tmp_path)
    config = {"seed": 0, "agent": {"planner": {"horizon": 2}, "export": True, "goal_distances": [1, 2]}}
    logger.hparams_result(config, {"success": 0.5, "nan": float("nan")})
    logger.close()
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == []  # no sub-run as add_hparams makes
    assert flat_hparams(config) == {
        "seed": 0,
        "agent.planner.horizon": 2,
        "agent.export": "True",
        "agent.goal_distances": "[1, 2]",
    }
    (acc,) = _events(tmp_path)
    content = acc.PluginTagToContent("hparams")
    start = HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["agent.planner.horizon"].number_value == 2
    experiment = HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert [m.name.tag for m in experiment.metric_infos] == ["final/success"]
    assert acc.Scalars("final/success")[0].value == 0.5


@pytest.mark.parametrize("off", [False, True])
def test_online_run_writes_video_imagined_plan_and_hparams(tmp_path: Path, off: bool) -> None:
    switches = ("agent.video_episodes=0", "agent.imagined_plan=false") if off else ("agent.video_file=gif",)
    metrics = run_in_process(tmp_path, *ONLINE_TINY, *switches)
    (acc,) = _events(tmp_path / "tb")
    images = set(acc.Tags()["images"])
    assert "eval/episode" in images  # the strip stays
    assert ("eval/video" in images, "eval/imagined" in images) == (not off, not off)
    assert (tmp_path / "videos").is_dir() == (not off)
    start = HParamsPluginData.FromString(acc.PluginTagToContent("hparams")["_hparams_/session_start_info"])
    assert start.session_start_info.hparams["env.id"].string_value == "eqmbrl/BlockPushingGoal-shapes-v0"
    assert acc.Scalars("final/success")[0].value == pytest.approx(metrics["success"])
    if not off:
        (video,) = acc.Images("eval/video")
        assert video.encoded_image_string[:6] == b"GIF89a" and video.width == 2 * MIN_PANEL + 4


def test_policy_agent_keeps_the_critics_values_of_its_first_episodes() -> None:
    ppo = PPO("MlpPolicy", gym.make("CartPole-v1"), n_steps=16, batch_size=16, seed=0, device="cpu")
    sac = SAC("MlpPolicy", gym.make("Pendulum-v1"), buffer_size=100, seed=0, device="cpu")
    for algo, obs in ((ppo, np.zeros(4, np.float32)), (sac, np.zeros(3, np.float32))):
        assert np.isfinite(critic_value(algo, obs))
        agent = PolicyAgent(algo, value_episodes=1)
        for _ in range(2):
            agent.reset()
            agent.act(obs)
            agent.act(obs)
        assert len(agent.values) == 1 and len(agent.values[0]) == 2


def test_sb3_run_writes_videos_with_the_critics_values(tmp_path: Path) -> None:
    ppo_tiny = ("agent.total_steps=64", "agent.eval_every=32", "agent.eval_episodes=1")
    ppo_tiny += ("agent.algo_kwargs.n_steps=32", "agent.algo_kwargs.batch_size=16", "+agent.algo_kwargs.n_epochs=1")
    run_in_process(tmp_path, "experiment=debug", "agent=ppo", *ppo_tiny, "agent.video_file=mp4")
    accs = [acc for acc in _events(tmp_path / "tb") if "eval/video" in acc.Tags()["images"]]
    (acc,) = accs  # ours, beside SB3's own event file
    assert [image.step for image in acc.Images("eval/video")] == [32, 64]
    caption = acc.Tensors("eval/video_caption/text_summary")[-1].tensor_proto.string_val[0].decode()
    assert "critic's value at the start" in caption
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == ["eval_32_0.mp4", "eval_64_0.mp4"]
