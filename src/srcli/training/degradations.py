"""Degradations that make training and benchmark inputs: crop, downscale, noise, blur, drops.

Images are ``(B, C, H, W)`` floating tensors in [0, 1]. Every random function takes an
optional ``torch.Generator``: the same generator state gives the same result. Random
numbers are drawn on the generator's device (the CPU by default) and moved to the
image's device, so a CPU generator gives the same numbers whatever the image's device.
"""

from __future__ import annotations

import math

import torch

from srcli.resize import blur, gaussian_kernel, imresize_scale


def _check_scale(scale: float) -> float:
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale >= 1):
        raise ValueError(f"scale must be a number >= 1, got {scale!r}")
    return float(scale)


def lr_length(length: int, scale: float) -> int:
    """LR length for an HR length: ``floor(length / scale)`` (1e-9 tolerance), at least 1."""
    return max(1, math.floor(length / _check_scale(scale) + 1e-9))


def mod_length(length: int, scale: float) -> int:
    """HR length kept by :func:`mod_crop`: ``floor(lr_length * scale)`` (1e-9 tolerance).

    For an integer scale this is the largest multiple of ``scale`` not above ``length``.
    For a fractional scale it is the largest length whose MATLAB downscale by ``1/scale``
    (``ceil(length / scale)``) gives exactly ``lr_length(length, scale)`` pixels.
    """
    return math.floor(lr_length(length, scale) * scale + 1e-9)


def mod_crop(image: torch.Tensor, scale: float) -> torch.Tensor:
    """Crop H and W (from the bottom and right) so that the HR image fits the scale.

    Integer scales keep the largest multiples of ``scale``; fractional scales keep
    :func:`mod_length` pixels (``floor(floor(n / scale) * scale)``, at most ``ceil(scale)``
    fewer than ``n``), so that :func:`bicubic_downscale` gives ``floor(n / scale)`` pixels
    per side. (No HR length is an exact multiple of a fractional scale in general; the LR
    image then covers the HR one up to less than one LR pixel.)

    Args:
        image: ``(..., H, W)`` tensor.
        scale: the SR factor (>= 1).

    Returns:
        A view ``(..., H', W')``.

    Raises:
        ValueError: scale below 1 or an image smaller than the scale.
    """
    scale = _check_scale(scale)
    h, w = image.shape[-2:]
    if min(h, w) < scale:
        raise ValueError(f"image of {h}x{w} pixels is smaller than the scale {scale}")
    return image[..., : mod_length(h, scale), : mod_length(w, scale)]


def bicubic_downscale(hr: torch.Tensor, scale: float) -> torch.Tensor:
    """MATLAB ``imresize(hr, 1/scale, 'bicubic')`` (antialiased, output ``ceil(n / scale)``).

    Args:
        hr: ``(B, C, H, W)`` image, usually mod-cropped.
        scale: the SR factor (>= 1).

    Returns:
        ``(B, C, ceil(H / scale), ceil(W / scale))`` float tensor, not rounded or clamped.
    """
    return imresize_scale(hr, 1.0 / _check_scale(scale), "bicubic")


def quantize_8bit(image: torch.Tensor) -> torch.Tensor:
    """What storing as an 8-bit PNG does: clamp to [0, 1], round to k / 255 (half up)."""
    return torch.floor(image.clamp(0, 1) * 255 + 0.5) / 255


def _randn_like(image: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else image.device
    dtype = image.dtype if image.is_floating_point() else torch.float32
    return torch.randn(image.shape, generator=generator, device=device, dtype=dtype).to(image.device)


def _rand(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    source = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=source, dtype=torch.float32).to(device)


def add_gaussian_noise(
    image: torch.Tensor, sigma: float, *, generator: torch.Generator | None = None, clip: bool = False
) -> torch.Tensor:
    """Add white Gaussian noise of standard deviation ``sigma / 255``.

    Args:
        image: ``(B, C, H, W)`` image in [0, 1].
        sigma: noise level in 0-255 units (the papers' ``sigma = 25`` is 25 / 255 here).
        generator: random source.
        clip: clamp the result to [0, 1].

    Returns:
        Noisy image, same shape and dtype.
    """
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"noise sigma must be >= 0 (0-255 units), got {sigma!r}")
    noisy = image + _randn_like(image, generator) * (sigma / 255.0)
    return noisy.clamp(0, 1) if clip else noisy


def gaussian_blur(image: torch.Tensor, size: int, sigma: float, *, padding: str = "reflect") -> torch.Tensor:
    """Blur with a normalised ``size x size`` Gaussian of std ``sigma`` pixels.

    Args:
        image: ``(B, C, H, W)`` image.
        size: kernel size (e.g. 25).
        sigma: standard deviation in pixels (e.g. 1.6).
        padding: border rule of :func:`srcli.resize.blur`.

    Returns:
        ``(B, C, H, W)`` blurred image.
    """
    return blur(image, gaussian_kernel(size, sigma, dtype=image.dtype, device=image.device), padding)


def drop_pixels(
    image: torch.Tensor, ratio: float, *, generator: torch.Generator | None = None, exact: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Remove a fraction of the pixels (all channels of a pixel together).

    Args:
        image: ``(B, C, H, W)`` image.
        ratio: fraction of pixels dropped, in [0, 1].
        generator: random source.
        exact: drop exactly ``round(ratio * H * W)`` pixels per image instead of dropping
            each pixel independently with probability ``ratio`` (Bernoulli).

    Returns:
        ``(image_with_zeros, mask)``: dropped pixels are 0 in the image; ``mask`` is
        ``(B, 1, H, W)`` in the image's dtype, 1 where a pixel is kept.
    """
    if not (0 <= ratio <= 1):
        raise ValueError(f"drop ratio must be in [0, 1], got {ratio!r}")
    b, _, h, w = image.shape
    scores = _rand((b, 1, h, w), generator, image.device)
    if exact:
        dropped = round(ratio * h * w)
        ranks = scores.flatten(1).argsort(dim=1).argsort(dim=1).view(b, 1, h, w)
        keep = ranks >= dropped
    else:
        keep = scores >= ratio
    mask = keep.to(image.dtype if image.is_floating_point() else torch.float32)
    return image * mask, mask
