"""Atomic writes (checkpoints, JSON, any file), checkpoint reading with clear errors, and saves
of several files with one commit point (:func:`commit_save`, :func:`committed_save`)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

from eqmbrl.core.timing import PHASES

LOW_SPACE = 1 << 20  # bytes: a failed write with less free space than this was a full disk
SAVES = "saves"  # RUN_DIR/saves/<kind>.json (the commit point) and RUN_DIR/saves/<kind>-<n>/ (its files)


def fsync_dir(folder: str | os.PathLike) -> None:
    """Flush ``folder``'s entries (a rename or a new file in it) to disk, where the OS allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # e.g. Windows, where directories cannot be opened
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, fsync it, then rename it over
    ``path`` and fsync the folder: neither a crash nor a power loss leaves a half-written file under
    the real name (nor a stray ``.tmp``). A failed write names ``path``; on a full disk it is
    ``OSError(ENOSPC)`` whatever the writer raised (torch and numpy report it in their own words)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        if shutil.disk_usage(path.parent).free < LOW_SPACE and getattr(exc, "errno", None) != errno.ENOSPC:
            raise OSError(errno.ENOSPC, "No space left on device", str(path)) from exc
        exc.add_note(f"while writing {path}")
        raise
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write(path, lambda f: f.write(json.dumps(data, indent=2).encode()))


def save_checkpoint(path: str | os.PathLike, model: nn.Module, **extra: Any) -> None:
    """Write ``{"model": state_dict, **extra}`` to ``path``, atomically."""
    atomic_write(path, lambda f: torch.save({"model": model.state_dict(), **extra}, f))


def save_state(path: str | os.PathLike, **parts: Any) -> None:
    """Write a resume state composed of named ``parts`` (each object's ``state_dict()``, RNG states,
    counters) to ``path``, atomically; :func:`load_state` reads it back."""
    atomic_write(path, lambda f: torch.save(parts, f))


def load_state(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a dict saved with :func:`save_state` or :func:`save_checkpoint`, with one-line errors
    naming the file (missing, corrupt, not a dict)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        raise ValueError(f"checkpoint {path} is corrupt or not a torch checkpoint ({exc})") from exc
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path} is not an eqmbrl checkpoint (not a dict)")
    return state


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read an eqmbrl checkpoint dict (``model`` state dict and extra entries)."""
    ckpt = load_state(path, map_location)
    if "model" not in ckpt:
        raise ValueError(f"checkpoint {path} is not an eqmbrl checkpoint (no 'model' entry)")
    return ckpt


@dataclass(frozen=True)
class Save:
    """One committed save: number ``number`` of ``kind`` (``train``, ``online``, ``sb3``), a save
    of ``at`` (e.g. ``epoch 5``), its files (name -> sha256) in ``folder``."""

    kind: str
    number: int
    at: str
    folder: Path
    files: dict[str, str]

    def __str__(self) -> str:
        return f"{self.kind} save {self.number} ({self.at})"

    def path(self, name: str) -> Path:
        """Where the save's file ``name`` is."""
        return self.folder / name

    def export(self, name: str, dest: str | os.PathLike) -> None:
        """Put the save's file ``name`` at ``dest`` (a user-facing name such as ``checkpoint.pt``),
        atomically: a hard link where the filesystem allows (no copy; every writer replaces files,
        never rewrites them in place), else a copy."""
        dest = Path(dest)
        if dest.is_file() and os.path.samefile(self.path(name), dest):
            return  # already exported (renaming a link over itself would do nothing and leave the .tmp)
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.unlink(missing_ok=True)
        try:
            os.link(self.path(name), tmp)
        except OSError:
            shutil.copyfile(self.path(name), tmp)
        os.replace(tmp, dest)


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of the file at ``path`` (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@PHASES.timed("saves")
def commit_save(out: str | os.PathLike, kind: str, writers: Mapping[str, Callable[[Path], object]], at: str) -> Save:
    """Save several files as one: ``writers[name](path)`` writes each file into a new folder
    ``out/saves/<kind>-<n>/``; then the manifest ``out/saves/<kind>.json`` (save number ``n``, ``at``,
    each file's sha256) is renamed over the previous one (the one commit point); then the previous
    save's folder is deleted. Every file is fsynced with its folder (:func:`atomic_write`) before the
    manifest is renamed, so a kill or a power loss at any point leaves a committed save that is all
    old or all new: :func:`committed_save` reads it."""
    saves = Path(out) / SAVES
    saves.mkdir(parents=True, exist_ok=True)
    manifest = saves / f"{kind}.json"
    number = json.loads(manifest.read_text())["save"] + 1 if manifest.is_file() else 1
    folder = saves / f"{kind}-{number}"
    shutil.rmtree(folder, ignore_errors=True)  # an uncommitted attempt of a killed run
    folder.mkdir()
    files = {}
    for name, write in writers.items():
        write(folder / name)
        files[name] = file_sha256(folder / name)
    fsync_dir(saves)  # the new folder's own entry, before the manifest names it
    write_json(manifest, {"kind": kind, "save": number, "at": at, "files": files})
    drop_other_saves(saves, kind, number)
    return Save(kind, number, at, folder, files)


def drop_other_saves(saves: Path, kind: str, keep: int) -> None:
    """Delete every ``saves/<kind>-<n>/`` folder but the committed one (``n == keep``)."""
    for folder in saves.glob(f"{kind}-*"):
        if folder.is_dir() and folder.name != f"{kind}-{keep}":
            shutil.rmtree(folder)


def drop_uncommitted_saves(out: str | os.PathLike) -> None:
    """Delete every save folder of run dir ``out`` that no manifest names (what a kill during a save,
    or between its commit and the deletion of the previous one, leaves)."""
    saves = Path(out) / SAVES
    if not saves.is_dir():
        return
    committed = {f"{m.stem}-{json.loads(m.read_text()).get('save')}" for m in saves.glob("*.json")}
    for folder in saves.iterdir():
        if folder.is_dir() and folder.name not in committed:
            shutil.rmtree(folder)


def committed_save(out: str | os.PathLike, kind: str) -> Save | None:
    """The last committed save of ``kind`` in run dir ``out`` (None if there is none), with every
    file checked against its sha256 in the manifest: a missing or changed file is a one-line
    ``ValueError`` naming it."""
    manifest = Path(out) / SAVES / f"{kind}.json"
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text())
        save = Save(kind, int(data["save"]), str(data["at"]), manifest.parent / f"{kind}-{data['save']}", data["files"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"save manifest {manifest} is corrupt ({type(exc).__name__}: {exc})") from None
    for name, sha in save.files.items():
        path = save.path(name)
        if not path.is_file():
            raise ValueError(f"{path} of {save} is missing; the run dir was changed after the save")
        if file_sha256(path) != sha:
            raise ValueError(
                f"{path} of {save} does not match its sha256 in {manifest}: the file is corrupt or was "
                f"changed after the save (delete {manifest} to redo this phase from its start)"
            )
    return save
