"""Headless MuJoCo rendering shared by the MuJoCo envs (Reacher, teapot).

Importing this module sets ``MUJOCO_GL=egl`` if it is unset (Mesa's llvmpipe works without a GPU).
It must be set before ``mujoco`` is first imported anywhere in the process; if EGL fails, run with
``MUJOCO_GL=osmesa`` (needs ``libosmesa6``).
"""

from __future__ import annotations

import contextlib
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402


def release_gl() -> None:
    """Make no GL context current on this thread (for ``MUJOCO_GL`` egl or osmesa)."""
    backend = os.environ.get("MUJOCO_GL")
    if backend == "egl":
        from mujoco import egl

        if egl.EGL_DISPLAY is not None:
            none = egl.EGL.EGL_NO_SURFACE
            egl.EGL.eglMakeCurrent(egl.EGL_DISPLAY, none, none, egl.EGL.EGL_NO_CONTEXT)
    elif backend == "osmesa":
        from OpenGL import GL, osmesa

        osmesa.OSMesaMakeCurrent(None, None, GL.GL_FLOAT, 0, 0)


class OffscreenRenderer:
    """A ``mujoco.Renderer`` of ``size x size`` frames that holds its GL context current only while
    rendering.

    A foreign MuJoCo render context (e.g. a closed gymnasium ``rgb_array`` env's) freed by the
    garbage collector deletes its GL objects by name in whatever context is current; if that were
    ours, our textures and buffers would silently go (partly garbage frames).
    """

    def __init__(self, model: mujoco.MjModel, size: int) -> None:
        self._renderer: mujoco.Renderer | None = mujoco.Renderer(model, size, size)
        release_gl()  # the Renderer leaves its context current

    def render(self, data: mujoco.MjData, camera: mujoco.MjvCamera | str | int) -> np.ndarray:
        """The scene of ``data`` seen from ``camera``: ``uint8 [H, W, 3]``."""
        if self._renderer is None:
            raise RuntimeError("the renderer was closed; make a new env to render")
        self._renderer.update_scene(data, camera)
        gl = self._renderer._gl_context  # mujoco keeps it private; None for Filament
        with gl.as_current() if gl is not None else contextlib.nullcontext():
            return self._renderer.render()

    def close(self) -> None:
        """Free the GL context now."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def corners(image: np.ndarray) -> np.ndarray:
    """The 4 corner pixels ``[4, 3]`` of ``image [H, W, 3]``."""
    return image[[0, 0, -1, -1], [0, -1, 0, -1]]


class CheckedRenderer:
    """Frames ``uint8 [3, H, W]`` from one camera, checked against corruption.

    ``reference`` is a scene whose 4 corner pixels show the background; the scenes rendered later
    must show it in at least 3 corners (nothing drawn may reach more than one). A frame that does
    not (blank or garbage, e.g. after a closed gymnasium ``rgb_array`` MuJoCo env was
    garbage-collected) gets one retry on a new GL renderer (``restarts`` counts them); a second
    corrupt frame raises.
    """

    def __init__(
        self, model: mujoco.MjModel, size: int, camera: mujoco.MjvCamera | str | int, reference: mujoco.MjData
    ) -> None:
        self.model, self.size, self.camera = model, size, camera
        self.restarts = 0
        self._gl: OffscreenRenderer | None = OffscreenRenderer(model, size)
        self.background = corners(self._gl.render(reference, camera))

    def render(self, data: mujoco.MjData) -> np.ndarray:
        """The scene of ``data`` -> ``uint8 [3, H, W]``, checked (class doc)."""
        if self._gl is None:
            raise RuntimeError("the env was closed; make a new env to render")
        image = self._gl.render(data, self.camera)
        if not self.frame_ok(image):
            self.restarts += 1
            self._gl.close()
            self._gl = OffscreenRenderer(self.model, self.size)
            image = self._gl.render(data, self.camera)
            if not self.frame_ok(image):
                raise RuntimeError(
                    f"MuJoCo rendered a corrupt frame twice (MUJOCO_GL={os.environ.get('MUJOCO_GL')!r}); "
                    "try MUJOCO_GL=osmesa"
                )
        return image.transpose(2, 0, 1)

    def frame_ok(self, image: np.ndarray) -> bool:
        """True if at least 3 of the 4 corner pixels of ``image [H, W, 3]`` are background."""
        return int((corners(image) == self.background).all(axis=1).sum()) >= 3

    def close(self) -> None:
        """Free the GL context now."""
        if self._gl is not None:
            self._gl.close()
            self._gl = None
