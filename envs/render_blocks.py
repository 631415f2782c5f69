"""Batched numpy renderers of block-pushing states: 2D ``shapes`` and isometric 3D ``cubes``.

A state is an int array ``[K, 2]`` of grid cells ``(row, col)`` on a ``width x width`` board;
a batch ``[B, K, 2]`` renders to ``uint8 [B, 3, H, W]`` (channel-first, ``H = W = image_size``).

Both styles are drawn by one compositor from a precomputed :class:`SpriteAtlas`. The scene is
built so that every object's sprite is the *same* pixel set for every cell, only shifted by an
integer offset: object ``k`` is a list of flat pixel offsets (channel included) and colours, each
cell an anchor offset. Rendering a batch is then a background copy plus, for each of the ``K``
paint ranks, one vectorised scatter of ``B x S`` bytes (``S`` = sprite pixels x 3 channels).

``cubes`` uses a fixed oblique orthographic camera standing south-east of the board and above it
(north = row 0 at the back). Projected unit steps are rounded to whole pixels so the sprites tile
exactly; cubes are painted far to near (by ``row * width + col``), which is a valid painter's
order because the camera sees the south and east faces. Rotating a state is therefore not a
rotation of its image.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from eqmbrl.core.choices import check_choice

RENDER_STYLES = ("cubes", "shapes")
OBJECT_COLOURS = np.array(
    [
        [230, 40, 40],
        [40, 200, 60],
        [50, 100, 245],
        [245, 210, 30],
        [200, 60, 220],
        [30, 210, 220],
        [255, 140, 20],
        [240, 240, 240],
    ],
    dtype=np.uint8,
)
SHAPE_NAMES = ("circle", "triangle", "square", "cross", "diamond", "triangle_down", "ring", "bar")
MAX_OBJECTS = len(OBJECT_COLOURS)
FACE_SHADES = (1.0, 0.72, 0.5)  # top, south (front) and east faces of a cube
CUBE_AZIMUTH_DEG = 22.0  # camera turned from due south towards east
CUBE_ELEVATION_DEG = 52.0  # camera angle above the ground plane
FLOOR_SHADES = (34, 48)  # checkerboard greys of the board under the cubes
DECODE_PIXELS = 6  # pixels per object that decode_states compares
CHUNK = 256  # samples painted per inner block (keeps frames and index buffers in cache)


@dataclass(frozen=True)
class SpriteAtlas:
    """Precomputed drawing data of one ``(style, width, num_objects, image_size)`` scene.

    background: uint8 ``[3 * H * W]`` flat CHW frame without objects.
    offsets: int64 ``[K, S]`` flat CHW offsets of object k's sprite pixels from its cell anchor.
    values: uint8 ``[K, S]`` the colours written at those offsets.
    cell_anchor: int64 ``[width * width]`` flat offset of each cell (index ``row * width + col``).
    depth_sorted: whether sprites may overlap, so objects must be painted far to near.
    """

    image_size: int
    width: int
    background: np.ndarray
    offsets: np.ndarray
    values: np.ndarray
    cell_anchor: np.ndarray
    depth_sorted: bool


def validate_scene(style: str, width: int, num_objects: int, image_size: int) -> None:
    """Raise ``ValueError`` naming the bad value if the scene parameters are not renderable."""
    check_choice("render_style", style, RENDER_STYLES)
    if not 2 <= width <= 16:
        raise ValueError(f"width must be in 2..16, got {width}")
    if not 1 <= num_objects <= min(MAX_OBJECTS, width * width):
        raise ValueError(
            f"num_objects must be in 1..{min(MAX_OBJECTS, width * width)} for width {width}, got {num_objects}"
        )
    if image_size < 5 * width or image_size > 1024:
        raise ValueError(f"image_size must be in {5 * width}..1024 for width {width}, got {image_size}")


def _flat_sprite(
    masks: list[np.ndarray], colours: list[np.ndarray], anchor: tuple[int, int], size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Flat CHW offsets ``[S]`` and values ``[S]`` of layered masks (later masks on top).

    masks: bool ``[size, size]`` each; colours: uint8 ``[3]`` each; anchor: (y, x) pixel that
    offsets are taken relative to.
    """
    label = np.full((size, size), -1, dtype=np.int64)
    for i, mask in enumerate(masks):
        label[mask] = i
    ys, xs = np.nonzero(label >= 0)
    palette = np.stack(colours).astype(np.uint8)  # [len(masks), 3]
    rel = (ys - anchor[0]) * size + (xs - anchor[1])
    offsets = np.concatenate([rel + ch * size * size for ch in range(3)])
    values = np.concatenate([palette[label[ys, xs], ch] for ch in range(3)])
    return offsets, values


