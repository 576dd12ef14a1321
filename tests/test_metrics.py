"""Tests for srcli.metrics against independent numpy / scipy formulas."""

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from srcli import metrics


def np_y(rgb):
    """BT.601 Y (0-255) of a (3, H, W) array in [0, 1]; grey (1, H, W) is 255 * grey."""
    if rgb.shape[0] == 1:
        return 255.0 * rgb[0]
    return 16 + 65.481 * rgb[0] + 128.553 * rgb[1] + 24.966 * rgb[2]


def np_psnr(a, b, peak):
    return 10 * math.log10(peak**2 / np.mean((a - b) ** 2))


def np_ssim_channel(a, b, peak):
    """Reference SSIM of one channel: scipy Gaussian filtering, then the valid interior."""
    filt = lambda z: ndimage.gaussian_filter(z, 1.5, truncate=5 / 1.5)[5:-5, 5:-5]
    mu_a, mu_b = filt(a), filt(b)
    var_a, var_b, cov = filt(a * a) - mu_a**2, filt(b * b) - mu_b**2, filt(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    ssim_map = (2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim_map.mean()


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    target = rng.random((2, 3, 24, 20))
    pred = np.clip(target + rng.normal(0, 0.05, target.shape), 0, 1)
    return pred, target


def test_y_of_pure_colours_and_grey():
    colours = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0]]).T.reshape(1, 3, 1, 5)
    y = metrics.rgb_to_y(colours)
    assert y.dtype == torch.float64 and y.shape == (1, 1, 1, 5)
    np.testing.assert_allclose(y.flatten().numpy(), [81.481, 144.553, 40.966, 235.0, 16.0], atol=1e-9)
    grey = torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3)
    np.testing.assert_allclose(metrics.rgb_to_y(grey).flatten().numpy(), [0.0, 127.5, 255.0])
    with pytest.raises(ValueError, match="got 4 channels"):
        metrics.rgb_to_y(torch.rand(1, 4, 2, 2))


@pytest.mark.parametrize("shave,y_channel", [(0, False), (3, False), (0, True), (4, True)])
def test_psnr_matches_numpy(pair, shave, y_channel):
    pred, target = pair
    got = metrics.psnr(torch.from_numpy(pred).float(), torch.from_numpy(target).float(), shave=shave, y_channel=y_channel)
    assert got.shape == (2,) and got.dtype == torch.float64
    crop = lambda z: z[..., shave : z.shape[-2] - shave, shave : z.shape[-1] - shave]
    pred32, target32 = pred.astype(np.float32).astype(np.float64), target.astype(np.float32).astype(np.float64)
    for i in range(2):
        a, b = (np_y(pred32[i]), np_y(target32[i])) if y_channel else (pred32[i], target32[i])
        a, b = crop(a), crop(b)
        assert got[i].item() == pytest.approx(np_psnr(a, b, 255.0 if y_channel else 1.0), abs=1e-9)


def test_psnr_peak_and_identical_images():
    x = torch.rand(3, 1, 8, 8)
    assert torch.isinf(metrics.psnr(x, x)).all()
    noisy = x + 0.1
    assert metrics.psnr(noisy, x).tolist() == pytest.approx([20.0] * 3)
    assert metrics.psnr(noisy * 255, x * 255, peak=255).tolist() == pytest.approx([20.0] * 3)


def test_shape_mismatch_and_bad_shave_are_clear():
    with pytest.raises(ValueError, match=r"pred \(1, 3, 8, 8\) vs target \(1, 3, 8, 9\)"):
        metrics.psnr(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError, match=r"pred \(1, 1, 16, 16\) vs target \(1, 3, 16, 16\)"):
        metrics.ssim(torch.rand(1, 1, 16, 16), torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="leaves nothing"):
        metrics.psnr(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), shave=4)
    with pytest.raises(ValueError, match="at least 11x11"):
        metrics.ssim(torch.rand(1, 3, 12, 12), torch.rand(1, 3, 12, 12), shave=1)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        metrics.psnr(torch.rand(3, 8, 8), torch.rand(3, 8, 8))


@pytest.mark.parametrize("y_channel", [False, True])
def test_ssim_matches_scipy_reference(pair, y_channel):
    pred, target = pair
    got = metrics.ssim(torch.from_numpy(pred), torch.from_numpy(target), shave=2, y_channel=y_channel)
    for i in range(2):
        a, b = pred[i][:, 2:-2, 2:-2], target[i][:, 2:-2, 2:-2]
        if y_channel:
            want = np_ssim_channel(np_y(a), np_y(b), 255.0)
        else:
            want = np.mean([np_ssim_channel(a[c], b[c], 1.0) for c in range(3)])
        assert got[i].item() == pytest.approx(want, abs=1e-10)


def test_ssim_of_identical_is_one_and_drops_with_noise(pair):
    pred, target = (torch.from_numpy(a) for a in pair)
    assert metrics.ssim(target, target).tolist() == pytest.approx([1.0, 1.0], abs=1e-12)
    assert (metrics.ssim(pred, target) < 0.99).all()


def test_lr_psnr_with_box_kernel_is_psnr_of_block_means():
    rng = np.random.default_rng(2)
    lr = rng.random((1, 3, 6, 5))
    sr = np.repeat(np.repeat(lr, 2, axis=2), 2, axis=3) + rng.normal(0, 0.02, (1, 3, 12, 10))
    block_means = sr.reshape(1, 3, 6, 2, 5, 2).mean(axis=(3, 5))
    got = metrics.lr_psnr(torch.from_numpy(sr), torch.from_numpy(lr), kernel="box")
    assert got.item() == pytest.approx(np_psnr(block_means, lr, 1.0), abs=1e-9)
    exact = torch.from_numpy(np.repeat(np.repeat(lr, 2, axis=2), 2, axis=3))
    assert torch.isinf(metrics.lr_psnr(exact, torch.from_numpy(lr), kernel="box")).all()
    with pytest.raises(ValueError, match="differ in batch or channels"):
        metrics.lr_psnr(torch.rand(1, 3, 8, 8), torch.rand(1, 1, 4, 4))


@pytest.mark.parametrize("scale,shave", [(2, 2), (2.5, 3), (4, 4)])
def test_evaluate_sr_follows_protocol(scale, shave):
    rng = np.random.default_rng(7)
    hr = rng.random((1, 3, 30, 28))
    sr = hr + rng.normal(0, 0.05, hr.shape)  # some values leave [0, 1]: the protocol clamps them
    got = metrics.evaluate_sr(torch.from_numpy(sr), torch.from_numpy(hr), scale)
    a, b = np_y(np.clip(sr[0], 0, 1)), np_y(hr[0])
    a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    assert got["psnr"].item() == pytest.approx(np_psnr(a, b, 255.0), abs=1e-9)
    assert got["ssim"].item() == pytest.approx(np_ssim_channel(a, b, 255.0), abs=1e-10)
    unclamped = metrics.evaluate_sr(torch.from_numpy(sr), torch.from_numpy(hr), scale, clamp=False)["psnr"].item()
    assert unclamped != pytest.approx(got["psnr"].item(), abs=1e-6)
