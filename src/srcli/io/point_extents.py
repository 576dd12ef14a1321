"""Extents: the outer edges of the image plane an output of scattered points covers.

Geometry: x grows to the right, y down; integer coordinates are pixel centres, so a
``W x H`` image plane spans ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``. An *extent*
``(x0, y0, x1, y1)`` names the outer edges of an output. :func:`resolve_extent` picks it:

1. an explicit ``extent``; else 2. ``source_size=(W, H)``; else 3. the source size the
   file records (text files written by :func:`srcli.io.points.write_points` carry
   ``# source-size: WxH``); else 4. the *pixel cover* of the points: the smallest block of
   whole pixels holding them, ``(floor(min x + 0.5) - 0.5, floor(min y + 0.5) - 0.5,
   floor(max x + 0.5) + 0.5, floor(max y + 0.5) + 0.5)``.

Rule 4 is exact for NPY files made by :func:`srcli.io.point_sampling.sample_points`,
because the sampler always puts one sample in each of the four corner pixels of the
source plane.
"""

from __future__ import annotations

import math

import numpy as np

from srcli.io.point_sets import PointsError, PointSet, validate_point_set

Extent = tuple[float, float, float, float]


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
            "give a larger extent (--extent, --source-size) or drop them (--drop-outside)"
        )
    return validate_point_set(PointSet(points.xy[inside], points.values[inside], points.source_size, points.value_range))

