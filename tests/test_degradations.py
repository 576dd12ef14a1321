"""Tests for srcli.training.degradations."""

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from srcli.training import degradations as dg


def gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("scale,hw,expected", [(2, (101, 98), (100, 98)), (3, (101, 98), (99, 96)), (4, (101, 98), (100, 96)),
                                               (2.5, (101, 98), (100, 97)), (3.7, (100, 37), (99, 37))])
def test_mod_crop_sizes(scale, hw, expected):
    image = torch.rand(1, 3, *hw)
    cropped = dg.mod_crop(image, scale)
    assert tuple(cropped.shape[-2:]) == expected
    assert torch.equal(cropped, image[..., : expected[0], : expected[1]])


@pytest.mark.parametrize("scale", [2, 3, 4, 1.5, 2.5, 3.3, 3.7, 6.5])
def test_mod_crop_then_downscale_gives_floor_lr(scale):
    for n in range(math.ceil(scale), 200):
        kept = dg.mod_crop(torch.zeros(1, 1, n, 8), scale).shape[-2]
        assert n - scale - 1 < kept <= n  # at most ceil(scale) pixels go
        assert math.ceil(kept / scale - 1e-9) == math.floor(n / scale + 1e-9), (n, scale)  # MATLAB's LR size
    image = torch.zeros(1, 1, 77, 61)
    lr = dg.bicubic_downscale(dg.mod_crop(image, scale), scale)
    assert tuple(lr.shape[-2:]) == (math.floor(77 / scale + 1e-9), math.floor(61 / scale + 1e-9))


def test_mod_crop_rejects_bad_scale_and_tiny_images():
    with pytest.raises(ValueError, match="scale must be a number >= 1"):
        dg.mod_crop(torch.rand(1, 1, 8, 8), 0.5)
    with pytest.raises(ValueError, match="smaller than the scale"):
        dg.mod_crop(torch.rand(1, 1, 3, 8), 4)


def test_bicubic_downscale_interior_value_by_hand():
    rng = np.random.default_rng(0)
    row = rng.random(40)
    image = torch.from_numpy(np.tile(row, (4, 1)))[None, None]
    lr = dg.bicubic_downscale(image, 2)
    assert lr.shape == (1, 1, 2, 20)

    def cubic(d):
        a = abs(d)
        return 1.5 * a**3 - 2.5 * a**2 + 1 if a <= 1 else (-0.5 * a**3 + 2.5 * a**2 - 4 * a + 2 if a <= 2 else 0.0)

    # output pixel 10 (1-based) sits at input u = 19.5 (1-based); the widened kernel is 0.5 cubic(d / 2)
    u = 10 / 0.5 + 0.5 * (1 - 2)
    js = np.arange(16, 24)
    w = np.array([0.5 * cubic(0.5 * (u - j)) for j in js])
    assert lr[0, 0, 0, 9].item() == pytest.approx(float(np.dot(w / w.sum(), row[js - 1])), abs=1e-12)


def test_quantize_8bit():
    x = torch.tensor([-0.2, 0.0, 0.3, 10.5 / 255, 254.49 / 255, 1.3])
    q = dg.quantize_8bit(x)
    np.testing.assert_allclose((q * 255).numpy(), [0, 0, 77, 11, 254, 255], atol=1e-4)


def test_noise_is_seeded_and_has_the_right_statistics():
    image = torch.full((1, 3, 128, 128), 0.5)
    a = dg.add_gaussian_noise(image, 25, generator=gen(1))
    b = dg.add_gaussian_noise(image, 25, generator=gen(1))
    c = dg.add_gaussian_noise(image, 25, generator=gen(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    noise = (a - image).double()
    assert noise.std().item() == pytest.approx(25 / 255, rel=0.02)
    assert abs(noise.mean().item()) < 3 * (25 / 255) / math.sqrt(noise.numel())
    assert a.dtype == torch.float32
    clipped = dg.add_gaussian_noise(torch.zeros(1, 1, 16, 16), 50, generator=gen(3), clip=True)
    assert clipped.min().item() == 0.0 and clipped.max().item() <= 1.0
    with pytest.raises(ValueError, match="0-255 units"):
        dg.add_gaussian_noise(image, -1)


def test_gaussian_blur_matches_scipy():
    rng = np.random.default_rng(4)
    image = rng.random((1, 2, 20, 17))
    got = dg.gaussian_blur(torch.from_numpy(image), 7, 1.2).numpy()
    for c in range(2):
        want = ndimage.gaussian_filter(image[0, c], 1.2, truncate=3 / 1.2, mode="mirror")
        np.testing.assert_allclose(got[0, c], want, atol=1e-12)
    flat = dg.gaussian_blur(torch.full((1, 3, 9, 9), 0.4), 25, 1.6, padding="circular")
    assert torch.allclose(flat, torch.full_like(flat, 0.4), atol=1e-6)


def test_drop_pixels_bernoulli_ratio_and_seed():
    image = torch.rand(2, 3, 128, 128) + 0.1
    dropped, mask = dg.drop_pixels(image, 0.8, generator=gen(5))
    again, mask_again = dg.drop_pixels(image, 0.8, generator=gen(5))
    assert torch.equal(dropped, again) and torch.equal(mask, mask_again)
    assert mask.shape == (2, 1, 128, 128) and mask.dtype == image.dtype
    assert 1 - mask.mean().item() == pytest.approx(0.8, abs=0.01)
    assert torch.equal(dropped == 0, (mask == 0).expand_as(image))
    assert torch.equal(dropped[mask.expand_as(image) == 1], image[mask.expand_as(image) == 1])


def test_drop_pixels_exact_count_and_edges():
    image = torch.rand(3, 1, 10, 7) + 0.1
    _, mask = dg.drop_pixels(image, 0.3, generator=gen(6), exact=True)
    assert mask.flatten(1).sum(dim=1).tolist() == [70 - 21] * 3
    assert dg.drop_pixels(image, 0.0, generator=gen(0))[1].min().item() == 1.0
    assert dg.drop_pixels(image, 1.0, generator=gen(0))[1].max().item() == 0.0
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        dg.drop_pixels(image, 1.5)
