"""MATLAB ``imresize``-compatible resampling, in torch.

Resampling (:func:`resize`, :func:`imresize_scale`) follows MATLAB's ``imresize``
exactly (up to floating-point rounding):

* Separable: each axis is resampled in turn. MATLAB's order is kept: the axis with the
  smaller scale first (H first when the scales are equal). Without rounding between the
  passes the order only affects the last bits, but shrinking first is also faster.
* Per-axis weights: kernels, coordinates, antialiasing, taps and mirrored borders are
  MATLAB's, built by :func:`srcli.resize_kernels.contributions` (see there).
* Scale: ``resize`` (an exact output size) uses ``scale = out / in`` per axis, as MATLAB
  does for ``imresize(A, [h w])``. ``imresize_scale`` uses the given scale for both axes
  and MATLAB's output size ``ceil(in * scale)`` (a product within 1e-9 relative of an
  integer counts as that integer, so ``0.1 * 30`` gives 3 and not 4).

Implementation: per axis the weights form a banded matrix, cut into blocks of 16-32
output pixels; each block reads one contiguous window of input pixels. Rows (H) are
resampled by gathering all windows and one batched matrix product; columns (W) by one
small matrix product per block on a strided view of the input, written into its slice of
the output (no transposes, which cost more than the arithmetic). Plans are built in float64 on the CPU and kept
in an LRU cache keyed by ``(in, out, scale, kernel, antialias)``, with converted copies
cached per ``(device, dtype)``. float32 and float64 are computed in their own precision;
float16 / bfloat16 are computed in float32 and cast back. Everything is differentiable.

The blur functions (:func:`gaussian_kernel`, :func:`blur`, :func:`pad`, :data:`PADDINGS`)
live in :mod:`srcli.filters`; they and the kernel names are re-exported here.
"""

from __future__ import annotations

import functools
import math
import numbers
import operator
from typing import NamedTuple

import torch

from srcli.filters import PADDINGS, blur, gaussian_kernel, pad
from srcli.resize_kernels import KERNEL_WIDTHS, KERNELS, check_kernel, contributions

__all__ = [  # public names, including those re-exported from srcli.resize_kernels and srcli.filters
    "KERNELS",
    "KERNEL_WIDTHS",
    "PADDINGS",
    "blur",
    "contributions",
    "gaussian_kernel",
    "imresize_output_size",
    "imresize_scale",
    "pad",
    "resize",
]


class _AxisPlan(NamedTuple):
    matrix: torch.Tensor  # (blocks, block, window): weights of each block of outputs
    starts: tuple[int, ...]  # first input pixel of each block's window
    window: torch.Tensor  # (blocks, window) input pixels read by each block
    n_out: int


def _block_size(n_out: int, scale: float) -> int:
    return min(n_out, 32 if scale >= 1 else 16)


@functools.lru_cache(maxsize=32)
def _cpu_plan(n_in: int, n_out: int, scale: float, kernel: str, antialias: bool) -> _AxisPlan:
    """Cut MATLAB's weights into blocks of outputs, each reading one window of inputs."""
    weights, indices = contributions(n_in, n_out, scale, kernel, antialias)
    block = _block_size(n_out, scale)
    blocks = math.ceil(n_out / block)
    extra = blocks * block - n_out
    weights = torch.cat([weights, weights.new_zeros(extra, weights.shape[1])]).view(blocks, block, -1)
    indices = torch.cat([indices, indices[-1:].expand(extra, -1)]).view(blocks, block, -1)
    nonzero = weights != 0
    start = torch.where(nonzero, indices, n_in).flatten(1).amin(dim=1)
    stop = torch.where(nonzero, indices, -1).flatten(1).amax(dim=1) + 1
    length = int((stop - start).max())
    start = start.clamp(max=n_in - length)
    offsets = (indices - start[:, None, None]).clamp(0, length - 1)  # zero-weight taps may fall outside
    matrix = torch.zeros(blocks, block, length, dtype=torch.float64).scatter_add_(2, offsets, weights)
    window = start[:, None] + torch.arange(length)
    return _AxisPlan(matrix, tuple(start.tolist()), window, n_out)


@functools.lru_cache(maxsize=32)
def _plan(
    n_in: int, n_out: int, scale: float, kernel: str, antialias: bool, device: torch.device, dtype: torch.dtype
) -> _AxisPlan:
    plan = _cpu_plan(n_in, n_out, scale, kernel, antialias)
    return _AxisPlan(plan.matrix.to(device=device, dtype=dtype), plan.starts, plan.window.to(device), n_out)


def _resample_rows(x: torch.Tensor, plan: _AxisPlan) -> torch.Tensor:
    """Resample axis 1 of ``x`` (N, H, W) -> (N, n_out, W): one gather, one batched product."""
    out = torch.matmul(plan.matrix, x[:, plan.window])  # (blocks, block, window) @ (N, blocks, window, W)
    return out.flatten(1, 2)[:, : plan.n_out]


