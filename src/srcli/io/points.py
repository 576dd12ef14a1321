"""Point files: read, validate, write and sample scattered samples of an image.

A point file holds one sample per row: ``x, y`` and then 1 (grey), 3 (RGB) or 4 (RGBA)
channel values. Formats: text (CSV, TSV, ``;`` or whitespace separated; delimiter sniffed
from the first data line; an optional header row of column names; ``#`` starts a comment)
or NPY (a float array ``(N, 2 + C)``). The format is told by the content (NPY magic), so
``-`` (stdin) works for both.

Geometry: x grows to the right, y down; integer coordinates are pixel centres, so a
``W x H`` image plane spans ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``. An *extent*
``(x0, y0, x1, y1)`` names the outer edges of an output. :func:`resolve_extent` picks it:

1. an explicit ``extent``; else 2. ``source_size=(W, H)``; else 3. the source size the
   file records (text files written by :func:`write_points` carry ``# source-size: WxH``);
   else 4. the *pixel cover* of the points: the smallest block of whole pixels holding them,
   ``(floor(min x + 0.5) - 0.5, floor(min y + 0.5) - 0.5, floor(max x + 0.5) + 0.5,
   floor(max y + 0.5) + 0.5)``.

Rule 4 is exact for NPY files made by :func:`sample_points`, because the sampler always
puts one sample in each of the four corner pixels of the source plane.

Values are scaled to ``[0, 1]`` from ``value_range`` (``auto``: maximum <= 1 means 0-1,
<= 255 means 0-255, else 0-65535). Samples with the same coordinates are merged into one
whose values are their mean.
"""

from __future__ import annotations

import io
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

VALUE_RANGES = {"0-1": 1.0, "0-255": 255.0, "0-65535": 65535.0}
CHANNEL_NAMES = {1: ("v",), 3: ("r", "g", "b"), 4: ("r", "g", "b", "a")}
Extent = tuple[float, float, float, float]
_NPY_MAGIC = b"\x93NUMPY"
_SOURCE_SIZE = re.compile(r"#\s*source[-_ ]size\s*[:=]\s*(\d+)\s*[x×]\s*(\d+)", re.IGNORECASE)


class PointsError(ValueError):
    """A point file or point set that cannot be used; the message is one line."""


@dataclass
class PointSet:
    """Scattered samples of an image plane.

    Attributes:
        xy: ``(N, 2)`` float64 positions ``(x, y)`` in pixel units (integers are pixel centres).
        values: ``(N, C)`` float32 channel values in ``[0, 1]``, C in {1, 3, 4}.
        source_size: ``(W, H)`` of the plane the samples came from, when known.
        value_range: the range the values were given in (``"0-1"``, ``"0-255"``, ``"0-65535"``).
    """

    xy: np.ndarray
    values: np.ndarray
    source_size: tuple[int, int] | None = None
    value_range: str = "0-1"

    def __len__(self) -> int:
        return int(self.xy.shape[0])

    @property
    def channels(self) -> int:
        """Number of channel values per sample."""
        return int(self.values.shape[1])


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
    except Exception as exc:  # truncated or object arrays
        raise PointsError(f"{name}: unreadable NPY array ({type(exc).__name__})") from None
    if array.ndim != 2 or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise PointsError(f"{name}: an NPY point file is a numeric (N, 2 + C) array, got {array.dtype} {array.shape}")
    _check_columns(array.shape[1], name)
    return array.astype(np.float64)


def _check_columns(count: int, name: str) -> None:
    if count not in (3, 5, 6):
        raise PointsError(f"{name} has {count} columns; expected x, y and 1, 3 or 4 channel values (3, 5 or 6 columns)")


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
    lines = text.splitlines()
    source_size, first, delimiter, has_header = None, None, None, False
    for number, raw in enumerate(lines):
        stripped = raw.strip()
        match = _SOURCE_SIZE.match(stripped)
        if match and first is None:
            source_size = (int(match.group(1)), int(match.group(2)))
        body = stripped.split("#", 1)[0].strip()
        if not body:
            continue
        delimiter = next((d for d in (",", "\t", ";") if d in body), None)
        tokens = _split(body, delimiter)
        has_header = not any(_is_number(t) for t in tokens)
        first = number
        break
    if first is None:
        raise PointsError(f"{name} holds no points (empty file)")
    if has_header:
        _check_columns(len(_split(lines[first].split("#", 1)[0], delimiter)), name)
    skip = first + 1 if has_header else first
    try:
        array = np.loadtxt(io.StringIO(text), delimiter=delimiter, comments="#", skiprows=skip, ndmin=2, dtype=np.float64)
    except ValueError:
        _raise_first_bad_line(lines, skip, delimiter, name)
        raise PointsError(f"{name}: cannot parse the numbers") from None
    if array.size == 0:
        raise PointsError(f"{name} holds no points (only a header)")
    _check_columns(array.shape[1], name)

    def line_of(row: int) -> int:  # only called for error messages
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
            raise PointsError(f"{name} line {number + 1} has {len(tokens)} columns, the lines before it {expected}")


