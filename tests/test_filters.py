"""Tests for srcli.filters: Gaussian kernel, blur against SciPy, padding against NumPy."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from srcli.filters import blur, gaussian_kernel, pad


def test_gaussian_kernel_matches_formula():
    k = gaussian_kernel(25, 1.6, dtype=torch.float64)
    t = np.arange(25) - 12.0
    g = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * 1.6**2))
    np.testing.assert_allclose(k.numpy(), g / g.sum(), rtol=1e-12, atol=1e-15)
    assert gaussian_kernel(4, 1.0).sum().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_kernel(5, 0.0)


@pytest.mark.parametrize("padding,scipy_mode", [("reflect", "mirror"), ("symmetric", "reflect"),
                                                ("circular", "wrap"), ("replicate", "nearest"), ("zeros", "constant")])
def test_blur_matches_scipy_convolve(padding, scipy_mode):
    rng = np.random.default_rng(3)
    image = rng.random((2, 9, 11))
    for kernel in (rng.random((5, 3)), gaussian_kernel(7, 1.2, dtype=torch.float64).numpy()):
        got = blur(torch.from_numpy(image)[None], torch.from_numpy(kernel), padding)[0].numpy()
        for c in range(2):
            want = ndimage.convolve(image[c], kernel, mode=scipy_mode, cval=0.0)
            np.testing.assert_allclose(got[c], want, atol=1e-10)


def test_blur_centre_of_even_kernels_and_grad():
    image = torch.rand(1, 2, 6, 7, dtype=torch.float64)
    delta = torch.zeros(4, 2, dtype=torch.float64)
    delta[2, 1] = 1.0
    assert torch.equal(blur(image, delta, "zeros"), image)
    shift = torch.zeros(3, 3, dtype=torch.float64)
    shift[1, 2] = 1.0  # out[i, j] = x[i, j - 1]
    assert torch.equal(blur(image, shift, "zeros")[..., 1:], image[..., :-1])
    kernel = torch.rand(3, 3, dtype=torch.float64, requires_grad=True)
    blur(image, kernel, "circular").sum().backward()
    assert kernel.grad is not None


@pytest.mark.parametrize("mode,numpy_mode", [("reflect", "reflect"), ("symmetric", "symmetric"),
                                             ("circular", "wrap"), ("replicate", "edge")])
def test_pad_wider_than_image_matches_numpy(mode, numpy_mode):
    image = np.arange(12.0).reshape(3, 4)
    got = pad(torch.from_numpy(image), 7, 2, 9, 1, mode).numpy()
    np.testing.assert_array_equal(got, np.pad(image, ((7, 2), (9, 1)), mode=numpy_mode))
    with pytest.raises(ValueError, match="unknown padding"):
        pad(torch.from_numpy(image), 1, 1, 1, 1, "mirror")
