"""MATLAB ``imresize`` interpolation kernels and per-axis tap weights, in torch.

:func:`contributions` gives, for one axis, the weights and input indices MATLAB's
``imresize`` uses (up to floating-point rounding); :mod:`srcli.resize` applies them.

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
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

KERNEL_WIDTHS: dict[str, float] = {
    "bicubic": 4.0,
    "lanczos2": 4.0,
    "lanczos3": 6.0,
    "bilinear": 2.0,
    "box": 1.0,
    "nearest": 1.0,
}
KERNELS = tuple(KERNEL_WIDTHS)


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


def check_kernel(kernel: str) -> None:
    """Raise ``ValueError`` naming the known kernels unless ``kernel`` is one of :data:`KERNELS`."""
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
    check_kernel(kernel)
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