def make_point_set(
    array: np.ndarray,
    *,
    value_range: str = "auto",
    source_size: tuple[int, int] | None = None,
    line_of: Callable[[int], int] | None = None,
    where: str = "line",
) -> PointSet:
    """Validate an ``(N, 2 + C)`` array and turn it into a :class:`PointSet`.

    Args:
        array: rows ``x, y, values...``.
        value_range: ``auto``, ``0-1``, ``0-255`` or ``0-65535``.
        source_size: ``(W, H)`` when known.
        line_of: maps a row to its file line, for messages (rows count from 1 otherwise).
        where: the word naming a row in messages (``line`` or ``row``).

    Raises:
        PointsError: NaN/Inf, bad column count, fewer than 3 points, all on a line, or
            values outside the range.
    """
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2:
        raise PointsError(f"points must be an (N, 2 + C) array, got shape {array.shape}")
    _check_columns(array.shape[1], "the point array")
    if array.shape[0] == 0:
        raise PointsError("no points")

    def locate(row: int) -> str:
        return f"{where} {line_of(row) if line_of is not None else row + 1}"

    for test, label in ((np.isnan, "NaN"), (np.isinf, "an infinite value")):
        bad = test(array).any(axis=1)
        if bad.any():
            raise PointsError(f"{locate(int(np.argmax(bad)))} holds {label} ({int(bad.sum())} bad rows in all)")
    values, value_range = _scale_values(array[:, 2:], value_range, locate)
    return validate_point_set(PointSet(array[:, :2].copy(), values, source_size, value_range))


def _scale_values(raw: np.ndarray, value_range: str, locate: Callable[[int], str]) -> tuple[np.ndarray, str]:
    if value_range != "auto" and value_range not in VALUE_RANGES:
        raise PointsError(f"unknown value range {value_range!r}; use auto, {', '.join(VALUE_RANGES)}")
    if (raw < 0).any():
        row = int(np.argmax((raw < 0).any(axis=1)))
        raise PointsError(f"{locate(row)} holds a negative value {raw[row].min():g}; channel values start at 0")
    top = float(raw.max())
    if value_range == "auto":
        value_range = next((k for k, v in VALUE_RANGES.items() if top <= v), "")
        if not value_range:
            raise PointsError(f"largest value {top:g} exceeds 65535, the top of every known value range")
    peak = VALUE_RANGES[value_range]
    if top > peak:
        row = int(np.argmax((raw > peak).any(axis=1)))
        raise PointsError(f"{locate(row)} holds {raw[row].max():g}, outside the declared value range {value_range}")
    return (raw / peak).astype(np.float32), value_range


def validate_point_set(points: PointSet) -> PointSet:
    """Check a point set's shapes and geometry; merge samples at equal positions (mean).

    Raises:
        PointsError: bad shapes, non-finite numbers, fewer than 3 distinct positions, or
            all positions on one line.
    """
    xy, values = np.asarray(points.xy, dtype=np.float64), np.asarray(points.values, dtype=np.float32)
    if xy.ndim != 2 or xy.shape[1] != 2 or values.ndim != 2 or values.shape[0] != xy.shape[0]:
        raise PointsError(f"a point set needs xy (N, 2) and values (N, C), got {xy.shape} and {values.shape}")
    if values.shape[1] not in CHANNEL_NAMES:
        raise PointsError(f"points carry {values.shape[1]} channel values; expected 1, 3 or 4")
    if not (np.isfinite(xy).all() and np.isfinite(values).all()):
        raise PointsError("points hold NaN or infinite numbers")
    if xy.shape[0] < 3:
        raise PointsError(f"only {xy.shape[0]} point(s); at least 3 are needed")
    xy, values = merge_duplicates(xy, values)
    if xy.shape[0] < 3:
        raise PointsError(f"only {xy.shape[0]} distinct position(s); at least 3 are needed")
    centred = xy - xy.mean(axis=0)
    eigen = np.linalg.eigvalsh(centred.T @ centred)
    if eigen[0] <= 1e-12 * max(eigen[1], 1e-300):
        raise PointsError(f"all {xy.shape[0]} points lie on one line; they cannot span an image plane")
    return PointSet(xy, values, points.source_size, points.value_range)


def merge_duplicates(xy: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge rows with identical ``xy`` into one whose values are their mean.

    Returns:
        ``(xy, values)``, unchanged (same order) when there are no duplicates.
    """
    order = np.lexsort((xy[:, 1], xy[:, 0]))
    sorted_xy = xy[order]
    same = (sorted_xy[1:] == sorted_xy[:-1]).all(axis=1)
    if not same.any():
        return xy, values
    group = np.concatenate([[0], np.cumsum(~same)])
    count = np.bincount(group).astype(np.float64)
    merged = np.stack([np.bincount(group, weights=values[order, c]) for c in range(values.shape[1])], axis=1)
    first = np.concatenate([[True], ~same])
    return sorted_xy[first], (merged / count[:, None]).astype(np.float32)
