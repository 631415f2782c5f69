"""Evaluation episodes as videos: recorded observations, the goal beside each frame, a caption band.

:class:`RecordEpisodes` (a gymnasium wrapper) records the next ``n`` episodes of an env: their
observations, rewards, the goal image of goal envs and success. :func:`episode_video` turns one
into frames ``[T+1, 3, H', W']`` uint8: the newest RGB frame of each observation, upscaled, the goal
image beside it for goal tasks, and two lines of text under each frame (the step with its reward or
the return so far; what the agent's model predicted). :func:`log_videos` writes a few episodes as one
TensorBoard video ``eval/video`` (``SummaryWriter.add_video``, a GIF made by moviepy), their
captions as the text ``eval/video_caption``, and optionally GIF or MP4 files (moviepy) into
``videos/`` of the run dir. gymnasium's ``RecordVideo`` records ``env.render()`` frames only, so it
would show neither the goal image nor the model's predictions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from eqmbrl.core.logger import Logger, rgb_frames
from eqmbrl.core.timing import PHASES

FPS = 4
"""Frames per second of the videos (block pushing moves one block per step)."""
MIN_PANEL = 150
"""Frames are upscaled (nearest neighbour, an integer factor) to at least this many pixels wide."""
LINE = 12
"""Pixels per text line under each frame."""
GAP = 4
"""Pixels between the frame and the goal image."""


@dataclass
class Recording:
    """One recorded episode: observations ``frames`` (T+1 of uint8 ``[Ci, Hi, Wi]``), the T
    ``rewards``, the goal image ``[Ci, Hi, Wi]`` of a goal env (else None), the last ``is_success``
    (None if the env reports none), and the reset's ``seed`` and ``options``."""

    frames: list[np.ndarray] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    goal: np.ndarray | None = None
    success: bool | None = None
    seed: int | None = None
    options: dict[str, Any] | None = None


