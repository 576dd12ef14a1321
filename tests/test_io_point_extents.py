"""Tests for srcli.io.point_extents: the rules that pick an output plane, and points outside it."""

from __future__ import annotations

import numpy as np
import pytest

from srcli.io.point_extents import points_inside, resolve_extent
from srcli.io.point_sets import PointsError, PointSet


def test_extent_rules():
    points = PointSet(np.array([[0.2, 1.0], [9.4, 0.0], [3.0, 6.6]]), np.zeros((3, 1), np.float32))
    # pixel cover: pixel j holds x in [j - 0.5, j + 0.5)
    assert resolve_extent(points) == (-0.5, -0.5, 9.5, 7.5)
    assert resolve_extent(points, source_size=(12, 8)) == (-0.5, -0.5, 11.5, 7.5)
    assert resolve_extent(points, extent=(0, 0, 20, 10)) == (0.0, 0.0, 20.0, 10.0)
    points.source_size = (16, 9)
    assert resolve_extent(points) == (-0.5, -0.5, 15.5, 8.5)
    with pytest.raises(PointsError, match="not both"):
        resolve_extent(points, extent=(0, 0, 1, 1), source_size=(2, 2))
    with pytest.raises(PointsError, match="x1 > x0"):
        resolve_extent(points, extent=(5, 0, 1, 1))


def test_points_outside_the_extent():
    xy = np.array([[0, 0], [4, 0], [0, 4], [4, 4], [9, 9], [-3, 2]], float)
    points = PointSet(xy, np.ones((6, 1), np.float32))
    with pytest.raises(PointsError, match=r"2 of 6 points lie outside the extent x0,y0,x1,y1 = -0.5,-0.5,4.5,4.5"):
        points_inside(points, (-0.5, -0.5, 4.5, 4.5))
    kept = points_inside(points, (-0.5, -0.5, 4.5, 4.5), drop_outside=True)
    assert len(kept) == 4 and kept.xy.max() == 4
    assert points_inside(points, (-3, 0, 9, 9)) is points  # edges are inside