def _pad_rows(rows: list[np.ndarray]) -> np.ndarray:
    """Stack 1-D arrays of different lengths ``[S_k]`` to ``[K, max S_k]`` by repeating each last entry.

    Writing a duplicated (offset, value) pair twice is harmless, so padding needs no mask.
    """
    length = max(len(r) for r in rows)
    return np.stack([np.concatenate([r, np.repeat(r[-1:], length - len(r))]) for r in rows])


def _shape_mask(name: str, cell: int) -> np.ndarray:
    """bool ``[cell, cell]`` mask of a named shape filling most of a square cell."""
    centre = (np.arange(cell) + 0.5) / cell * 2.0 - 1.0  # pixel centres in [-1, 1]
    y, x = np.meshgrid(centre, centre, indexing="ij")
    half = 0.8
    masks = {
        "circle": x**2 + y**2 <= half**2,
        "triangle": (y <= half) & (y >= -half) & (np.abs(x) <= (y + half) / 2.0),
        "square": (np.abs(x) <= half * 0.85) & (np.abs(y) <= half * 0.85),
        "cross": ((np.abs(x) <= half * 0.35) | (np.abs(y) <= half * 0.35)) & (np.abs(x) <= half) & (np.abs(y) <= half),
        "diamond": np.abs(x) + np.abs(y) <= half * 1.1,
        "triangle_down": (y <= half) & (y >= -half) & (np.abs(x) <= (half - y) / 2.0),
        "ring": (x**2 + y**2 <= half**2) & (x**2 + y**2 >= (half * 0.5) ** 2),
        "bar": (np.abs(x) <= half) & (np.abs(y) <= half * 0.4),
    }
    return masks[name]


def make_shapes_atlas(width: int, num_objects: int, image_size: int) -> SpriteAtlas:
    """Atlas of the 2D style: black background, object k a coloured ``SHAPE_NAMES[k]`` in its cell.

    Cells are ``image_size // width`` pixels; the board is centred (a small black margin when
    ``image_size`` is not a multiple of ``width``).
    """
    validate_scene("shapes", width, num_objects, image_size)
    cell = image_size // width
    margin = (image_size - cell * width) // 2
    offsets, values = [], []
    for k in range(num_objects):
        mask = np.zeros((image_size, image_size), dtype=bool)
        mask[:cell, :cell] = _shape_mask(SHAPE_NAMES[k], cell)
        off, val = _flat_sprite([mask], [OBJECT_COLOURS[k]], (0, 0), image_size)
        offsets.append(off)
        values.append(val)
    rows, cols = np.divmod(np.arange(width * width), width)
    anchor = (margin + rows * cell) * image_size + margin + cols * cell
    return SpriteAtlas(
        image_size,
        width,
        np.zeros(3 * image_size**2, dtype=np.uint8),
        _pad_rows(offsets),
        _pad_rows(values),
        anchor.astype(np.int64),
        False,
    )


def _parallelogram(size: int, origin: np.ndarray, e1: np.ndarray, e2: np.ndarray, closed: bool = False) -> np.ndarray:
    """bool ``[size, size]``: pixel centres ``origin + a*e1 + b*e2`` with ``a, b in [0, 1)``.

    origin, e1, e2: float ``[2]`` screen vectors ``(x, y)`` with y pointing down. Half-open
    parallelograms translated by whole edges tile the plane; ``closed`` takes ``a, b in [0, 1]``
    so that faces sharing an edge leave no gap between them.
    """
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    det = e1[0] * e2[1] - e1[1] * e2[0]
    if det == 0:
        return np.zeros((size, size), dtype=bool)
    px, py = xs - origin[0], ys - origin[1]
    a = (px * e2[1] - py * e2[0]) / det
    b = (e1[0] * py - e1[1] * px) / det
    eps = 1e-9
    top = 1 + eps if closed else 1 - eps
    return (a >= -eps) & (a < top) & (b >= -eps) & (b < top)