class RecordEpisodes(gym.Wrapper):
    """Records the next ``n`` episodes after :meth:`record` (``recordings``); otherwise a pass-through.

    Put it under any wrapper that changes observations (e.g. :class:`agents.sb3.LatentObservation`)
    so that it records images."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.recordings: list[Recording] = []
        self.remaining = 0
        self.current: Recording | None = None

    def record(self, episodes: int) -> None:
        """Forget earlier recordings and record the next ``episodes`` episodes."""
        self.recordings, self.remaining, self.current = [], episodes, None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.current = None
        if self.remaining > 0:
            self.remaining -= 1
            base = self.env.unwrapped
            goal = getattr(base, "goal_obs", None) if getattr(base, "goal_conditioned", False) else None
            goal = None if goal is None else np.array(goal)
            self.current = Recording([np.array(obs)], [], goal, seed=seed, options=options)
            self.recordings.append(self.current)
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self.current is not None:
            self.current.frames.append(np.array(obs))
            self.current.rewards.append(float(reward))
            if "is_success" in info:
                self.current.success = bool(info["is_success"])
        return obs, reward, terminated, truncated, info


def _hwc(image: np.ndarray, scale: int) -> np.ndarray:
    """RGB ``[3, H, W]`` -> ``[H * scale, W * scale, 3]`` (nearest neighbour)."""
    return np.ascontiguousarray(image.transpose(1, 2, 0).repeat(scale, 0).repeat(scale, 1))


def episode_video(recording: Recording, notes: Sequence[str] | None = None) -> np.ndarray:
    """Frames ``[T+1, 3, H', W']`` uint8 of one recording: each observation's newest RGB frame,
    upscaled to at least :data:`MIN_PANEL` px, the goal image beside it for goal tasks, and under
    it ``t`` with the reward just received (goal tasks: minus the distance to the goal) or the
    return so far, then ``notes[t]`` (what the model predicted) if given."""
    frames = rgb_frames(np.stack(recording.frames))
    width = frames.shape[-1]
    scale = max(1, math.ceil(MIN_PANEL / width))
    goal = None if recording.goal is None else _hwc(rgb_frames(recording.goal[None])[0], scale)
    h, w = frames.shape[-2] * scale, width * scale
    full = w if goal is None else 2 * w + GAP
    font = ImageFont.load_default()
    returns = np.concatenate([[0.0], np.cumsum(recording.rewards)])
    out = np.empty((len(frames), 3, h + 2 * LINE + 2, full), np.uint8)
    for t, frame in enumerate(frames):
        canvas = np.full((h + 2 * LINE + 2, full, 3), 255, np.uint8)
        canvas[:h, :w] = _hwc(frame, scale)
        if goal is not None:
            canvas[:h, w + GAP :] = goal
        image = Image.fromarray(canvas)
        draw = ImageDraw.Draw(image)
        if goal is not None:
            reward = f"reward {recording.rewards[t - 1]:+.2f}" if t else "start"
            draw.text((w + GAP + 2, h + 1), "goal", fill=(0, 0, 0), font=font)
        else:
            reward = f"return {returns[t]:+.2f}"
        draw.text((2, h + 1), f"step {t}: {reward}", fill=(0, 0, 0), font=font)
        if notes is not None and t < len(notes):
            draw.text((2, h + 1 + LINE), notes[t], fill=(0, 0, 160), font=font)
        out[t] = np.asarray(image).transpose(2, 0, 1)
    return out


def stack_videos(videos: Sequence[np.ndarray]) -> np.ndarray:
    """Videos ``[T_i, 3, H, W]`` of one size as ``[N, max T_i, 3, H, W]``, each padded with its last frame."""
    length = max(len(v) for v in videos)
    return np.stack([np.concatenate([v, np.repeat(v[-1:], length - len(v), 0)]) for v in videos])


def write_video(path: Path, video: np.ndarray, fps: float = FPS) -> Path:
    """Write frames ``[T, 3, H, W]`` uint8 as a GIF or MP4 (by ``path``'s suffix) with moviepy; MP4
    frames are padded to even sizes (H.264 needs them). Returns ``path``."""
    from moviepy.video.io.ImageSequenceClip import ImageSequenceClip

    frames = video.transpose(0, 2, 3, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".mp4":
        pad = ((0, 0), (0, frames.shape[1] % 2), (0, frames.shape[2] % 2), (0, 0))
        frames = np.pad(frames, pad, constant_values=255)
        clip = ImageSequenceClip(list(frames), fps=fps)
        clip.write_videofile(str(path), fps=fps, codec="libx264", audio=False, logger=None)
    elif path.suffix == ".gif":
        ImageSequenceClip(list(frames), fps=fps).write_gif(str(path), fps=fps, logger=None)
    else:
        raise ValueError(f"write_video writes .gif or .mp4 files, got {path}")
    return path


@PHASES.timed("figures_videos")
def log_videos(
    logger: Logger,
    recordings: Sequence[Recording],
    step: int,
    notes: Sequence[Sequence[str] | None] | None = None,
    captions: Sequence[str] | None = None,
    out_dir: Path | None = None,
    file_format: str = "none",
) -> np.ndarray:
    """The ``recordings`` as one TensorBoard video ``eval/video`` at ``step`` (:func:`episode_video`
    of each, with ``notes[i]`` under its frames; side by side), ``captions`` (one per episode) as
    the text ``eval/video_caption``, and with ``file_format`` ``gif`` or ``mp4`` one file per
    episode ``out_dir/videos/eval_<step>_<i>.<format>``. Returns the video ``[N, T, 3, H, W]``."""
    if not recordings:
        raise ValueError("log_videos needs at least one recording")
    notes = notes if notes is not None else [None] * len(recordings)
    videos = [episode_video(rec, note) for rec, note in zip(recordings, notes, strict=True)]
    video = stack_videos(videos)
    logger.video("eval/video", video, step, fps=FPS)
    if captions:
        lines = [f"{i + 1}. {caption}" for i, caption in enumerate(captions)]
        logger.text("eval/video_caption", "  \n".join(lines), step)
    if file_format != "none":
        if out_dir is None:
            raise ValueError(f"video_file={file_format} needs the run dir (out_dir)")
        for i, episode in enumerate(videos):
            write_video(out_dir / "videos" / f"eval_{step}_{i}.{file_format}", episode)
    return video


def describe(recording: Recording, predicted: str = "") -> str:
    """One caption line of a recording: its reset, return, success and length, then ``predicted``."""
    start = f"env seed {recording.seed}"
    if recording.options and "goal_distance" in recording.options:
        start += f", goal {recording.options['goal_distance']} moves away"
    success = "" if recording.success is None else f", success {'yes' if recording.success else 'no'}"
    text = f"{start}: return {sum(recording.rewards):.2f}{success} in {len(recording.rewards)} steps"
    return f"{text}; {predicted}" if predicted else text
