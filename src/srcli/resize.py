"""MATLAB ``imresize``-compatible resampling and blur kernels, in torch.

Resampling (:func:`resize`, :func:`imresize_scale`) follows MATLAB's ``imresize``
exactly (up to floating-point rounding):

* Separable: each axis is resampled in turn. MATLAB's order is kept: the axis with the
  smaller scale first (H first when the scales are equal). Without rounding between the
  passes the order only affects the last bits, but shrinking first is also faster.
* Kernels (``kernel(x)``, ``x`` in input pixels) and their widths:
  ``"bicubic"`` Keys cubic with a = -0.5 (width 4); ``"lanczos2"`` / ``"lanczos3"``
  ``sinc(x) sinc(x / a)`` for ``|x| < a`` (width 2a; MATLAB adds ``eps`` to numerator and
  denominator, which changes values by ~1e-16); ``"bilinear"`` the triangle
  ``1 - |x|`` (width 2); ``"box"`` ``1`` on ``[-0.5, 0.5)`` (width 1); ``"nearest"`` the box
  kernel with antialiasing always off (MATLAB's nearest neighbour).
* Coordinates: output pixel ``x`` (1-based) maps to the input position
  ``u = x / scale + 0.5 * (1 - 1 / scale)`` (1-based), i.e. pixel centres align.
* Antialiasing: when ``scale < 1`` and ``antialias`` is on, the kernel becomes
  ``scale * kernel(scale * x)`` and its width ``width / scale``.
* Taps: input pixels ``floor(u - width / 2) + 0 .. ceil(width) + 1``; weights are the
  kernel at ``u - index``, normalised to sum to 1 for each output pixel.
* Borders: symmetric padding by MATLAB's index mirroring, ``[1..n, n..1]`` repeated.
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

Blur: :func:`gaussian_kernel` builds a normalised 2-D Gaussian (MATLAB
``fspecial('gaussian')``); :func:`blur` convolves every channel with a 2-D kernel, output
the same size as the input, with a choice of border padding.
"""

from __future__ import annotations

import functools
import math
import numbers
import operator
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

KERNEL_WIDTHS: dict[str, float] = {
    "bicubic": 4.0,
    "lanczos2": 4.0,
    "lanczos3": 6.0,
    "bilinear": 2.0,
    "box": 1.0,
    "nearest": 1.0,
}
KERNELS = tuple(KERNEL_WIDTHS)
PADDINGS = ("reflect", "symmetric", "circular", "replicate", "zeros")


def _cubic(x: torch.Tensor) -> torch.Tensor:
    a = x.abs()
    inner = (1.5 * a**3 - 2.5 * a**2 + 1.0) * (a <= 1)
    outer = (-0.5 * a**3 + 2.5 * a**2 - 4.0 * a + 2.0) * ((a > 1) & (a <= 2))
    return inner + outer


def _lanczos(lobes: int) -> Callable[[torch.Tensor], torch.Tensor]:
    def kernel(x: torch.Tensor) -> torch.Tensor:
        safe = torch.where(x == 0, torch.ones_like(x), x)
        value = torch.sin(math.pi * safe) * torch.sin(math.pi * safe / lobes) / (math.pi**2 * safe**2 / lobes)
        return torch.where(x == 0, torch.ones_like(x), value) * (x.abs() < lobes)

    return kernel


def _triangle(x: torch.Tensor) -> torch.Tensor:
    return (x + 1) * ((x >= -1) & (x < 0)) + (1 - x) * ((x >= 0) & (x <= 1))


def _box(x: torch.Tensor) -> torch.Tensor:
    return ((x >= -0.5) & (x < 0.5)).to(x.dtype)


_KERNEL_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "bicubic": _cubic,
    "lanczos2": _lanczos(2),
    "lanczos3": _lanczos(3),
    "bilinear": _triangle,
    "box": _box,
    "nearest": _box,
}


def _widened(function: Callable[[torch.Tensor], torch.Tensor], scale: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """The antialiasing kernel ``scale * function(scale * x)`` used when shrinking."""

    def kernel(x: torch.Tensor) -> torch.Tensor:
        return scale * function(scale * x)

    return kernel


def _check_kernel(kernel: str) -> None:
    if kernel not in KERNEL_WIDTHS:
        raise ValueError(f"unknown resize kernel {kernel!r}; use one of {', '.join(KERNELS)}")


def contributions(n_in: int, n_out: int, scale: float, kernel: str, antialias: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """MATLAB's per-axis tap weights and indices (float64, CPU).

    Args:
        n_in: input length.
        n_out: output length.
        scale: the scale MATLAB uses for this axis.
        kernel: one of :data:`KERNELS`.
        antialias: widen the kernel when shrinking (ignored for ``"nearest"``).

    Returns:
        ``(weights, indices)``, each ``(n_out, P)``; indices are 0-based, mirrored into
        ``[0, n_in)``; each row of weights sums to 1.
    """
    _check_kernel(kernel)
    function, width = _KERNEL_FUNCTIONS[kernel], KERNEL_WIDTHS[kernel]
    if scale < 1 and antialias and kernel != "nearest":
        function, width = _widened(function, scale), width / scale
    x = torch.arange(1, n_out + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - width / 2)
    taps = math.ceil(width) + 2
    indices = left[:, None] + torch.arange(taps, dtype=torch.float64)
    weights = function(u[:, None] - indices)
    weights = weights / weights.sum(dim=1, keepdim=True)
    mirrored = torch.remainder(indices.long() - 1, 2 * n_in)
    mirrored = torch.where(mirrored < n_in, mirrored, 2 * n_in - 1 - mirrored)
    used = (weights != 0).any(dim=0)
    return weights[:, used], mirrored[:, used]


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
    _check_kernel(kernel)
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


def gaussian_kernel(
    size: int, sigma: float, *, dtype: torch.dtype = torch.float32, device: torch.device | None = None
) -> torch.Tensor:
    """Normalised 2-D Gaussian, MATLAB ``fspecial('gaussian', size, sigma)``.

    Taps sit at ``-(size - 1) / 2 .. (size - 1) / 2`` (half-integers for even sizes).

    Returns:
        ``(size, size)`` tensor summing to 1.
    """
    if not (isinstance(size, int) and size > 0):
        raise ValueError(f"kernel size must be a positive integer, got {size!r}")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be positive, got {sigma!r}")
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * sigma**2))
    return (g / g.sum()).to(device=device, dtype=dtype)


