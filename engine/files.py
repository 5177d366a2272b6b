"""Writing files so that a reader never sees half of one: the one way the project does it.

Every file the project writes for a user (a world's parts, PNGs, videos, camera paths, JSON
reports, weights, checkpoints) is written to a temporary file beside its target and renamed
over it when complete (os.replace is atomic within a folder): a crash or a full disk leaves
the previous file, never a torn one. The temporary file is private while written (mkstemp)
and gets the mode a plain open() would have given it before the rename.

    with atomic_path(target) as tmp:   # any writer that takes a path
        save_file(arrays, str(tmp))
    atomic_write(target, data)         # bytes or text at once
    replace_folder(new, target)        # a whole folder (a saved world), by renames only
    folder_to_read(target)             # where that folder is, even after a swap cut short
    remove_folder(target)              # that folder gone, with what a cut-short swap set aside
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def public(path: str | os.PathLike[str], folder: bool = False) -> None:
    """Give a file or folder made by mkstemp / mkdtemp (private: 0600 / 0700) the mode a
    plain open() or mkdir() would have given it under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if folder else 0o666) & ~umask)


def temporary_beside(path: str | os.PathLike[str]) -> Path:
    """A new empty file beside `path` (same folder, so a rename over `path` is atomic),
    named `.<name>.<random>.tmp`, with a plain file's mode. The caller removes or renames
    it; for writers that fill a file over time (a video)."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    os.close(fd)
    public(tmp)
    return Path(tmp)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside `path` to write to: when the block ends, the file is flushed
    to disk and renamed over `path`; when the block raises (or writes nothing there), the
    temporary file is removed and `path` is left as it was."""
    path = Path(path)
    tmp = temporary_beside(path)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write bytes (or text, as UTF-8) to `path` atomically (atomic_path). Returns the path."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
    return Path(path)


def set_aside(target: str | os.PathLike[str]) -> Path:
    """Where replace_folder keeps the previous `target` while it swaps: `.<name>.old`
    beside it."""
    target = Path(target)
    return target.with_name(f".{target.name}.old")


def folder_to_read(target: str | os.PathLike[str]) -> Path:
    """The folder that holds what was last written to `target`: `target` itself, or, when it
    is missing because a replace_folder was stopped between its two renames (the process
    killed), the previous folder it had set aside (set_aside). Nothing is moved: the next
    replace_folder puts a new folder in place."""
    target = Path(target)
    aside = set_aside(target)
    if not target.exists() and aside.is_dir():
        return aside
    return target


def remove_folder(target: str | os.PathLike[str]) -> None:
    """Remove the folder `target` and the previous one a replace_folder may have set aside
    (set_aside): nothing of it is left for folder_to_read to find."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(set_aside(target), ignore_errors=True)


def leftovers_beside(target: str | os.PathLike[str]) -> list[Path]:
    """The temporary files and folders of writes to `target` that never ended (a process
    killed while writing): named as temporary_beside and mkstemp / mkdtemp name them,
    `.<name>.<8 random characters>.tmp`, beside `target`; the folder a replace_folder set
    aside is not one of them (folder_to_read)."""
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.tmp")
    try:
        return sorted(p for p in parent.iterdir() if pattern.fullmatch(p.name))
    except OSError:  # no folder, or one that cannot be listed: nothing to find
        return []


def replace_folder(new: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Put the folder `new` where `target` is, by renames only: the previous `target` is
    moved aside (set_aside), `new` renamed in its place, and the old one removed; if the
    second rename fails the previous folder is put back. A folder cannot be renamed over a
    full one, so there is a moment between the two renames without `target`: a process
    killed there leaves the previous folder aside, where folder_to_read finds it, until
    the next call puts a new `target` in place. A `target` that is a file is refused."""
    new, target = Path(new), Path(target)
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target} exists and is not a world folder: not overwritten")
    old = set_aside(target)
    if not target.exists():  # a first save, or one after a swap that was stopped halfway
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)  # what such a swap left aside: superseded
        return
    shutil.rmtree(old, ignore_errors=True)
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)  # put the previous world back
        raise
    shutil.rmtree(old, ignore_errors=True)
