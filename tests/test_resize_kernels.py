"""Tests for srcli.resize_kernels: MATLAB's per-axis tap weights, checked by hand."""

import pytest
import torch

from srcli.resize_kernels import KERNEL_WIDTHS, KERNELS, check_kernel, contributions


def dense_row(n_in, n_out, scale, kernel, antialias, row):
    """Weights of output ``row`` over the ``n_in`` input pixels (mirrored taps summed)."""
    weights, indices = contributions(n_in, n_out, scale, kernel, antialias)
    return torch.zeros(n_in, dtype=torch.float64).index_add_(0, indices[row], weights[row])


def test_bicubic_weights_by_hand_at_x2():
    # output 10 (1-based) of 20 sits at input 5.25 (1-based): taps at distances 1.25, 0.25, -0.75, -1.75
    want = torch.zeros(10, dtype=torch.float64)
    want[3:7] = torch.tensor([-0.0703125, 0.8671875, 0.2265625, -0.0234375], dtype=torch.float64)
    torch.testing.assert_close(dense_row(10, 20, 2.0, "bicubic", True, 9), want, rtol=0, atol=1e-15)


def test_border_taps_are_mirrored():
    # output 1 of 8 sits at input 0.75: taps 0, -1 mirror onto pixels 1, 2 (1-based)
    want = torch.tensor([0.2265625 + 0.8671875, -0.0234375 - 0.0703125, 0.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(dense_row(4, 8, 2.0, "bicubic", True, 0), want, rtol=0, atol=1e-15)


def test_antialias_widens_the_kernel_when_shrinking():
    # output 5 of 10 sits at input 9.5 (1-based), between pixels 9 and 10
    wide = torch.zeros(20, dtype=torch.float64)
    wide[7:11] = torch.tensor([0.125, 0.375, 0.375, 0.125], dtype=torch.float64)
    torch.testing.assert_close(dense_row(20, 10, 0.5, "bilinear", True, 4), wide, rtol=0, atol=1e-15)
    narrow = torch.zeros(20, dtype=torch.float64)
    narrow[8:10] = 0.5
    torch.testing.assert_close(dense_row(20, 10, 0.5, "bilinear", False, 4), narrow, rtol=0, atol=1e-15)
    with_aa, without_aa = contributions(20, 10, 0.5, "nearest", True), contributions(20, 10, 0.5, "nearest", False)
    assert all(torch.equal(a, b) for a, b in zip(with_aa, without_aa))  # nearest never antialiases


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("n_in,n_out,scale", [(13, 5, 0.37), (9, 9, 1.0), (7, 18, 2.5)])
def test_rows_sum_to_one_and_indices_stay_inside(kernel, n_in, n_out, scale):
    for antialias in (True, False):
        weights, indices = contributions(n_in, n_out, scale, kernel, antialias)
        assert weights.shape == indices.shape and weights.shape[0] == n_out
        assert weights.dtype == torch.float64 and indices.dtype == torch.int64
        torch.testing.assert_close(weights.sum(1), torch.ones(n_out, dtype=torch.float64), rtol=0, atol=1e-12)
        assert int(indices.min()) >= 0 and int(indices.max()) < n_in


def test_unknown_kernels_are_rejected():
    assert KERNELS == tuple(KERNEL_WIDTHS)
    check_kernel("lanczos3")
    with pytest.raises(ValueError, match="unknown resize kernel 'cubic2'; use one of bicubic"):
        check_kernel("cubic2")
    with pytest.raises(ValueError, match="unknown resize kernel"):
        contributions(4, 8, 2.0, "cubic2", True)