def _pad_index(n: int, before: int, after: int, mode: str) -> torch.Tensor:
    """Source index of every padded position along one axis (any pad width)."""
    i = torch.arange(-before, n + after)
    if mode == "circular":
        return torch.remainder(i, n)
    if mode == "replicate":
        return i.clamp(0, n - 1)
    if mode == "symmetric":  # edge repeated: ... 1 0 | 0 1 2 ... n-1 | n-1 n-2 ...
        i = torch.remainder(i, 2 * n)
        return torch.where(i < n, i, 2 * n - 1 - i)
    if n == 1:  # reflect: edge not repeated
        return torch.zeros_like(i)
    i = torch.remainder(i, 2 * n - 2)
    return torch.where(i < n, i, 2 * n - 2 - i)


def pad(image: torch.Tensor, top: int, bottom: int, left: int, right: int, mode: str = "reflect") -> torch.Tensor:
    """Pad the last two axes with ``reflect``, ``symmetric``, ``circular``, ``replicate`` or ``zeros``.

    Unlike ``F.pad``, any pad width works (the rule repeats past the image).
    """
    if mode not in PADDINGS:
        raise ValueError(f"unknown padding {mode!r}; use one of {', '.join(PADDINGS)}")
    if mode == "zeros":
        return F.pad(image, (left, right, top, bottom))
    h, w = image.shape[-2:]
    rows = _pad_index(h, top, bottom, mode).to(image.device)
    cols = _pad_index(w, left, right, mode).to(image.device)
    return image.index_select(-2, rows).index_select(-1, cols)


def blur(image: torch.Tensor, kernel2d: torch.Tensor, padding: str = "reflect") -> torch.Tensor:
    """Convolve every channel with ``kernel2d`` (true convolution, same output size).

    ``out[i, j] = sum_ab kernel2d[a, b] * x[i + kh // 2 - a, j + kw // 2 - b]``: the centre
    is tap ``(kh // 2, kw // 2)`` (the middle for odd sizes). A rank-one kernel (a
    Gaussian) that does not require grad is applied as two 1-D passes.

    Args:
        image: ``(B, C, H, W)`` floating tensor.
        kernel2d: ``(kh, kw)`` kernel.
        padding: ``reflect`` (edge not repeated), ``symmetric`` (MATLAB), ``circular``,
            ``replicate`` or ``zeros``.

    Returns:
        ``(B, C, H, W)`` blurred image.
    """
    if image.ndim != 4:
        raise ValueError(f"blur needs a (B, C, H, W) image, got shape {tuple(image.shape)}")
    if kernel2d.ndim != 2:
        raise ValueError(f"blur needs a 2-D kernel, got shape {tuple(kernel2d.shape)}")
    kernel = kernel2d.flip(0, 1).to(device=image.device, dtype=image.dtype)
    kh, kw = kernel.shape
    c = image.shape[1]
    x = pad(image, (kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2, padding)
    columns, rows = _rank_one_factors(kernel)
    if columns is not None and rows is not None:
        x = F.conv2d(x, columns.view(1, 1, kh, 1).expand(c, 1, kh, 1), groups=c)
        return F.conv2d(x, rows.view(1, 1, 1, kw).expand(c, 1, 1, kw), groups=c)
    return F.conv2d(x, kernel.expand(c, 1, kh, kw), groups=c)


def _rank_one_factors(kernel: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(column, row)`` with ``kernel == outer(column, row)`` to 1e-6, else ``(None, None)``."""
    if kernel.requires_grad or min(kernel.shape) == 1:
        return None, None
    k64 = kernel.detach().double().cpu()
    pivot = int(k64.abs().argmax())
    r, c = divmod(pivot, k64.shape[1])
    column, row = k64[:, c], k64[r, :] / k64[r, c]
    if (torch.outer(column, row) - k64).abs().max() > 1e-6 * k64.abs().max():
        return None, None
    return column.to(kernel), row.to(kernel)
