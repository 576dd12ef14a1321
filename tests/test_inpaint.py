"""srcli.tasks.inpaint: missing-pixel sources, inpainting arrays, metrics, from-points/sample-points helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from srcli.errors import UsageError
from srcli.io.images import Image
from srcli.io.points import PointsError, read_points
from srcli.tasks.inpaint import drop_pixels, inpaint_array, known_pixels, parse_missing_value
from srcli.tasks.outputs import check_common, reference_metrics, stored_values
from srcli.tasks.points_files import parse_extent, points_output_size, resolve_method, sample_points_file


def ramp(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([0.1 + 0.02 * xx, 0.2 + 0.03 * yy, 0.5 + 0.01 * (xx - yy)], -1).astype(np.float32)


def np_psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def np_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. SSIM, 11x11 Gaussian window sigma 1.5, valid region, mean over channels (peak 1)."""
    t = np.arange(11) - 5.0
    g = np.exp(-t**2 / (2 * 1.5**2))
    window = np.outer(g, g) / np.outer(g, g).sum()

    def filt(x: np.ndarray) -> np.ndarray:
        views = np.lib.stride_tricks.sliding_window_view(x, (11, 11))
        return np.einsum("ijkl,kl->ij", views, window)

    c1, c2, scores = 0.01**2, 0.03**2, []
    for c in range(a.shape[2]):
        x, y = a[:, :, c].astype(np.float64), b[:, :, c].astype(np.float64)
        mx, my = filt(x), filt(y)
        sxx, syy, sxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
        scores.append(np.mean((2 * mx * my + c1) * (2 * sxy + c2) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))))
    return float(np.mean(scores))


# --- which pixels are known ----------------------------------------------------


def test_drop_pixels_counts_and_seeds():
    known = drop_pixels((10, 13), 0.3, seed=4)
    assert known.shape == (10, 13) and int((~known).sum()) == round(0.3 * 130)
    np.testing.assert_array_equal(known, drop_pixels((10, 13), 0.3, seed=4))
    assert not np.array_equal(known, drop_pixels((10, 13), 0.3, seed=5))
    assert drop_pixels((4, 4), 0.0).all()
    for bad in (1.0, -0.1, math.nan):
        with pytest.raises(UsageError, match=r"--drop .* \[0, 1\)"):
            drop_pixels((4, 4), bad)


def test_mask_image_white_is_missing_at_half_its_maximum():
    image = Image(ramp(6, 5))
    holes = np.zeros((6, 5, 1), np.float32)
    holes[1, 2] = 1 / 255  # a 0/1-valued 8-bit mask
    holes[4, 0] = 1 / 255
    known, source = known_pixels(image, mask=Image(holes))
    assert source == "mask" and (~known).sum() == 2 and not known[1, 2] and not known[4, 0]
    noisy = np.full((6, 5, 3), 3 / 255, np.float32)  # JPEG-like noise near black, one white hole
    noisy[0, 0] = 250 / 255
    known, _ = known_pixels(image, mask=Image(noisy))
    assert (~known).sum() == 1 and not known[0, 0]
    known, _ = known_pixels(image, mask=Image(noisy), invert_mask=True)
    assert known.sum() == 1 and known[0, 0]
    with pytest.raises(UsageError, match="the mask is 4x3, the image 5x6"):
        known_pixels(image, mask=Image(np.zeros((3, 4, 1), np.float32)))


def test_missing_value_in_the_images_own_scale():
    pixels = np.full((4, 4, 3), 0.5, np.float32)
    pixels[0, 0] = 0
    pixels[1, 1] = (255 / 255, 0, 255 / 255)
    pixels[2, 2] = (0, 0, 1 / 255)  # near black, not black
    image = Image(pixels, "uint8")
    known, source = known_pixels(image, missing_value=parse_missing_value("0"))
    assert source == "missing-value" and (~known).sum() == 1 and not known[0, 0]
    known, _ = known_pixels(image, missing_value=parse_missing_value("255,0,255"))
    assert (~known).sum() == 1 and not known[1, 1]
    sixteen = Image(np.where(pixels == 0.5, 0.5, pixels * 0 + 1000 / 65535).astype(np.float32), "uint16")
    assert (~known_pixels(sixteen, missing_value=(1000.0,))[0]).sum() == 3
    with pytest.raises(UsageError, match="2 values; the image has 3"):
        known_pixels(image, missing_value=(0.0, 0.0))
    with pytest.raises(UsageError, match="one number or one per channel"):
        parse_missing_value("black")


