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


#: largest side of a ``gauss:``/``box:`` kernel
MAX_KERNEL_SIZE = 1023


def _read_kernel_file(path: Path) -> np.ndarray:
    """The numbers of a kernel file as float64 (ForwardModelError when it holds none or not numbers)."""
    import warnings

    suffix = path.suffix.lower()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # loadtxt warns on an empty file; the size check below says it
            if suffix == ".npy":
                array = np.asarray(np.load(path, allow_pickle=False), dtype=np.float64)
            elif suffix in {".txt", ".csv"}:
                array = np.loadtxt(path, delimiter="," if suffix == ".csv" else None, ndmin=2)
            else:
                from PIL import Image

                with Image.open(path) as im:
                    array = np.asarray(im.convert("F"), dtype=np.float64)
    except (OSError, ValueError, TypeError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ForwardModelError(f"cannot read blur kernel {path}: {reason}") from None
    if array.size == 0:
        raise ForwardModelError(f"blur kernel {path} holds no numbers")
    return array


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
    if parts[0] in {"gauss", "gaussian", "box"} and len(parts) == (2 if parts[0] == "box" else 3):
        try:
            size = int(parts[1])
            if not 1 <= size <= MAX_KERNEL_SIZE:
                raise ValueError(f"kernel size must be an integer from 1 to {MAX_KERNEL_SIZE}, got {size}")
            if parts[0] == "box":
                return torch.full((size, size), 1.0 / (size * size))
            from srcli.resize import gaussian_kernel

            return gaussian_kernel(size, float(parts[2]))
        except ValueError as exc:
            raise ForwardModelError(f"bad blur kernel {spec!r} ({exc}); use gauss:SIZE:SIGMA, box:SIZE or a file") from None
    path = Path(spec)
    if not path.is_file():
        raise ForwardModelError(f"blur kernel {spec!r} is neither gauss:SIZE:SIGMA, box:SIZE nor an existing file")
    array = _read_kernel_file(path)
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
