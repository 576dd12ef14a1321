"""Blur kernels, blurring and border padding, in torch.

:func:`gaussian_kernel` builds a normalised 2-D Gaussian (MATLAB
``fspecial('gaussian')``); :func:`blur` convolves every channel with a 2-D kernel, output
the same size as the input, with a choice of border padding (:data:`PADDINGS`, applied
by :func:`pad`, which accepts any pad width).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

PADDINGS = ("reflect", "symmetric", "circular", "replicate", "zeros")


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