def cube_camera(width: int, image_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Integer screen geometry of the cubes scene: ``(origin, u, v, w)``, each int ``[2]`` (x, y).

    A unit step east (col + 1) moves ``u`` pixels, south (row + 1) ``v``, up ``w``; the north-west
    ground corner of cell (0, 0) is at ``origin``. The scale is the largest whose board and cubes
    fit inside the frame with a one-pixel margin, the scene centred.
    """
    az, el = np.radians(CUBE_AZIMUTH_DEG), np.radians(CUBE_ELEVATION_DEG)
    for scale in np.arange(2.0 * image_size / width, 0.5, -0.05):
        u = np.rint(scale * np.array([np.cos(az), np.sin(az) * np.sin(el)])).astype(np.int64)
        v = np.rint(scale * np.array([-np.sin(az), np.cos(az) * np.sin(el)])).astype(np.int64)
        w = np.array([0, -max(1, int(np.rint(scale * np.cos(el))))], dtype=np.int64)
        corners = np.array([i * width * u + j * width * v + h * w for i in (0, 1) for j in (0, 1) for h in (0, 1)])
        low, high = corners.min(axis=0), corners.max(axis=0)
        if np.all(high - low <= image_size - 2) and u[0] >= 1 and v[1] >= 1:
            origin = (image_size - (high - low)) // 2 - low
            return origin, u, v, w
    raise ValueError(f"image_size {image_size} is too small for a {width}x{width} cubes board")


def make_cubes_atlas(width: int, num_objects: int, image_size: int) -> SpriteAtlas:
    """Atlas of the 3D style: a checkerboard floor and object k a cube shaded in its colour.

    Each cube shows its top (full colour), south and east faces (darker, see ``FACE_SHADES``).
    """
    validate_scene("cubes", width, num_objects, image_size)
    origin, u, v, w = cube_camera(width, image_size)
    size = image_size
    background = np.zeros((size, size, 3), dtype=np.uint8)
    for r in range(width):
        for c in range(width):
            ground = _parallelogram(size, origin + c * u + r * v, u, v)
            background[ground] = FLOOR_SHADES[(r + c) % 2]
    faces = [
        _parallelogram(size, origin + v, u, w, True),
        _parallelogram(size, origin + u, v, w, True),
        _parallelogram(size, origin + w, u, v, True),
    ]  # south, east, top of the cube at (0, 0)
    face_order = (1, 2, 0)  # shade index of each face in `faces`
    offsets, values = [], []
    for k in range(num_objects):
        colours = [(OBJECT_COLOURS[k] * FACE_SHADES[i]).astype(np.uint8) for i in face_order]
        off, val = _flat_sprite(faces, colours, (int(origin[1]), int(origin[0])), size)
        offsets.append(off)
        values.append(val)
    rows, cols = np.divmod(np.arange(width * width), width)
    anchor_xy = origin[None, :] + cols[:, None] * u[None, :] + rows[:, None] * v[None, :]
    anchor = anchor_xy[:, 1] * size + anchor_xy[:, 0]
    return SpriteAtlas(
        image_size,
        width,
        np.ascontiguousarray(background.transpose(2, 0, 1)).ravel(),
        _pad_rows(offsets),
        _pad_rows(values),
        anchor.astype(np.int64),
        True,
    )


@functools.lru_cache(maxsize=32)
def get_atlas(style: str, width: int, num_objects: int, image_size: int) -> SpriteAtlas:
    """Cached, read-only atlas of a scene (built once per parameter tuple, a few milliseconds)."""
    validate_scene(style, width, num_objects, image_size)
    maker = make_cubes_atlas if style == "cubes" else make_shapes_atlas
    atlas = maker(width, num_objects, image_size)
    for array in (atlas.background, atlas.offsets, atlas.values, atlas.cell_anchor):
        array.flags.writeable = False
    return atlas


def _paint(atlas: SpriteAtlas, states: np.ndarray, out: np.ndarray) -> None:
    """Draw ``states`` int ``[n, K, 2]`` into ``out`` uint8 ``[n, 3 * H * W]`` (C-contiguous).

    Works through ``CHUNK`` samples at a time with reused index buffers, so the scattered-to
    frames and the ``[chunk, S]`` index block stay in cache.
    """
    batch, num_objects = states.shape[:2]
    frame, span = atlas.background.size, atlas.offsets.shape[1]
    cells = states[..., 0].astype(np.int64) * atlas.width + states[..., 1]  # [n, K]
    if atlas.depth_sorted:
        paint_order = np.argsort(cells, axis=1)  # far (small row, col) to near
        cells = np.take_along_axis(cells, paint_order, axis=1)
    else:
        paint_order = np.broadcast_to(np.arange(num_objects), cells.shape)
    base = atlas.cell_anchor[cells]  # [n, K] flat anchor of each painted object in its frame
    size = min(CHUNK, batch)
    index, values = np.empty((size, span), np.int64), np.empty((size, span), np.uint8)
    row_start = (np.arange(size, dtype=np.int64) * frame)[:, None]
    for start in range(0, batch, CHUNK):
        stop = min(start + CHUNK, batch)
        block = out[start:stop]
        block[:] = atlas.background
        flat, n = block.reshape(-1), stop - start
        for j in range(num_objects):
            objects = paint_order[start:stop, j]
            np.take(atlas.offsets, objects, axis=0, out=index[:n], mode="clip")
            index[:n] += row_start[:n] + base[start:stop, j, None]
            np.take(atlas.values, objects, axis=0, out=values[:n], mode="clip")
            flat[index[:n]] = values[:n]


def composite(atlas: SpriteAtlas, states: np.ndarray, num_threads: int = 1) -> np.ndarray:
    """Render ``states`` int ``[B, K, 2]`` (row, col) with ``atlas`` to uint8 ``[B, 3, H, W]``.

    ``num_threads > 1`` splits a large batch over a thread pool (numpy releases the GIL while
    scattering); results are identical for any thread count.
    """
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    batch = states.shape[0]
    out = np.empty((batch, atlas.background.size), dtype=np.uint8)
    parts = min(num_threads, max(1, batch // CHUNK))
    if parts == 1:
        _paint(atlas, states, out)
    else:
        bounds = np.linspace(0, batch, parts + 1).astype(int)
        with ThreadPoolExecutor(parts) as pool:
            jobs = [pool.submit(_paint, atlas, states[a:b], out[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
            for job in jobs:
                job.result()
    return out.reshape(batch, 3, atlas.image_size, atlas.image_size)


def render_states(
    states: np.ndarray, style: str = "cubes", width: int = 5, image_size: int = 50, num_threads: int = 1
) -> np.ndarray:
    """Render int ``[B, K, 2]`` states to uint8 ``[B, 3, H, W]``.

    Each state must hold distinct cells ``(row, col)`` in ``0..width-1`` (not checked for
    distinctness here; overlapping objects are drawn on top of each other).
    """
    states = np.asarray(states)
    if states.ndim != 3 or states.shape[2] != 2:
        raise ValueError(f"states must have shape [B, K, 2], got {states.shape}")
    if states.size and (states.min() < 0 or states.max() >= width):
        raise ValueError(f"state cells must lie in 0..{width - 1}, got values {states.min()}..{states.max()}")
    return composite(get_atlas(style, width, states.shape[1], image_size), states, num_threads)


def decode_states(
    images: np.ndarray, num_objects: int, style: str = "cubes", width: int = 5, image_size: int = 50
) -> np.ndarray:
    """The states int ``[B, K, 2]`` whose renders are ``images`` uint8 ``[B, 3, H, W]`` (the inverse of
    :func:`render_states` on its images). Object k's cell is the one where most of k's sprite pixels
    (its own colours) show; sprites drawn nearer may hide part of it (``cubes``), never all of it.
    Used to score goals given as images (the goal envs' ``compute_reward``)."""
    images = np.asarray(images)
    validate_scene(style, width, num_objects, image_size)
    if images.ndim != 4 or images.shape[1:] != (3, image_size, image_size):
        raise ValueError(f"images must have shape [B, 3, {image_size}, {image_size}], got {images.shape}")
    index, values = _probes(style, width, num_objects, image_size)  # [K, cells, P], [K, 1, P]
    shown = np.take(images.reshape(len(images), -1), index, axis=1) == values  # [B, K, cells, P]
    cells = shown.sum(-1).argmax(-1)  # [B, K]
    return np.stack([cells // width, cells % width], -1)


@functools.lru_cache(maxsize=16)
def _probes(style: str, width: int, num_objects: int, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """What :func:`decode_states` compares: for each object k and cell, the flat indices ``[K, cells, P]``
    of ``DECODE_PIXELS`` pixels (all three channels) of k's sprite drawn there in k's own colour at
    full shade, evenly spread over the sprite, and their values ``[K, 1, P]`` (a few pixels: the
    whole sprite is 5x slower to compare)."""
    atlas = get_atlas(style, width, num_objects, image_size)
    plane = image_size * image_size
    index, values = [], []
    for k in range(num_objects):
        lookup = dict(zip(atlas.offsets[k].tolist(), atlas.values[k].tolist()))
        colour = OBJECT_COLOURS[k].tolist()
        full = [o for o in sorted(lookup) if [lookup.get(o + c * plane) for c in range(3)] == colour]
        chosen = np.asarray(full)[np.linspace(0, len(full) - 1, DECODE_PIXELS).astype(int)]
        offsets = np.concatenate([chosen + c * plane for c in range(3)])
        index.append(atlas.cell_anchor[:, None] + offsets)
        values.append(np.repeat(OBJECT_COLOURS[k], DECODE_PIXELS)[None])
    return np.stack(index), np.stack(values)
