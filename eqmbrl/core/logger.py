"""TensorBoard logging with namespaced tags (``wm/``, ``eval/``, ``planner/``, ``train/``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter


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
        if images.shape[1] == 1:
            images = np.repeat(images, 3, axis=1)
        frames = images.reshape(images.shape[0], -1, 3, *images.shape[-2:])[:, -1]  # last frame of a stack
        strip = np.concatenate(list(frames), axis=-1)  # [3, H, N * W]
        self.writer.add_image(self.prefix + tag, torch.from_numpy(strip), step)

    def text(self, tag: str, text: str, step: int = 0) -> None:
        self.writer.add_text(self.prefix + tag, text, step)

    def hparams(self, config: dict) -> None:
        self.text("config", "```\n" + json.dumps(config, indent=2, default=str) + "\n```")

    def close(self) -> None:
        self.writer.close()
