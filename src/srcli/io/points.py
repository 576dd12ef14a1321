"""Point files: read, validate, write and sample scattered samples of an image.

A point file holds one sample per row: ``x, y`` and then 1 (grey), 3 (RGB) or 4 (RGBA)
channel values. Formats: text (CSV, TSV, ``;`` or whitespace separated; delimiter sniffed
from the first data line; an optional header row of column names; ``#`` starts a comment)
or NPY (a float array ``(N, 2 + C)``). The format is told by the content (NPY magic), so
``-`` (stdin) works for both.

This module reads and writes point files. The point set type, validation and value ranges
live in :mod:`srcli.io.point_sets`, extents (the rules for the output plane) in
:mod:`srcli.io.point_extents` and the sampling helper in :mod:`srcli.io.point_sampling`;
their public names are re-exported here.
"""

from __future__ import annotations

import io
import os
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import numpy as np

from srcli.io.atomic import atomic_write
from srcli.io.point_extents import Extent, points_inside, resolve_extent
from srcli.io.point_sampling import bicubic_at, keys_weights, sample_points
from srcli.io.point_sets import (
    CHANNEL_NAMES,
    VALUE_RANGES,
    PointsError,
    PointSet,
    check_columns,
    make_point_set,
    merge_duplicates,
    validate_point_set,
)

__all__ = [
    "CHANNEL_NAMES",
    "VALUE_RANGES",
    "Extent",
    "PointSet",
    "PointsError",
    "bicubic_at",
    "keys_weights",
    "make_point_set",
    "merge_duplicates",
    "points_inside",
    "read_points",
    "resolve_extent",
    "sample_points",
    "validate_point_set",
    "write_points",
]

_NPY_MAGIC = b"\x93NUMPY"
_SOURCE_SIZE = re.compile(r"#\s*source[-_ ]size\s*[:=]\s*(\d+)\s*[x×]\s*(\d+)", re.IGNORECASE)


def read_points(path: str | os.PathLike[str], *, value_range: str = "auto") -> PointSet:
    """Read and validate a point file (``"-"`` reads stdin).

    Raises:
        PointsError: unreadable file, bad numbers (with the line), wrong column count, too
            few points, all points on one line, or values outside the declared range.
    """
    data = sys.stdin.buffer.read() if str(path) == "-" else _read_bytes(Path(path))
    name = "stdin" if str(path) == "-" else str(path)
    if data.startswith(_NPY_MAGIC):
        return make_point_set(_parse_npy(data, name), value_range=value_range, where="row")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PointsError(f"{name} is neither a text point file (CSV/TSV) nor an NPY array") from None
    array, source_size, line_of = _parse_text(text, name)
    return make_point_set(array, value_range=value_range, source_size=source_size, line_of=line_of)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PointsError(f"point file not found: {path}") from None
    except OSError as exc:
        raise PointsError(f"cannot read {path}: {exc.strerror or exc}") from None


def _parse_npy(data: bytes, name: str) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - truncated or object arrays
        raise PointsError(f"{name}: unreadable NPY array ({type(exc).__name__})") from None
    if array.ndim != 2 or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise PointsError(f"{name}: an NPY point file is a numeric (N, 2 + C) array, got {array.dtype} {array.shape}")
    check_columns(array.shape[1], name)
    return array.astype(np.float64)


def _split(line: str, delimiter: str | None) -> list[str]:
    return [t.strip() for t in (line.split(delimiter) if delimiter else line.split())]


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _parse_text(text: str, name: str) -> tuple[np.ndarray, tuple[int, int] | None, Callable[[int], int]]:
    """Parse a delimited text point file into ``(array (N, cols), source_size, row -> line number)``."""
    source_size, first, delimiter, has_header = None, None, None, False
    for number, raw in enumerate(io.StringIO(text)):  # up to the first data line only
        stripped = raw.strip()
        match = _SOURCE_SIZE.match(stripped)
        if match:
            source_size = (int(match.group(1)), int(match.group(2)))
        body = stripped.split("#", 1)[0].strip()
        if not body:
            continue
        delimiter = next((d for d in (",", "\t", ";") if d in body), None)
        tokens = _split(body, delimiter)
        has_header = not any(_is_number(t) for t in tokens)
        if has_header:
            check_columns(len(tokens), name)
        first = number
        break
    if first is None:
        raise PointsError(f"{name} holds no points (empty file)")
    skip = first + 1 if has_header else first
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            array = np.loadtxt(io.StringIO(text), delimiter=delimiter, comments="#", skiprows=skip, ndmin=2)
    except ValueError:
        _raise_first_bad_line(text.splitlines(), skip, delimiter, name)
        raise PointsError(f"{name}: cannot parse the numbers") from None
    if array.size == 0:
        raise PointsError(f"{name} holds no points (only a header)")
    check_columns(array.shape[1], name)

    def line_of(row: int) -> int:  # only called for error messages
        lines = text.splitlines()
        numbers = (i + 1 for i in range(skip, len(lines)) if lines[i].split("#", 1)[0].strip())
        return next(n for k, n in enumerate(numbers) if k == row)

    return array, source_size, line_of


def _raise_first_bad_line(lines: list[str], start: int, delimiter: str | None, name: str) -> None:
    """Find the first malformed data line and raise a PointsError naming it."""
    expected = None
    for number in range(start, len(lines)):
        body = lines[number].split("#", 1)[0].strip()
        if not body:
            continue
        tokens = _split(body, delimiter)
        for column, token in enumerate(tokens, start=1):
            if not _is_number(token):
                raise PointsError(f"{name} line {number + 1}, column {column}: {token!r} is not a number")
        expected = expected or len(tokens)
        if len(tokens) != expected:
            raise PointsError(f"{name} line {number + 1} has {len(tokens)} columns where the lines before it have {expected}")


def write_points(path: str | os.PathLike[str], points: PointSet, *, value_range: str | None = None) -> None:
    """Write a point file atomically: ``.npy`` as an ``(N, 2 + C)`` float64 array, any
    other suffix as text (tab-separated for ``.tsv``, else CSV; ``-`` writes CSV to stdout).

    Text files start with ``# source-size: WxH`` (when known) and a header ``x,y,r,g,b``
    (``x,y,v`` grey, ``x,y,r,g,b,a`` RGBA).

    Args:
        value_range: scale of the written values; the point set's own by default.
    """
    value_range = value_range or points.value_range
    if value_range not in VALUE_RANGES:
        raise PointsError(f"unknown value range {value_range!r}; use one of {', '.join(VALUE_RANGES)}")
    table = np.concatenate([points.xy, points.values.astype(np.float64) * VALUE_RANGES[value_range]], axis=1)
    if str(path) == "-":
        _write_text(sys.stdout, table, points, ",")
        sys.stdout.flush()
        return
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        atomic_write(path, lambda fh: np.save(fh, table))
    else:
        atomic_write(path, lambda fh: _write_text(fh, table, points, "\t" if suffix == ".tsv" else ","), text=True)


def _write_text(stream: TextIO, table: np.ndarray, points: PointSet, delimiter: str) -> None:
    if points.source_size is not None:
        stream.write(f"# source-size: {points.source_size[0]}x{points.source_size[1]}\n")
    stream.write(delimiter.join(("x", "y", *CHANNEL_NAMES[points.channels])) + "\n")
    np.savetxt(stream, table, fmt=["%.17g", "%.17g"] + ["%.9g"] * points.channels, delimiter=delimiter)