def _resample_columns(x: torch.Tensor, plan: _AxisPlan) -> torch.Tensor:
    """Resample axis 2 of ``x`` (N, H, W) -> (N, H, n_out): one product per block of outputs.

    Each block multiplies a strided window of ``x`` (no gather, no transpose) and is
    copied into its slice of the output, so memory stays at input + output + one block.
    """
    block, length = plan.matrix.shape[1:]
    out = x.new_empty(*x.shape[:2], plan.n_out)
    for k, (weights, start) in enumerate(zip(plan.matrix, plan.starts)):
        rows = min(block, plan.n_out - k * block)
        out[..., k * block : k * block + rows] = torch.matmul(x[..., start : start + length], weights[:rows].T)
    return out


def _resample(
    image: torch.Tensor, size: tuple[int, int], scales: tuple[float, float], kernel: str, antialias: bool
) -> torch.Tensor:
    """Resample the last two axes of ``image`` to ``size`` with MATLAB's per-axis scales."""
    if image.ndim < 2:
        raise ValueError(f"resize needs an image with at least 2 dimensions (..., H, W), got shape {tuple(image.shape)}")
    if not image.is_floating_point():
        raise TypeError(f"resize needs a floating-point image, got {image.dtype}")
    check_kernel(kernel)
    antialias = antialias and kernel != "nearest"
    lead, (h, w) = image.shape[:-2], image.shape[-2:]
    compute = image.dtype if image.dtype in (torch.float32, torch.float64) else torch.float32
    x = image.reshape(-1, h, w).to(compute)
    order = (0, 1) if scales[0] <= scales[1] else (1, 0)
    passes = [axis for axis in order if not ((h, w)[axis] == size[axis] and scales[axis] == 1)]
    if not passes:
        return image.clone()
    for axis in passes:
        plan = _plan((h, w)[axis], size[axis], float(scales[axis]), kernel, antialias, x.device, compute)
        x = _resample_rows(x, plan) if axis == 0 else _resample_columns(x, plan)
    return x.reshape(*lead, *size).to(image.dtype).contiguous()


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    """``(H_out, W_out)`` as Python ints; integer-like values (numpy, 0-d tensors) are accepted."""
    try:
        if len(size) != 2 or any(isinstance(s, bool) for s in size):
            raise TypeError
        h, w = operator.index(size[0]), operator.index(size[1])
    except TypeError:
        h = w = 0
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be two positive integers (H_out, W_out), got {size!r}")
    return h, w


def resize(image: torch.Tensor, size: tuple[int, int], kernel: str = "bicubic", antialias: bool = True) -> torch.Tensor:
    """Resize to an exact size like MATLAB ``imresize(A, [H_out W_out], kernel)``.

    Per-axis scales are ``H_out / H`` and ``W_out / W``.

    Args:
        image: ``(..., H, W)`` floating tensor, usually ``(B, C, H, W)``; any channel count.
        size: ``(H_out, W_out)``.
        kernel: one of ``bicubic, lanczos2, lanczos3, bilinear, box, nearest``.
        antialias: widen the kernel when shrinking (never for ``nearest``).

    Returns:
        ``(..., H_out, W_out)`` tensor on the input's device, in its dtype.

    Raises:
        ValueError: bad size, unknown kernel or too few dimensions.
        TypeError: integer images.
    """
    size = _check_size(size)
    h, w = image.shape[-2:] if image.ndim >= 2 else (1, 1)
    return _resample(image, size, (size[0] / h, size[1] / w), kernel, antialias)


def imresize_output_size(hw: tuple[int, int], scale: float) -> tuple[int, int]:
    """MATLAB's output size for ``imresize(A, scale)``: ``ceil(n * scale)`` per side.

    A product within 1e-9 (relative) of an integer is taken as that integer.
    """
    if not (isinstance(scale, numbers.Real) and not isinstance(scale, bool) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    scale = float(scale)

    def length(n: int) -> int:
        product = n * scale
        nearest = round(product)
        return max(1, nearest if abs(product - nearest) <= 1e-9 * max(1.0, product) else math.ceil(product))

    return length(hw[0]), length(hw[1])


def imresize_scale(image: torch.Tensor, scale: float, kernel: str = "bicubic", antialias: bool = True) -> torch.Tensor:
    """Resize by a factor like MATLAB ``imresize(A, scale, kernel)``.

    The output size is :func:`imresize_output_size`; the weights use ``scale`` itself
    (not ``out / in``), as MATLAB does.

    Args:
        image: ``(..., H, W)`` floating tensor.
        scale: positive factor (``0.5`` halves, ``2`` doubles).
        kernel: see :func:`resize`.
        antialias: see :func:`resize`.

    Returns:
        ``(..., ceil(H * scale), ceil(W * scale))`` tensor.
    """
    if image.ndim < 2:
        raise ValueError(f"resize needs an image with at least 2 dimensions (..., H, W), got shape {tuple(image.shape)}")
    size = imresize_output_size(tuple(image.shape[-2:]), scale)
    return _resample(image, size, (float(scale), float(scale)), kernel, antialias)
