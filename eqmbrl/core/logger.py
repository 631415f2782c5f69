"""TensorBoard logging with namespaced tags (``wm/``, ``eval/``, ``planner/``, ``train/``).

Besides scalars: image strips, single images, videos (``SummaryWriter.add_video``, which encodes a
GIF with moviepy), text, and the HParams plugin's record of a run (:meth:`Logger.hparams_result`:
the flattened config and the final metrics, written into the run's own event dir so the HParams tab
shows one row per run).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summaries

FINAL = "final/"
"""Tag prefix of the final metrics that the HParams tab shows (one scalar each, at step 0)."""


def rgb_frames(images: np.ndarray) -> np.ndarray:
    """uint8 images ``[N, Ci, Hi, Wi]`` -> ``[N, 3, Hi, Wi]``: the newest frame of a frame stack (Ci a
    multiple of 3), grey (Ci = 1) repeated."""
    if images.shape[1] == 1:
        images = np.repeat(images, 3, axis=1)
    if images.shape[1] % 3:
        raise ValueError(f"images need 1 or a multiple of 3 channels [N, C, H, W], got {list(images.shape)}")
    return images.reshape(images.shape[0], -1, 3, *images.shape[-2:])[:, -1]


def flat_hparams(config: dict[str, Any], prefix: str = "") -> dict[str, float | str]:
    """A nested config as HParams values: keys joined by ``.``; numbers stay numbers, booleans,
    None and lists become strings (``agent.planner.horizon: 2``, ``agent.export: "True"``)."""
    out: dict[str, float | str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flat_hparams(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = value
        else:
            out[name] = str(value)
    return out


class Logger:
    """``record(key, value)`` accumulates, ``dump(step)`` writes the means to TensorBoard.

    :meth:`child` gives a logger into the same event file whose tags start with a prefix, so two
    phases with their own step counts (epochs of pretraining, env steps of an agent) never share a
    tag."""

    def __init__(self, log_dir: str | os.PathLike, prefix: str = "", writer: SummaryWriter | None = None) -> None:
        self.dir, self.prefix = Path(log_dir), prefix
        self.writer = writer if writer is not None else SummaryWriter(str(self.dir))
        self._values: dict[str, list[float]] = {}

    def child(self, prefix: str) -> Logger:
        """A logger sharing this one's writer, with every tag written as ``prefix/tag``."""
        return Logger(self.dir, f"{self.prefix}{prefix}/", self.writer)

    def record(self, key: str, value: float) -> None:
        self._values.setdefault(self.prefix + key, []).append(float(value))

    def record_dict(self, prefix: str, values: dict[str, float]) -> None:
        for k, v in values.items():
            self.record(f"{prefix}/{k}", v)

    def dump(self, step: int) -> dict[str, float]:
        """Write the mean of every recorded key at ``step``; returns what was written."""
        means = {k: float(np.mean(v)) for k, v in self._values.items()}
        for k, v in means.items():
            self.writer.add_scalar(k, v, step)
        self._values.clear()
        self.writer.flush()
        return means

    def images(self, tag: str, images: np.ndarray, step: int = 0) -> None:
        """uint8 images ``[N, C, H, W]`` (C = 3, or a multiple of 3 for stacked frames; C = 1: grey) as one strip."""
        strip = np.concatenate(list(rgb_frames(images)), axis=-1)  # [3, H, N * W]
        self.writer.add_image(self.prefix + tag, torch.from_numpy(strip), step)

    def image(self, tag: str, image: np.ndarray, step: int = 0) -> None:
        """One uint8 RGB image ``[3, H, W]`` (a rendered figure)."""
        self.writer.add_image(self.prefix + tag, torch.from_numpy(np.ascontiguousarray(image)), step)

    def video(self, tag: str, video: np.ndarray, step: int = 0, fps: float = 4) -> None:
        """uint8 videos ``[N, T, 3, H, W]`` as one TensorBoard video (the N side by side, a GIF that
        ``SummaryWriter.add_video`` encodes with moviepy); a missing moviepy is an error, not a print."""
        if video.dtype != np.uint8 or video.ndim != 5 or video.shape[2] != 3:
            raise ValueError(f"a video is uint8 [N, T, 3, H, W], got {video.dtype} {list(video.shape)}")
        try:
            from moviepy import editor  # noqa: F401  (what add_video imports; else it prints and writes nothing)
        except ImportError as err:
            raise ImportError(f"TensorBoard videos need moviepy<2 ({err}): pip install 'moviepy<2'") from err
        self.writer.add_video(self.prefix + tag, torch.from_numpy(video), step, fps=fps)

    def text(self, tag: str, text: str, step: int = 0) -> None:
        self.writer.add_text(self.prefix + tag, text, step)

    def hparams(self, config: dict) -> None:
        """The config as text (``config``), at the start of a run."""
        self.text("config", "```\n" + json.dumps(config, indent=2, default=str) + "\n```")

    def hparams_result(self, config: dict[str, Any], metrics: dict[str, float]) -> None:
        """The run as one row of TensorBoard's HParams tab: ``config`` flattened (:func:`flat_hparams`)
        and every finite metric as the scalar ``final/<name>``. Written into this logger's own event
        dir (``SummaryWriter.add_hparams`` would make a sub-run of its own)."""
        finals = {FINAL + k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
        writer = self.writer._get_file_writer()  # the run's own event file (add_hparams opens another dir)
        for summary in hparams_summaries(flat_hparams(config), finals):
            writer.add_summary(summary)
        for tag, value in finals.items():
            self.writer.add_scalar(tag, value, 0)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
