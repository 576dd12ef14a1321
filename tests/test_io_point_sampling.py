"""Tests for srcli.io.point_sampling: pixel-centre and irregular samples, Keys bicubic values."""

from __future__ import annotations

import numpy as np
import pytest

from srcli.io.point_extents import resolve_extent
from srcli.io.point_sampling import sample_points
from srcli.io.point_sets import PointsError, PointSet
from srcli.io.points import read_points, write_points


def test_sample_integer_points(tmp_path):
    image = np.random.default_rng(0).uniform(size=(30, 40, 3))
    points = sample_points(image, 0.2, seed=5)
    assert len(points) == 240 and points.source_size == (40, 30)
    xy = points.xy.astype(int)
    assert np.array_equal(points.xy, xy) and len(np.unique(xy, axis=0)) == 240
    np.testing.assert_array_equal(points.values, image[xy[:, 1], xy[:, 0]].astype(np.float32))
    again, other = sample_points(image, 0.2, seed=5), sample_points(image, 0.2, seed=6)
    np.testing.assert_array_equal(again.xy, points.xy)
    assert not np.array_equal(other.xy, points.xy)
    write_points(tmp_path / "p.npy", points)  # NPY keeps no size: the corner rule recovers it
    assert resolve_extent(read_points(tmp_path / "p.npy")) == (-0.5, -0.5, 39.5, 29.5)
    assert len(sample_points(image, 1.0)) == 1200


def keys(d: float) -> float:
    """Keys cubic convolution kernel, a = -0.5 (textbook form)."""
    d = abs(d)
    if d <= 1:
        return 1.5 * d**3 - 2.5 * d**2 + 1
    if d < 2:
        return -0.5 * d**3 + 2.5 * d**2 - 4 * d + 2
    return 0.0


def test_sample_irregular_points_match_bicubic():
    rng = np.random.default_rng(1)
    image = rng.uniform(size=(12, 10, 1))
    points = sample_points(image, 0.5, irregular=True, seed=2)
    assert len(points) == 60 and points.source_size == (10, 12)
    assert (points.xy >= -0.5).all() and (points.xy[:, 0] < 9.5).all() and (points.xy[:, 1] < 11.5).all()
    assert resolve_extent(PointSet(points.xy, points.values)) == (-0.5, -0.5, 9.5, 11.5)
    inner = np.flatnonzero(((points.xy >= 1) & (points.xy < [7, 9])).all(axis=1))
    assert inner.size > 5
    for row in inner:
        x, y = points.xy[row]
        want = sum(keys(x - j) * keys(y - i) * image[i, j, 0] for i in range(12) for j in range(10))
        assert points.values[row, 0] == pytest.approx(np.clip(want, 0, 1), abs=1e-6)
    np.testing.assert_array_equal(sample_points(image, 0.5, irregular=True, seed=2).xy, points.xy)


def test_sample_irregular_reproduces_a_ramp_up_to_the_border():
    yy, xx = np.mgrid[0:16, 0:16]
    image = (0.02 * xx + 0.03 * yy + 0.1)[:, :, None]
    points = sample_points(image, 2.0, irregular=True, seed=0)
    assert len(points) == 512
    inside = ((points.xy >= 1) & (points.xy <= 14)).all(axis=1)
    want = 0.02 * points.xy[:, 0] + 0.03 * points.xy[:, 1] + 0.1
    np.testing.assert_allclose(points.values[inside, 0], want[inside], atol=1e-6)


def test_sample_bad_requests():
    image = np.zeros((4, 4, 3))
    with pytest.raises(PointsError, match="at least 3"):
        sample_points(image, 0.1)
    with pytest.raises(PointsError, match="ratio <= 1"):
        sample_points(image, 1.5)
    with pytest.raises(PointsError, match=r"\(H, W, C\)"):
        sample_points(np.zeros((4, 4, 2)), 0.5)