def test_alpha_is_the_default_and_sources_conflict():
    rgba = np.concatenate([ramp(5, 5), np.ones((5, 5, 1), np.float32)], axis=2)
    rgba[2, 3, 3] = 0
    known, source = known_pixels(Image(rgba))
    assert source == "alpha" and (~known).sum() == 1 and not known[2, 3]
    with pytest.raises(UsageError, match="nothing marks the missing pixels"):
        known_pixels(Image(ramp(5, 5)))
    with pytest.raises(UsageError, match="--missing-value and --drop conflict"):
        known_pixels(Image(ramp(5, 5)), missing_value=(0.0,), drop=0.5)


# --- inpainting arrays ---------------------------------------------------------


@pytest.mark.parametrize("method", ["nearest", "linear", "cubic", "rbf"])
def test_known_pixels_kept_and_a_ramp_filled(method):
    image = ramp(12, 14)
    known = drop_pixels((12, 14), 0.5, seed=1)
    known[[0, 0, -1, -1], [0, -1, 0, -1]] = True
    damaged = np.where(known[..., None], image, 0).astype(np.float32)
    out = inpaint_array(damaged, known, method=method)
    assert out.shape == image.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[known], image[known])
    if method != "nearest":
        np.testing.assert_allclose(out, image, atol=2e-3)


def test_grey_alpha_is_done_per_channel_and_scale_changes_the_size():
    pixels = np.stack([ramp(8, 9)[:, :, 0], np.linspace(0, 1, 72).reshape(8, 9)], axis=2).astype(np.float32)
    known = drop_pixels((8, 9), 0.4, seed=2)
    known[[0, 0, -1, -1], [0, -1, 0, -1]] = True
    out = inpaint_array(pixels, known, method="linear")
    assert out.shape == (8, 9, 2)
    np.testing.assert_allclose(out, pixels, atol=1e-5)
    assert inpaint_array(ramp(8, 9), known, scale=2.5, method="linear").shape == (20, 23, 3)
    with pytest.raises(UsageError, match="only 2 known pixel"):
        inpaint_array(ramp(8, 9), np.eye(8, 9, dtype=bool) & (np.arange(9) < 2), method="linear")
    with pytest.raises(PointsError, match="one line"):
        inpaint_array(ramp(8, 9), np.eye(8, 9, dtype=bool), method="linear")


def test_linr_keeps_known_pixels_and_fits_the_rest():
    image = ramp(10, 10)
    known = drop_pixels((10, 10), 0.5, seed=3)
    out = inpaint_array(image * known[..., None], known, method="linr", steps=3, seed=0)
    assert out.shape == (10, 10, 3) and 0 <= out.min() and out.max() <= 1
    np.testing.assert_array_equal(out[known], image[known])
    assert inpaint_array(image, known, method="linr", steps=1, scale=2).shape == (20, 20, 3)


# --- metrics and helpers ------------------------------------------------------


def test_reference_metrics_match_independent_formulas():
    rng = np.random.default_rng(0)
    reference = rng.uniform(size=(16, 18, 3)).astype(np.float32)
    output = np.clip(reference + rng.normal(0, 0.05, reference.shape), 0, 1).astype(np.float32)
    metrics = reference_metrics(output, reference)
    assert metrics["psnr"] == pytest.approx(np_psnr(output, reference), rel=1e-9)
    assert metrics["ssim"] == pytest.approx(np_ssim(output, reference), rel=1e-6)
    alpha = np.concatenate([output, np.zeros((16, 18, 1), np.float32)], axis=2)  # alpha ignored
    assert reference_metrics(alpha, reference)["psnr"] == pytest.approx(metrics["psnr"], rel=1e-12)
    assert "ssim" not in reference_metrics(output[:8, :8], reference[:8, :8])  # smaller than the window
    with pytest.raises(UsageError, match="reference is 18x16 with 3 colour channel"):
        reference_metrics(output[:, :, :1], reference)


