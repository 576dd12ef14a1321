"""Tests for srcli.resize against an independent loop port of MATLAB imresize."""

import math

import numpy as np
import pytest
import torch

from srcli import filters, resize_kernels
from srcli import resize as rz

# ---------------------------------------------------------------------------------------
# Independent reference: MATLAB's imresize.m algorithm, written with plain Python loops.
# ---------------------------------------------------------------------------------------


def ref_kernel(name, x):
    a = abs(x)
    if name == "bicubic":
        if a <= 1:
            return 1.5 * a**3 - 2.5 * a**2 + 1
        if a <= 2:
            return -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2
        return 0.0
    if name in ("lanczos2", "lanczos3"):
        n = 2 if name == "lanczos2" else 3
        if a >= n:
            return 0.0
        return 1.0 if x == 0 else n * math.sin(math.pi * x) * math.sin(math.pi * x / n) / (math.pi * x) ** 2
    if name == "bilinear":
        return max(0.0, 1 - a)
    if name in ("box", "nearest"):
        return 1.0 if -0.5 <= x < 0.5 else 0.0
    raise KeyError(name)


REF_WIDTH = {"bicubic": 4, "lanczos2": 4, "lanczos3": 6, "bilinear": 2, "box": 1, "nearest": 1}


def ref_resize_axis(column, n_out, scale, name):
    """Resample a 1-D numpy array like MATLAB (1-based formulas, mirrored borders)."""
    n_in = len(column)
    width = REF_WIDTH[name]
    antialias = scale < 1 and name != "nearest"
    if antialias:
        width = width / scale
    mirror = list(range(1, n_in + 1)) + list(range(n_in, 0, -1))
    out = np.zeros(n_out)
    for x in range(1, n_out + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        taps = math.ceil(width) + 2
        weights, sources = [], []
        for k in range(taps):
            j = left + k
            d = u - j
            weights.append(scale * ref_kernel(name, scale * d) if antialias else ref_kernel(name, d))
            sources.append(mirror[(j - 1) % (2 * n_in)] - 1)
        total = sum(weights)
        out[x - 1] = sum(w / total * column[s] for w, s in zip(weights, sources))
    return out


def ref_imresize(image, out_hw, scales, name):
    """(H, W) numpy image -> resized, smaller scale first (rows first when equal)."""
    result = np.asarray(image, dtype=np.float64)
    order = [0, 1] if scales[0] <= scales[1] else [1, 0]
    for dim in order:
        moved = np.moveaxis(result, dim, 0)
        out = np.zeros((out_hw[dim], moved.shape[1]))
        for col in range(moved.shape[1]):
            out[:, col] = ref_resize_axis(moved[:, col], out_hw[dim], scales[dim], name)
        result = np.moveaxis(out, 0, dim)
    return result


def ref_out_len(n, scale):
    return math.ceil(n * scale)


# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", ["bicubic", "lanczos2", "lanczos3", "bilinear", "box", "nearest"])
@pytest.mark.parametrize("scale", [1 / 3, 0.37, 2.0, 2.5, 3.7])
def test_scale_matches_loop_port(kernel, scale):
    rng = np.random.default_rng(int(scale * 1000))
    image = rng.random((2, 13, 10))  # two channels, odd and even sides
    got = rz.imresize_scale(torch.from_numpy(image)[None], scale, kernel)[0].numpy()
    out_hw = (ref_out_len(13, scale), ref_out_len(10, scale))
    assert got.shape == (2, *out_hw)
    for c in range(2):
        want = ref_imresize(image[c], out_hw, (scale, scale), kernel)
        np.testing.assert_allclose(got[c], want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kernel", ["bicubic", "lanczos3", "bilinear", "nearest"])
@pytest.mark.parametrize("in_hw,out_hw", [((11, 17), (29, 6)), ((20, 9), (7, 23)), ((15, 12), (15, 31)), ((7, 5), (1, 2))])
def test_size_matches_loop_port_with_different_axis_scales(kernel, in_hw, out_hw):
    rng = np.random.default_rng(sum(in_hw) * 31 + sum(out_hw))
    image = rng.random(in_hw)
    got = rz.resize(torch.from_numpy(image)[None, None], out_hw, kernel)[0, 0].numpy()
    scales = (out_hw[0] / in_hw[0], out_hw[1] / in_hw[1])
    np.testing.assert_allclose(got, ref_imresize(image, out_hw, scales, kernel), atol=1e-6, rtol=0)


def test_large_axis_uses_several_blocks_and_matches():
    rng = np.random.default_rng(5)
    image = rng.random((70, 45))  # several blocks of outputs along both axes
    for scale in (0.37, 2.5):
        got = rz.imresize_scale(torch.from_numpy(image)[None, None], scale)[0, 0].numpy()
        out_hw = (ref_out_len(70, scale), ref_out_len(45, scale))
        np.testing.assert_allclose(got, ref_imresize(image, out_hw, (scale, scale), "bicubic"), atol=1e-6, rtol=0)


def test_no_antialias_shrink_uses_plain_kernel():
    rng = np.random.default_rng(1)
    image = rng.random((12, 12))
    got = rz.imresize_scale(torch.from_numpy(image)[None, None], 0.5, "bicubic", antialias=False)[0, 0].numpy()
    # output index 2 (0-based) sits at input 4.5 (0-based): taps 3..6 at distances 1.5, 0.5, -0.5, -1.5
    w = np.array([ref_kernel("bicubic", d) for d in (1.5, 0.5, -0.5, -1.5)])
    taps = [3, 4, 5, 6]
    value = sum(w[a] * w[b] * image[taps[a], taps[b]] for a in range(4) for b in range(4)) / w.sum() ** 2
    assert got[2, 2] == pytest.approx(value, abs=1e-12)


@pytest.mark.parametrize("kernel", ["bicubic", "lanczos2", "lanczos3", "bilinear", "box", "nearest"])
def test_constant_image_stays_constant(kernel):
    image = torch.full((1, 3, 9, 14), 0.3, dtype=torch.float64)
    for size in [(20, 31), (4, 5), (9, 40), (1, 1)]:
        out = rz.resize(image, size, kernel)
        assert torch.allclose(out, torch.full_like(out, 0.3), atol=1e-12)


def test_bicubic_x2_reproduces_a_linear_ramp_inside():
    ramp = torch.arange(20, dtype=torch.float64).expand(1, 1, 6, 20)
    out = rz.imresize_scale(ramp, 2.0)[0, 0, 0]
    x = torch.arange(1, 41, dtype=torch.float64)
    expected = x / 2 + 0.25 - 1  # MATLAB's u, as a 0-based position on the ramp
    inside = slice(4, 36)  # away from the mirrored borders
    assert torch.allclose(out[inside], expected[inside], atol=1e-12)


def test_nearest_repeats_and_picks_matlab_pixels():
    image = torch.arange(12, dtype=torch.float32).view(1, 1, 3, 4)
    up = rz.imresize_scale(image, 2.0, "nearest")
    assert torch.equal(up, image.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3))
    big = torch.arange(64, dtype=torch.float32).view(1, 1, 8, 8)
    down = rz.imresize_scale(big, 0.5, "nearest")  # MATLAB picks A(2:2:end, 2:2:end)
    assert torch.equal(down, big[..., 1::2, 1::2])


def test_box_halving_is_2x2_mean():
    image = torch.rand(2, 3, 8, 6, dtype=torch.float64)
    out = rz.imresize_scale(image, 0.5, "box")
    expected = image.view(2, 3, 4, 2, 3, 2).mean(dim=(3, 5))
    assert torch.allclose(out, expected, atol=1e-12)


def test_dtypes_devices_leading_dims_and_grad():
    image = torch.rand(2, 5, 10, 12)
    out = rz.resize(image, (7, 20))
    assert out.dtype == torch.float32 and out.shape == (2, 5, 7, 20) and out.is_contiguous()
    as64 = rz.resize(image.double(), (7, 20))
    assert torch.allclose(out.double(), as64, atol=1e-5)
    assert rz.resize(image.bfloat16(), (7, 20)).dtype == torch.bfloat16
    assert rz.resize(image[0], (7, 20)).shape == (5, 7, 20)
    assert rz.resize(image[0, 0], (7, 20)).shape == (7, 20)
    same = rz.resize(image, (10, 12))
    assert torch.equal(same, image) and same.data_ptr() != image.data_ptr()
    leaf = image.clone().requires_grad_(True)
    rz.resize(leaf, (21, 5), "lanczos3").sum().backward()
    assert leaf.grad is not None and leaf.grad.shape == leaf.shape


def test_gradients_through_several_blocks_pass_gradcheck():
    image = torch.rand(1, 1, 20, 30, dtype=torch.float64, requires_grad=True)  # 3 blocks of rows, 2 of columns
    assert torch.autograd.gradcheck(lambda x: rz.resize(x, (70, 45), "lanczos2"), (image,), fast_mode=True)


def test_imresize_output_size_rules():
    assert rz.imresize_output_size((10, 7), 0.5) == (5, 4)
    assert rz.imresize_output_size((30, 30), 0.1) == (3, 3)  # 0.1 * 30 is 3.0000000000000004
    assert rz.imresize_output_size((513, 255), 1 / 3) == (171, 85)
    assert rz.imresize_output_size((5, 3), 2.5) == (13, 8)
    assert rz.imresize_output_size((3, 3), 0.01) == (1, 1)


def test_bad_inputs_raise_clearly():
    image = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="unknown resize kernel 'cubic2'"):
        rz.resize(image, (4, 4), "cubic2")
    with pytest.raises(ValueError, match="two positive integers"):
        rz.resize(image, (0, 4))
    with pytest.raises(ValueError, match="two positive integers"):
        rz.resize(image, (4.5, 4))
    with pytest.raises(TypeError, match="floating-point"):
        rz.resize(torch.zeros(1, 1, 4, 4, dtype=torch.uint8), (2, 2))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        rz.resize(torch.rand(5), (2, 2))
    with pytest.raises(ValueError, match="positive finite"):
        rz.imresize_scale(image, -2.0)
    with pytest.raises(ValueError, match="two positive integers"):
        rz.resize(image, 8)


def test_integer_like_sizes_and_scales_are_accepted():
    image = torch.rand(1, 2, 6, 5)
    assert rz.resize(image, (np.int64(9), torch.tensor(4))).shape == (1, 2, 9, 4)
    assert rz.resize(image, torch.Size([3, 3])).shape == (1, 2, 3, 3)
    assert rz.imresize_scale(image, np.float32(1.5)).shape == (1, 2, 9, 8)


def test_kernel_and_blur_names_stay_importable_from_resize():
    for name in ("KERNELS", "KERNEL_WIDTHS", "contributions"):
        assert getattr(rz, name) is getattr(resize_kernels, name), name
    for name in ("PADDINGS", "blur", "gaussian_kernel", "pad"):
        assert getattr(rz, name) is getattr(filters, name), name
