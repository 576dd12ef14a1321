"""Atomic file writes: a reader, or a crash, sees the old whole file or the new whole file.

The files srcli writes whole (images, point lists, reports, plots, checkpoints, training and
fit states) go through :func:`atomic_write`: the content goes to a hidden temporary file in
the destination's folder (``.NAME.RANDOM.tmp``), is flushed to disk and renamed over the
destination, and the rename is flushed with the folder. On any error, Ctrl-C included, the
temporary file is removed and the destination is untouched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["DestinationExists", "atomic_torch_save", "atomic_write"]


class DestinationExists(FileExistsError):
    """:func:`atomic_write` with ``overwrite=False`` found its destination there."""


def _temporary_name(path: Path) -> Path:
    """The hidden temporary file :func:`atomic_write` fills before renaming it to ``path``."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[Any]], object], *, text: bool = False,
                 overwrite: bool = True) -> None:
    """Call ``write(file)`` on a temporary file, fsync it and rename it to ``path``.

    Args:
        path: the destination; its folder must exist.
        write: fills the open temporary file (binary, or UTF-8 text with ``\\n`` line ends
            when ``text``); called once.
        text: open the temporary file in text mode.
        overwrite: when False, an existing ``path`` (checked just before the rename) is
            kept and :class:`DestinationExists` raised.

    Raises:
        DestinationExists: ``path`` exists and ``overwrite`` is False.
        OSError: the file system refused; ``path`` is untouched.
    """
    path = Path(path)
    temp = _temporary_name(path)
    fh = open(temp, "x", encoding="utf-8", newline="\n") if text else open(temp, "xb")
    try:  # from here on the temporary is ours to remove
        with fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if not overwrite and path.exists():
            raise DestinationExists(f"{path} already exists")
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _sync_folder(path.parent)


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save(obj)`` to ``path`` through :func:`atomic_write`."""
    import torch

    atomic_write(path, lambda fh: torch.save(obj, fh))


def _sync_folder(folder: Path) -> None:
    """Flush a folder's entries to disk, so a rename in it survives a power cut (POSIX only)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
