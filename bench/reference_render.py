"""Reference renderer of the block-pushing cubes scene with matplotlib ``ax.voxels``.

This follows the method of the original C-SWM code: for every frame a fresh figure with a 3D
axes, a boolean voxel grid (``width x width x (width + 1)``: a thin checkerboard floor layer and
one black-edged cube per object above it), drawn by Agg at a higher resolution and box-filtered
down to ``image_size``. The camera approximates the batched renderer's (orthographic, south-east
of the board, same colours and floor), but the pictures are not pixel-identical: this exists to
time the classic approach, not to define the observations.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from envs.render_blocks import CUBE_AZIMUTH_DEG, CUBE_ELEVATION_DEG, FLOOR_SHADES, OBJECT_COLOURS  # noqa: E402


def render_cubes_reference(state: np.ndarray, width: int = 5, image_size: int = 50, supersample: int = 4) -> np.ndarray:
    """Draw one state int ``[K, 2]`` (row, col) as uint8 ``[3, image_size, image_size]``."""
    state = np.asarray(state)
    if state.ndim != 2 or state.shape[1] != 2 or state.shape[0] > len(OBJECT_COLOURS):
        raise ValueError(f"state must have shape [K<={len(OBJECT_COLOURS)}, 2], got {state.shape}")
    if supersample < 1:
        raise ValueError(f"supersample must be >= 1, got {supersample}")
    filled = np.zeros((width, width, width + 1), dtype=bool)  # z layer 0: a thin floor
    colours = np.empty(filled.shape, dtype=object)
    filled[:, :, 0] = True
    for x in range(width):
        for y in range(width):
            colours[x, y, 0] = np.full(3, FLOOR_SHADES[(x + width - 1 - y) % 2] / 255.0)
    for k, (row, col) in enumerate(state):
        x, y = col, width - 1 - row  # x east, y north: row 0 is the far side
        filled[x, y, 1] = True
        colours[x, y, 1] = OBJECT_COLOURS[k] / 255.0
    corners = np.indices(np.array(filled.shape) + 1).astype(float)
    corners[2] = np.maximum(corners[2] - 1.0, -0.05)  # floor from -0.05 to 0, cubes from 0 to 1
    pixels = image_size * supersample
    fig = plt.figure(figsize=(pixels / 100, pixels / 100), dpi=100, facecolor="black")
    try:
        ax = fig.add_axes((0, 0, 1, 1), projection="3d", facecolor="black")
        ax.set_proj_type("ortho")
        ax.view_init(elev=CUBE_ELEVATION_DEG, azim=-90 + CUBE_AZIMUTH_DEG)
        ax.set_axis_off()
        ax.voxels(*corners, filled, facecolors=colours, edgecolor="k", linewidth=0.3)
        ax.set(xlim=(0, width), ylim=(0, width), zlim=(0, 1))
        ax.set_box_aspect((width, width, 1), zoom=1.1)
        fig.canvas.draw()
        rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(np.float32)
    finally:
        plt.close(fig)
    small = rgb.reshape(image_size, supersample, image_size, supersample, 3).mean(axis=(1, 3))
    return np.rint(small).astype(np.uint8).transpose(2, 0, 1)
