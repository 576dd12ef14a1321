"""Pixel-centre coordinates, cells and output sizes.

Conventions (see DESIGN.md):

* Model space: an image of ``n`` pixels along an axis spans ``[-1, 1]``; pixel ``i``
  has its centre at ``-1 + (2 i + 1) / n``. Coordinates are stored ``(y, x)``.
* A *cell* is the size of one output pixel in model space: ``(2 / H, 2 / W)``.
* Output sizes from a scale are ``floor(scale * n + 0.5)`` (round half up), at least 1.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported lazily so the CLI starts fast
    import torch


#: most pixels of an output image (``srcli upscale --max-pixels`` default; every other command's limit)
MAX_OUTPUT_PIXELS = 200_000_000


class SizeError(ValueError):
    """An output size request that cannot be satisfied (bad value or conflicting options)."""


def check_output_pixels(hw: tuple[int, int], what: str = "output", hint: str = "") -> None:
    """SizeError when ``hw`` (H, W) has more than :data:`MAX_OUTPUT_PIXELS` pixels.

    Args:
        hw: the size asked for.
        what: the image it is, for the message.
        hint: what sets it, for the message (e.g. ``"check --scale and --size"``).
    """
    if hw[0] * hw[1] > MAX_OUTPUT_PIXELS:
        raise SizeError(f"{what} would be {hw[1]}x{hw[0]} pixels, over the limit of {MAX_OUTPUT_PIXELS:,}"
                        + (f"; {hint}" if hint else ""))


def scaled_length(length: int, scale: float) -> int:
    """Return ``floor(scale * length + 0.5)``, the documented rounding of srcli.

    Args:
        length: input length in pixels (> 0).
        scale: positive finite scale factor.

    Returns:
        The output length, at least 1.
    """
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise SizeError(f"scale must be a positive number, got {scale!r}")
    return max(1, int(math.floor(scale * length + 0.5)))


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``"WxH"`` into ``(width, height)``.

    Raises:
        SizeError: when the text is not two positive integers separated by ``x``.
    """
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise SizeError(f"size must look like WIDTHxHEIGHT (e.g. 1000x700), got {text!r}")
    width, height = (int(p) for p in parts)
    if width <= 0 or height <= 0:
        raise SizeError(f"size must be positive, got {text!r}")
    return width, height


def output_size(
    in_hw: tuple[int, int],
    *,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    width: int | None = None,
    height: int | None = None,
) -> tuple[int, int]:
    """Resolve the output ``(H, W)`` from exactly one way of asking for it.

    Args:
        in_hw: input ``(H, W)``.
        scale: output is ``scaled_length`` of each side.
        size: exact ``(W, H)`` (note: width first, as on the command line).
        width: output width; the height keeps the aspect ratio (same rounding).
        height: output height; the width keeps the aspect ratio.

    Returns:
        ``(H_out, W_out)``.

    Raises:
        SizeError: when none or more than one option is given, or a value is invalid.
    """
    given = [n for n, v in (("--scale", scale), ("--size", size), ("--width", width), ("--height", height)) if v is not None]
    if len(given) != 1:
        if not given:
            raise SizeError("give one of --scale, --size, --width or --height")
        raise SizeError(f"{' and '.join(given)} conflict: give only one of them")
    h, w = in_hw
    if scale is not None:
        return scaled_length(h, scale), scaled_length(w, scale)
    if size is not None:
        if size[0] <= 0 or size[1] <= 0:
            raise SizeError(f"size must be positive, got {size[0]}x{size[1]}")
        return size[1], size[0]
    if width is not None:
        if width <= 0:
            raise SizeError(f"--width must be positive, got {width}")
        return scaled_length(h, width / w), width
    assert height is not None
    if height <= 0:
        raise SizeError(f"--height must be positive, got {height}")
    return height, scaled_length(w, height / h)


def pixel_centres(n: int, *, device: torch.device | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Model-space centres of ``n`` pixels along one axis: ``-1 + (2 i + 1) / n``.

    Returns:
        Tensor of shape ``(n,)``.
    """
    import torch

    dtype = dtype or torch.float32
    return -1.0 + (2.0 * torch.arange(n, device=device, dtype=torch.float64) + 1.0).to(dtype) / n


def coord_grid(h: int, w: int, *, device: torch.device | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Pixel-centre grid of an ``h x w`` image in ``(y, x)`` order.

    Returns:
        Tensor of shape ``(h, w, 2)``.
    """
    import torch

    ys = pixel_centres(h, device=device, dtype=dtype)
    xs = pixel_centres(w, device=device, dtype=dtype)
    return torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)


def query_coords_and_cells(
    h: int, w: int, *, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flattened query coordinates and cells for an ``h x w`` output.

    Returns:
        ``(coord, cell)``, each of shape ``(h * w, 2)``; ``cell`` is ``(2 / h, 2 / w)``.
    """
    import torch

    coord = coord_grid(h, w, device=device, dtype=dtype).reshape(-1, 2)
    cell = torch.empty_like(coord)
    cell[:, 0] = 2.0 / h
    cell[:, 1] = 2.0 / w
    return coord, cell
