"""Parameter-free upscalers: MATLAB-compatible bicubic, Lanczos, bilinear and nearest.

Each is a thin ``nn.Module`` around :func:`srcli.resize.resize`, registered with
``task="upscale"`` and ``family="classical"`` so that every command can use it like a
learned model: ``model(image, size)`` with ``image`` ``(B, C, H, W)`` (any channel
count) and ``size = (H_out, W_out)``.
"""

from __future__ import annotations

import torch
from torch import nn

from srcli.registry import register
from srcli.resize import resize


class ClassicalUpscaler(nn.Module):
    """Resample with a fixed kernel; holds no weights.

    Args:
        kernel: a :data:`srcli.resize.KERNELS` name.
        antialias: widen the kernel when the output is smaller than the input.
    """

    def __init__(self, kernel: str = "bicubic", antialias: bool = True) -> None:
        super().__init__()
        self.kernel = kernel
        self.antialias = antialias

    def forward(self, image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Resize ``image`` (B, C, H, W) to ``size`` = (H_out, W_out) -> (B, C, H_out, W_out)."""
        return resize(image, size, self.kernel, self.antialias)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel!r}, antialias={self.antialias}"


@register("bicubic", task="upscale", family="classical", trainable=False,
          description="MATLAB imresize bicubic (Keys a=-0.5), the benchmark baseline")
class Bicubic(ClassicalUpscaler):
    """MATLAB-compatible bicubic interpolation."""

    def __init__(self) -> None:
        super().__init__("bicubic")


@register("lanczos2", task="upscale", family="classical", trainable=False,
          description="MATLAB imresize Lanczos-2 (4-tap windowed sinc)")
class Lanczos2(ClassicalUpscaler):
    """MATLAB-compatible Lanczos-2 interpolation."""

    def __init__(self) -> None:
        super().__init__("lanczos2")


@register("lanczos3", task="upscale", family="classical", trainable=False,
          description="MATLAB imresize Lanczos-3 (6-tap windowed sinc), sharpest classical")
class Lanczos3(ClassicalUpscaler):
    """MATLAB-compatible Lanczos-3 interpolation."""

    def __init__(self) -> None:
        super().__init__("lanczos3")


@register("bilinear", task="upscale", family="classical", trainable=False,
          description="MATLAB imresize bilinear (triangle kernel)")
class Bilinear(ClassicalUpscaler):
    """MATLAB-compatible bilinear interpolation."""

    def __init__(self) -> None:
        super().__init__("bilinear")


@register("nearest", task="upscale", family="classical", trainable=False,
          description="MATLAB imresize nearest neighbour (blocky, keeps exact values)")
class Nearest(ClassicalUpscaler):
    """MATLAB-compatible nearest-neighbour resampling (never antialiased)."""

    def __init__(self) -> None:
        super().__init__("nearest", antialias=False)
