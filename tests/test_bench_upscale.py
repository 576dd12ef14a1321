"""Tests for srcli.tasks.bench_upscale: the super-resolution protocol against an independent NumPy version."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from conftest import write_png
from srcli.errors import UsageError
from srcli.tasks.bench import bench_quality


def run(folders, models, scales, metrics=None, **kw):
    report, result, _plan = bench_quality(folders, models=models, settings=scales, metrics=metrics, device="cpu", **kw)
    return report, result


# --- independent numpy protocol ---------------------------------------------------


def np_cubic(x):
    a = np.abs(x)
    return np.where(a <= 1, 1.5 * a**3 - 2.5 * a**2 + 1, np.where(a <= 2, -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2, 0.0))


def np_downscale_matrix(n_in, s):
    """MATLAB imresize(., 1/s, 'bicubic') along one axis, integer s: (n_in // s, n_in) matrix."""
    n_out = n_in // s
    matrix = np.zeros((n_out, n_in))
    for i in range(1, n_out + 1):
        u = i * s + 0.5 * (1 - s)  # input position (1-based) of output centre i
        taps = np.arange(math.floor(u - 2 * s), math.ceil(u + 2 * s) + 1)
        w = np_cubic((u - taps) / s) / s
        for j, weight in zip(taps, w / w.sum()):
            k = j - 1
            k = -k - 1 if k < 0 else (2 * n_in - 1 - k if k >= n_in else k)  # symmetric, edge repeated
            matrix[i - 1, k] += weight
    return matrix


def np_y_psnr(sr, hr, shave):
    """Y-PSNR (BT.601, 0-255) of (H, W, 3) arrays in [0, 1], or grey PSNR (255 peak) for (H, W)."""
    to_y = (lambda x: 16 + x @ np.array([65.481, 128.553, 24.966])) if sr.ndim == 3 else (lambda x: 255 * x)
    d = to_y(sr)[shave:-shave, shave:-shave] - to_y(hr)[shave:-shave, shave:-shave]
    return 10 * np.log10(255.0**2 / np.mean(d**2))


def read01(path):
    return np.asarray(Image.open(path), dtype=np.float64) / 255


@pytest.mark.parametrize("s", [2, 3])
def test_protocol_matches_independent_numpy(folders, s):
    _report, result = run(folders[:1], "nearest", str(s))
    for name in ("one.png", "three.png"):  # RGB and grey
        hr = read01(f"{folders[0]}/{name}")
        h, w = (hr.shape[0] // s) * s, (hr.shape[1] // s) * s
        hr = hr[:h, :w]
        rows_m, cols_m = np_downscale_matrix(h, s), np_downscale_matrix(w, s)
        lr = np.einsum("ih,hwc,jw->ijc", rows_m, hr[..., None] if hr.ndim == 2 else hr, cols_m)
        lr = np.floor(np.clip(lr, 0, 1) * 255 + 0.5) / 255
        sr = np.repeat(np.repeat(lr, s, axis=0), s, axis=1)  # MATLAB nearest at an integer scale
        sr = sr[..., 0] if hr.ndim == 2 else sr
        row = next(r for r in result.rows if r["image"] == name)
        assert row["hr_size"] == [w, h] and row["lr_size"] == [w // s, h // s]
        assert row["psnr"] == pytest.approx(np_y_psnr(sr, hr, s), abs=1e-4)


def test_scale_one_is_identity_and_fractional_sizes(folders):
    _report, result = run(folders[1:], "bicubic,nearest", "1,2.5", "psnr,ssim,lr-psnr")
    ones = [r for r in result.rows if r["scale"] == 1]
    assert all(r["psnr"] == math.inf and r["ssim"] == pytest.approx(1.0) and r["lr_psnr"] == math.inf for r in ones)
    frac = next(r for r in result.rows if r["scale"] == 2.5)  # 26 x 28 image
    assert frac["lr_size"] == [10, 11] and frac["hr_size"] == [25, 27]


def test_rgb_option_and_no_quantize_change_the_numbers(folders):
    _r, y = run(folders[1:], "bicubic", "2")
    _r, rgb = run(folders[1:], "bicubic", "2", options={"y_channel": False})
    _r, exact = run(folders[1:], "bicubic", "2", options={"quantize": False})
    assert y.rows[0]["psnr"] != pytest.approx(rgb.rows[0]["psnr"], abs=1e-3)
    assert y.rows[0]["psnr"] != pytest.approx(exact.rows[0]["psnr"], abs=1e-6)


def test_an_image_too_small_for_ssim_is_a_usage_error(tmp_path):
    (tmp_path / "tiny").mkdir()
    write_png(tmp_path / "tiny" / "t.png", 12, 12)
    with pytest.raises(UsageError, match=r"t.png at scale 2.0: SSIM needs"):
        run([str(tmp_path / "tiny")], "bicubic", "2", "psnr,ssim")
