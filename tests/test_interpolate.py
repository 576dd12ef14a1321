"""Classical scattered interpolation: pixel geometry, exactness, hull filling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import Delaunay

from srcli.io.points import PointSet, PointsError, sample_points
from srcli.tasks.interpolate import METHODS, barycentric_transforms, interpolate_points, pixel_centres_in_extent


def plane(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 0.2 + 0.03 * x - 0.02 * y


def test_pixel_centres_follow_the_extent():
    ys, xs = pixel_centres_in_extent((2, 4), (-0.5, -0.5, 7.5, 3.5))  # 2x wider pixels
    np.testing.assert_allclose(xs, [0.5, 2.5, 4.5, 6.5])
    np.testing.assert_allclose(ys, [0.5, 2.5])


@pytest.mark.parametrize("method", METHODS)
def test_all_pixels_sampled_give_the_image_back(method):
    image = np.random.default_rng(0).uniform(size=(9, 11, 3)).astype(np.float32)
    points = sample_points(image, 1.0, seed=1)
    out = interpolate_points(points, (9, 11), (-0.5, -0.5, 10.5, 8.5), method)
    assert out.shape == (9, 11, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, image)


@pytest.mark.parametrize("method", METHODS)
def test_exact_at_the_sample_points(method):
    rng = np.random.default_rng(2)
    xy = np.array([[0, 0], [7, 0], [0, 5], [7, 5], [3, 2], [5, 4], [1, 3]], float)
    points = PointSet(xy, rng.uniform(size=(7, 1)).astype(np.float32))
    out = interpolate_points(points, (6, 8), (-0.5, -0.5, 7.5, 5.5), method)
    np.testing.assert_array_equal(out[xy[:, 1].astype(int), xy[:, 0].astype(int)], points.values)


@pytest.mark.parametrize("method", ["linear", "cubic"])
def test_linear_and_cubic_reproduce_a_plane_inside_the_hull(method):
    rng = np.random.default_rng(3)
    xy = np.concatenate([[[0, 0], [20, 0], [0, 15], [20, 15]], rng.uniform(0, 20, (60, 2)) * [1, 0.75]])
    points = PointSet(xy, plane(xy[:, 0], xy[:, 1])[:, None].astype(np.float32))
    # a finer grid: pixels of 0.5 units whose centres are at 0.25 + 0.5 k, inside [0, 20] x [0, 15]
    out = interpolate_points(points, (30, 40), (0, 0, 20, 15), method)
    yy, xx = np.mgrid[0:30, 0:40] * 0.5 + 0.25
    np.testing.assert_allclose(out[:, :, 0], plane(xx, yy), atol=2e-6)


def test_rbf_reproduces_a_plane():
    rng = np.random.default_rng(4)
    xy = rng.uniform(0, 10, (80, 2))
    points = PointSet(xy, plane(xy[:, 0], xy[:, 1])[:, None].astype(np.float32))
    out = interpolate_points(points, (10, 10), (-0.5, -0.5, 9.5, 9.5), "rbf")
    yy, xx = np.mgrid[0:10, 0:10].astype(float)
    np.testing.assert_allclose(out[:, :, 0], plane(xx, yy), atol=1e-5)


@pytest.mark.parametrize("method", ["nearest", "linear", "cubic"])
def test_outside_the_hull_takes_the_nearest_sample(method):
    xy = np.array([[2, 2], [4, 2], [2, 4], [4, 4]], float)
    values = np.array([[0.1], [0.2], [0.3], [0.4]], np.float32)
    out = interpolate_points(PointSet(xy, values), (7, 7), (-0.5, -0.5, 6.5, 6.5), method)
    assert not np.isnan(out).any()
    assert out[0, 0, 0] == pytest.approx(0.1) and out[6, 6, 0] == pytest.approx(0.4)
    assert out[0, 6, 0] == pytest.approx(0.2) and out[6, 0, 0] == pytest.approx(0.3)
    if method == "linear":
        assert out[3, 3, 0] == pytest.approx(0.25)  # hull centre: mean of the corners


def test_nearest_on_a_coarser_grid():
    xy = np.array([[0, 0], [3, 0], [0, 3], [3, 3]], float)
    values = np.array([[0.1], [0.2], [0.3], [0.4]], np.float32)
    out = interpolate_points(PointSet(xy, values), (2, 2), (-0.5, -0.5, 3.5, 3.5), "nearest")
    np.testing.assert_allclose(out[:, :, 0], [[0.1, 0.2], [0.3, 0.4]])


def test_vectorised_barycentric_transforms_match_scipy():
    xy = np.random.default_rng(5).uniform(0, 50, (300, 2))
    triangulation = Delaunay(xy)
    ours = barycentric_transforms(triangulation.points, triangulation.simplices)
    np.testing.assert_allclose(ours, Delaunay(xy).transform, rtol=1e-9, atol=1e-12)
    flat = barycentric_transforms(np.array([[0.0, 0], [1, 1], [2, 2]]), np.array([[0, 1, 2]]))
    assert np.isnan(flat).all()


def test_bad_requests():
    points = PointSet(np.array([[0, 0], [1, 0], [0, 1]], float), np.zeros((3, 1), np.float32))
    with pytest.raises(PointsError, match="unknown interpolation method 'spline'"):
        interpolate_points(points, (2, 2), (-0.5, -0.5, 1.5, 1.5), "spline")
    with pytest.raises(PointsError, match="size must be positive"):
        interpolate_points(points, (0, 2), (-0.5, -0.5, 1.5, 1.5), "linear")
