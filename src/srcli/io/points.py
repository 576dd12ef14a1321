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
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

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
            _check_columns(len(tokens), name)
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
    _check_columns(array.shape[1], name)

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


def resolve_extent(
    points: PointSet, extent: Extent | None = None, source_size: tuple[int, int] | None = None
) -> Extent:
    """The output plane's outer edges ``(x0, y0, x1, y1)``, by the rules in the module doc.

    Raises:
        PointsError: both ``extent`` and ``source_size`` given, or an empty/non-finite extent.
    """
    if extent is not None and source_size is not None:
        raise PointsError("give either an extent or a source size, not both")
    if extent is None:
        size = source_size or points.source_size
        if size is not None:
            if size[0] <= 0 or size[1] <= 0:
                raise PointsError(f"source size must be positive, got {size[0]}x{size[1]}")
            extent = (-0.5, -0.5, size[0] - 0.5, size[1] - 0.5)
        else:
            low = np.floor(points.xy.min(axis=0) + 0.5) - 0.5
            high = np.floor(points.xy.max(axis=0) + 0.5) + 0.5
            extent = (float(low[0]), float(low[1]), float(high[0]), float(high[1]))
    x0, y0, x1, y1 = (float(v) for v in extent)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x1 <= x0 or y1 <= y0:
        raise PointsError(f"extent must be x0,y0,x1,y1 with x1 > x0 and y1 > y0, got {extent}")
    return x0, y0, x1, y1


def points_inside(points: PointSet, extent: Extent, *, drop_outside: bool = False) -> PointSet:
    """Check that all points lie in the closed extent, or drop those outside it.

    Raises:
        PointsError: points outside (naming how many) unless ``drop_outside``; fewer than 3
            points or a line left after dropping.
    """
    x0, y0, x1, y1 = extent
    x, y = points.xy[:, 0], points.xy[:, 1]
    inside = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    outside = int((~inside).sum())
    if outside == 0:
        return points
    if not drop_outside:
        raise PointsError(
            f"{outside} of {len(points)} points lie outside the extent x0,y0,x1,y1 = {x0:g},{y0:g},{x1:g},{y1:g}; "
            "give a larger extent or drop them"
        )
    return validate_point_set(PointSet(points.xy[inside], points.values[inside], points.source_size, points.value_range))


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
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if path.suffix.lower() == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, table)
        else:
            with open(tmp, "w", encoding="utf-8", newline="\n") as f:
                _write_text(f, table, points, "\t" if path.suffix.lower() == ".tsv" else ",")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_text(stream: TextIO, table: np.ndarray, points: PointSet, delimiter: str) -> None:
    if points.source_size is not None:
        stream.write(f"# source-size: {points.source_size[0]}x{points.source_size[1]}\n")
    stream.write(delimiter.join(("x", "y", *CHANNEL_NAMES[points.channels])) + "\n")
    np.savetxt(stream, table, fmt=["%.17g", "%.17g"] + ["%.9g"] * points.channels, delimiter=delimiter)


def sample_points(image: np.ndarray, ratio: float, *, irregular: bool = False, seed: int = 0) -> PointSet:
    """Sample ``round(ratio * H * W)`` points of an image (the project's sampling helper).

    Integer mode draws distinct pixel centres; the values are the pixels' exactly.
    Irregular mode draws positions uniformly in the plane ``[-0.5, W - 0.5) x [-0.5, H - 0.5)``
    and takes Keys bicubic values (a = -0.5, the srcli/MATLAB bicubic; borders replicated;
    clipped to [0, 1]). ISP2HRNet made its data with OpenCV's bicubic (a = -0.75).
    In both modes the first samples lie in the four corner pixels, so the pixel-cover rule
    of :func:`resolve_extent` recovers the source plane from the points alone.

    Args:
        image: ``(H, W, C)`` or ``(H, W)`` float values in [0, 1].
        ratio: samples per pixel, in (0, 1] for integer mode, > 0 for irregular mode.
        seed: seed of the NumPy random generator; equal seeds give equal samples.

    Returns:
        A point set with ``source_size = (W, H)`` and ``value_range = "0-1"``.
    """
    image = np.asarray(image, dtype=np.float64)
    image = image[:, :, None] if image.ndim == 2 else image
    if image.ndim != 3 or image.shape[2] not in CHANNEL_NAMES:
        raise PointsError(f"an image to sample is (H, W, C) with C in 1, 3, 4; got shape {image.shape}")
    h, w = image.shape[:2]
    count = int(math.floor(ratio * h * w + 0.5)) if ratio > 0 and math.isfinite(ratio) else 0
    if count < 3 or (not irregular and ratio > 1):
        raise PointsError(f"ratio {ratio!r} gives {count} samples of {h * w} pixels; need at least 3"
                          + ("" if irregular else " and a ratio <= 1 (use irregular sampling for more)"))
    rng = np.random.default_rng(seed)
    corners = np.unique(np.array([0, w - 1, (h - 1) * w, h * w - 1]))[:count]
    if irregular:
        cells = np.concatenate([corners, rng.integers(0, h * w, count - corners.size)])
        xy = np.stack([cells % w, cells // w], axis=1) + rng.uniform(-0.5, 0.5, size=(count, 2))
        values = np.clip(bicubic_at(image, xy), 0.0, 1.0)
    else:
        others = np.setdiff1d(np.arange(h * w), corners)
        cells = np.concatenate([corners, rng.choice(others, count - corners.size, replace=False)])
        xy = np.stack([cells % w, cells // w], axis=1).astype(np.float64)
        values = image.reshape(h * w, -1)[cells]
    return validate_point_set(PointSet(xy, values.astype(np.float32), (w, h), "0-1"))


def keys_weights(t: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys cubic-convolution weights of the 4 taps at offsets ``-1, 0, 1, 2`` from ``floor``.

    Args:
        t: ``(...)`` fractional parts in [0, 1).

    Returns:
        ``(..., 4)`` weights summing to 1.
    """
    d = np.abs(np.stack([t + 1, t, 1 - t, 2 - t], axis=-1))
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def bicubic_at(image: np.ndarray, xy: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys bicubic values of ``image (H, W, C)`` at positions ``xy (N, 2)`` (pixel units,
    integers are pixel centres); borders are replicated.

    Returns:
        ``(N, C)`` float64 values.
    """
    h, w = image.shape[:2]
    base = np.floor(xy).astype(np.int64)
    wx, wy = keys_weights(xy[:, 0] - base[:, 0], a), keys_weights(xy[:, 1] - base[:, 1], a)
    taps = np.arange(-1, 3)
    cols = np.clip(base[:, :1] + taps, 0, w - 1)  # (N, 4)
    rows = np.clip(base[:, 1:] + taps, 0, h - 1)
    patch = image[rows[:, :, None], cols[:, None, :]]  # (N, 4, 4, C)
    return np.einsum("ni,nj,nijc->nc", wy, wx, patch)
