"""Blur kernels and noise estimation for LINR's forward models (:mod:`srcli.tasks.forward_models`).

* :func:`parse_blur_kernel` builds the kernel of a :class:`~srcli.tasks.forward_models.Blur`
  from ``"gauss:SIZE:SIGMA"``, ``"box:SIZE"`` or a file (``.npy``, ``.txt``/``.csv`` or an
  image), normalised to sum 1.
* :func:`estimate_noise_sigma` measures the white Gaussian noise of an observation
  (Donoho's MAD rule), for LINR's reference-free stopping rule.

:class:`ForwardModelError`, the user error of both modules, is defined here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from srcli.errors import UsageError

#: MAD of a standard normal: median(|N(0, 1)|)
MAD_TO_SIGMA = 0.6744897501960817


class ForwardModelError(UsageError):
    """A corruption operator that cannot be built or applied (message meant for the user)."""


def _read_kernel_file(path: Path) -> np.ndarray:
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix in {".txt", ".csv"}:
            return np.loadtxt(path, delimiter="," if suffix == ".csv" else None, ndmin=2)
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im.convert("F"), dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise ForwardModelError(f"cannot read blur kernel {path}: {exc}") from None


def parse_blur_kernel(spec: str) -> torch.Tensor:
    """Blur kernel from ``"gauss:SIZE:SIGMA"``, ``"box:SIZE"`` or a file, normalised to sum 1.

    Files: ``.npy`` (2-D array), ``.txt``/``.csv`` (rows of numbers) or an image
    (``.png``, ``.tif``, ... read as grey values).

    Returns:
        ``(kh, kw)`` float32 tensor summing to 1.

    Raises:
        ForwardModelError: bad spec, unreadable file, not 2-D, non-finite or non-positive sum.
    """
    parts = spec.strip().lower().split(":")
    try:
        if parts[0] in {"gauss", "gaussian"} and len(parts) == 3:
            from srcli.resize import gaussian_kernel

            return gaussian_kernel(int(parts[1]), float(parts[2]))
        if parts[0] == "box" and len(parts) == 2 and int(parts[1]) >= 1:
            n = int(parts[1])
            return torch.full((n, n), 1.0 / (n * n))
    except ValueError as exc:
        raise ForwardModelError(f"bad blur kernel {spec!r} ({exc}); use gauss:SIZE:SIGMA, box:SIZE or a file") from None
    path = Path(spec)
    if not path.is_file():
        raise ForwardModelError(f"blur kernel {spec!r} is neither gauss:SIZE:SIGMA, box:SIZE nor an existing file")
    array = np.asarray(_read_kernel_file(path), dtype=np.float64)
    if array.ndim != 2:
        raise ForwardModelError(f"blur kernel {path} must be 2-D, got shape {array.shape}")
    total = float(array.sum())
    if not np.isfinite(array).all() or total <= 0:
        raise ForwardModelError(f"blur kernel {path} must be finite with a positive sum (got sum {total:g})")
    return torch.from_numpy(array / total).float()


def estimate_noise_sigma(image: torch.Tensor) -> float:
    """Donoho's robust estimate of white Gaussian noise: ``median(|HH|) / 0.6745``.

    ``HH`` is the finest diagonal subband of the orthonormal Haar transform,
    ``(a - b - c + d) / 2`` on each 2x2 block; natural images are nearly flat there, so
    its median absolute value measures the noise. All channels are pooled.

    Args:
        image: ``(B, C, H, W)``, ``(C, H, W)`` or ``(H, W)`` with ``H, W >= 2``.

    Returns:
        The standard deviation on the image's scale.
    """
    x = image.detach().float()
    if x.dim() < 2 or x.shape[-1] < 2 or x.shape[-2] < 2:
        raise ForwardModelError(f"noise estimation needs an image of at least 2x2 pixels, got shape {tuple(image.shape)}")
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :h, :w]
    hh = (x[..., 0::2, 0::2] - x[..., 0::2, 1::2] - x[..., 1::2, 0::2] + x[..., 1::2, 1::2]) / 2.0
    return float(hh.abs().median()) / MAD_TO_SIGMA