def test_stored_values_round_like_the_file():
    x = np.array([[[0.1234, 1.2, -0.1]]], np.float32)
    np.testing.assert_allclose(stored_values(x, "uint8", "PNG"), [[[31 / 255, 1, 0]]], atol=1e-7)
    np.testing.assert_allclose(stored_values(x, "uint16", "PNG"), [[[8087 / 65535, 1, 0]]], atol=1e-7)
    np.testing.assert_array_equal(stored_values(x, "float32", "TIFF"), x)
    np.testing.assert_allclose(stored_values(x, "uint16", "JPEG"), [[[31 / 255, 1, 0]]], atol=1e-7)


def test_option_checks(no_shipped_weights):
    assert parse_extent("-0.5,-0.5,9.5,4.5") == (-0.5, -0.5, 9.5, 4.5)
    for bad in ("1,2,3", "0,0,a,1", "0,0,0,1", "0,0,inf,1"):
        with pytest.raises(UsageError, match="--extent takes x0,y0,x1,y1"):
            parse_extent(bad)
    assert points_output_size(None, 1.5, (-0.5, -0.5, 19.5, 9.5)) == (15, 30)
    assert points_output_size((7, 5), None, (0, 0, 1, 1)) == (5, 7)
    assert points_output_size(None, None, (0, 0, 1, 1)) is None
    with pytest.raises(UsageError, match="--size and --scale conflict"):
        points_output_size((7, 5), 2.0, (0, 0, 1, 1))
    with pytest.raises(UsageError, match="--overwrite and --skip-existing"):
        check_common(True, True, "8")
    with pytest.raises(UsageError, match="unknown --bit-depth '12'"):
        check_common(False, False, "12")
    with pytest.raises(UsageError, match="--scale must be a positive"):
        check_common(False, False, "8", 0.0)
    assert resolve_method("auto", None) == "linear" and resolve_method("auto", "x.pt") == "isp"
    with pytest.raises(UsageError, match="unknown --method 'magic'"):
        resolve_method("magic", None)


def test_auto_method_is_isp_once_its_weights_ship(no_shipped_weights):
    assert resolve_method("auto", None) == "linear"
    (no_shipped_weights / "isp-points.pt").write_bytes(b"")
    assert resolve_method("auto", None) == "isp" and resolve_method("linear", None) == "linear"


def test_sample_points_file_writes_every_format(tmp_path):
    from PIL import Image as PILImage

    pixels = np.random.default_rng(1).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    PILImage.fromarray(pixels).save(tmp_path / "im.png")
    for name in ("p.npy", "p.csv", "p.tsv", "p.txt"):
        row = sample_points_file(str(tmp_path / "im.png"), str(tmp_path / name), ratio=1.0)
        points = read_points(tmp_path / name)
        assert row["points"] == 42 == len(points) and row["input_size"] == [7, 6]
        order = np.lexsort((points.xy[:, 0], points.xy[:, 1]))
        np.testing.assert_array_equal(np.rint(points.values[order] * 255), pixels.reshape(-1, 3))
    with pytest.raises(UsageError, match="exists; use --overwrite"):
        sample_points_file(str(tmp_path / "im.png"), str(tmp_path / "p.npy"), ratio=0.5)
    with pytest.raises(UsageError, match="point files end in"):
        sample_points_file(str(tmp_path / "im.png"), str(tmp_path / "p.png"), ratio=0.5)
    with pytest.raises(PointsError, match="need at least 3"):
        sample_points_file(str(tmp_path / "im.png"), str(tmp_path / "q.npy"), ratio=0.01)
