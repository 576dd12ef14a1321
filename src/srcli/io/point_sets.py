"""Point sets: the in-memory samples, their validation and their value ranges.

Values are scaled to ``[0, 1]`` from ``value_range`` (``auto``: maximum <= 1 means 0-1,
<= 255 means 0-255, else 0-65535). Samples with the same coordinates are merged into one
whose values are their mean.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

VALUE_RANGES = {"0-1": 1.0, "0-255": 255.0, "0-65535": 65535.0}
CHANNEL_NAMES = {1: ("v",), 3: ("r", "g", "b"), 4: ("r", "g", "b", "a")}


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


def check_columns(count: int, name: str) -> None:
    """Check that a point table has x, y and 1, 3 or 4 channel values per row.

    Args:
        count: the number of columns.
        name: what holds the table, for the message (a file name or "the point array").

    Raises:
        PointsError: any count but 3, 5 or 6.
    """
    if count not in (3, 5, 6):
        raise PointsError(f"{name} has {count} columns; expected x, y and 1, 3 or 4 channel values (3, 5 or 6 columns)")


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
    check_columns(array.shape[1], "the point array")
    if array.shape[0] == 0:
        raise PointsError("no points")

    def locate(row: int) -> str:
        return f"{where} {line_of(row) if line_of is not None else row + 1}"

    for test, label in ((np.isnan, "NaN"), (np.isinf, "an infinite value")):
        bad = test(array).any(axis=1)
        if bad.any():
            raise PointsError(f"{locate(int(np.argmax(bad)))} holds {label} ({int(bad.sum())} bad row{'' if int(bad.sum()) == 1 else 's'} in all)")
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
