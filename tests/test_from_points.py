"""from_points and inpaint_with_points: geometry defaults, methods, metrics, fusion."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from srcli.device import make_runtime
from srcli.io.points import PointSet, PointsError, read_points, sample_points, write_points
from srcli.models.points import ISPPointsNet
from srcli.tasks.from_points import from_points, inpaint_with_points

torch.set_num_threads(1)


def tiny_model() -> ISPPointsNet:
    torch.manual_seed(0)
    return ISPPointsNet(point_features=8, point_hidden=16, grid_hidden=16, encoder_width=8, encoder_blocks=1,
                        decoder_hidden=16).eval()


def ramp(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([0.1 + 0.02 * xx, 0.2 + 0.03 * yy, 0.5 + 0.01 * (xx - yy)], -1).astype(np.float32)


@pytest.mark.parametrize("method", ["nearest", "linear", "cubic", "rbf"])
def test_all_pixels_give_the_image_back_with_default_geometry(method):
    image = np.random.default_rng(0).uniform(size=(10, 13, 3)).astype(np.float32)
    result = from_points(sample_points(image, 1.0), method=method, reference=image)
    assert result.extent == (-0.5, -0.5, 12.5, 9.5) and result.points_used == 130
    np.testing.assert_array_equal(result.image, image)
    assert result.metrics["psnr"] == math.inf and result.metrics["mae"] == 0
    assert result.seconds > 0 and result.method == method


def test_sampler_npy_output_reproduces_the_source_plane(tmp_path):
    image = ramp(12, 16)
    write_points(tmp_path / "p.npy", sample_points(image, 0.3, irregular=True, seed=1))
    result = from_points(read_points(tmp_path / "p.npy"), method="linear")
    assert result.extent == (-0.5, -0.5, 15.5, 11.5) and result.image.shape == (12, 16, 3)


def test_size_extent_and_source_size():
    image = ramp(8, 8)
    points = sample_points(image, 1.0)
    points.source_size = None
    double = from_points(points, size=(16, 16), method="linear")
    assert double.image.shape == (16, 16, 3)
    # a pixel centre of the 2x grid at (x, y) = (1.75, 0.25) lies inside the hull: the ramp is exact
    assert double.image[1, 4, 0] == pytest.approx(0.1 + 0.02 * 1.75, abs=1e-6)
    wide = from_points(points, source_size=(10, 8), method="nearest")
    assert wide.image.shape == (8, 10, 3) and wide.extent == (-0.5, -0.5, 9.5, 7.5)
    crop = from_points(points, extent=(1.5, 1.5, 5.5, 3.5), method="linear", drop_outside=True)
    assert crop.image.shape == (2, 4, 3)
    np.testing.assert_allclose(crop.image, image[2:4, 2:6], atol=1e-6)


def test_metrics_match_an_independent_psnr():
    image = ramp(9, 9)
    reference = np.clip(image + np.random.default_rng(1).normal(0, 0.05, image.shape), 0, 1)
    result = from_points(sample_points(image, 1.0), method="nearest", reference=reference)
    mse = np.mean((image.astype(np.float64) - reference) ** 2)
    assert result.metrics["psnr"] == pytest.approx(-10 * math.log10(mse), rel=1e-9)
    with pytest.raises(ValueError, match="reference shape"):
        from_points(sample_points(image, 1.0), method="nearest", reference=reference[:4])


def test_bad_requests():
    points = sample_points(ramp(6, 6), 0.5)
    with pytest.raises(PointsError, match="needs a points model"):
        from_points(points, method="isp")
    with pytest.raises(PointsError, match="unknown method 'magic'"):
        from_points(points, method="magic")
    with pytest.raises(PointsError, match=r"points lie outside the extent"):
        from_points(points, extent=(0, 0, 3, 3), method="linear")
    with pytest.raises(PointsError, match="size must be positive"):
        from_points(points, size=(0, 4), method="linear")
    with pytest.raises(PointsError, match="one line"):
        from_points(PointSet(np.array([[0, 0], [1, 1], [2, 2.0]]), np.zeros((3, 3), np.float32)), method="linear")


def test_isp_path_with_a_model_and_a_runtime():
    image = ramp(16, 20)
    points = sample_points(image, 0.4, irregular=True)
    result = from_points(points, method="isp", model=tiny_model(), size=(24, 30), reference=ramp(24, 30))
    assert result.image.shape == (24, 30, 3) and result.image.dtype == np.float32
    assert 0 <= result.image.min() and result.image.max() <= 1 and "psnr" in result.metrics
    again = from_points(points, method="isp", model=tiny_model(), size=(24, 30), runtime=make_runtime("cpu", "fp32"))
    np.testing.assert_allclose(again.image, result.image, atol=1e-6)


def test_inpaint_keeps_known_pixels_and_fills_the_rest():
    image = ramp(14, 12)
    known = np.random.default_rng(2).uniform(size=(14, 12)) < 0.4
    known[[0, 0, -1, -1], [0, -1, 0, -1]] = True  # corners known: every pixel is inside the hull
    damaged = np.where(known[..., None], image, 0.0)
    out = inpaint_with_points(damaged, known, method="linear")
    assert out.shape == image.shape
    np.testing.assert_array_equal(out[known], image[known])
    np.testing.assert_allclose(out, image, atol=1e-5)  # a linear ramp is filled exactly
    grey = inpaint_with_points(damaged[:, :, 0], known, method="nearest")
    assert grey.shape == (14, 12)
    np.testing.assert_array_equal(grey[known], image[:, :, 0][known])


def test_inpaint_with_scale_and_the_network():
    image = ramp(10, 10)
    known = np.random.default_rng(3).uniform(size=(10, 10)) < 0.5
    assert inpaint_with_points(image, known, scale=2.5, method="linear").shape == (25, 25, 3)
    out = inpaint_with_points(image, known, method="isp", model=tiny_model())
    np.testing.assert_array_equal(out[known], image[known])
    with pytest.raises(PointsError, match="mask"):
        inpaint_with_points(image, known[:5], method="linear")
    with pytest.raises(PointsError, match="only 2 point"):
        inpaint_with_points(image, np.eye(10, dtype=bool) & (np.arange(10) < 2), method="linear")
