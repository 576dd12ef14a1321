"""The in-memory image: float pixels plus the metadata needed to write them back faithfully."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from srcli.io.image_formats import BIT_DEPTHS, FORMATS

if TYPE_CHECKING:  # torch is imported lazily so the CLI starts fast
    import torch


@dataclass
class Image:
    """A decoded image with the metadata needed to write it back faithfully.

    Attributes:
        pixels: ``(H, W, C)`` float32; in ``[0, 1]`` for integer bit depths, raw values
            for float32. C is 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA).
        bit_depth: ``"uint8"``, ``"uint16"`` or ``"float32"``: the sample type of the
            source, used again on write where the format allows it.
        icc_profile: ICC profile bytes, or None.
        exif: EXIF block as ``b"Exif\\0\\0" + TIFF data`` (orientation already 1), or None.
        format: source format: ``"PNG"``, ``"JPEG"``, ``"WEBP"``, ``"BMP"`` or ``"TIFF"``.
    """

    pixels: np.ndarray
    bit_depth: str = "uint8"
    icc_profile: bytes | None = None
    exif: bytes | None = None
    format: str = "PNG"

    def __post_init__(self) -> None:
        pixels = np.asarray(self.pixels, dtype=np.float32)
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        if pixels.ndim != 3 or not 1 <= pixels.shape[2] <= 4 or 0 in pixels.shape:
            raise ValueError(f"pixels must be (H, W, C) with C in 1..4, got shape {pixels.shape}")
        if self.bit_depth not in BIT_DEPTHS:
            raise ValueError(f"bit_depth must be one of {BIT_DEPTHS}, got {self.bit_depth!r}")
        if self.format not in set(FORMATS.values()):
            raise ValueError(f"format must be one of {sorted(set(FORMATS.values()))}, got {self.format!r}")
        self.pixels = pixels

    @property
    def channels(self) -> int:
        """1 grey, 2 grey + alpha, 3 RGB, 4 RGBA."""
        return int(self.pixels.shape[2])

    @property
    def has_alpha(self) -> bool:
        """Whether the last channel is alpha (2 or 4 channels)."""
        return self.channels in (2, 4)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])

    def to_tensor(self) -> torch.Tensor:
        """Return the pixels as a ``(1, C, H, W)`` float32 CPU tensor (a copy)."""
        import torch

        return torch.from_numpy(np.ascontiguousarray(self.pixels.transpose(2, 0, 1)))[None]

    @classmethod
    def from_tensor(cls, tensor: torch.Tensor, like: Image) -> Image:
        """Build an image from ``(1, C, H, W)`` or ``(C, H, W)`` values, metadata from ``like``.

        Bit depth, ICC profile, EXIF and format are copied from ``like``; C must equal
        ``like.channels``. Integer bit depths are clipped to ``[0, 1]`` (NaN -> 0).
        """
        values = tensor.detach()
        if values.dim() == 4 and values.shape[0] == 1:
            values = values[0]
        if values.dim() != 3 or values.shape[0] != like.channels:
            raise ValueError(f"expected a (1, {like.channels}, H, W) tensor, got {tuple(tensor.shape)}")
        pixels = values.to("cpu").float().permute(1, 2, 0).contiguous().numpy()
        if like.bit_depth != "float32":
            pixels = np.clip(np.nan_to_num(pixels, nan=0.0), 0.0, 1.0)
        return cls(pixels, like.bit_depth, like.icc_profile, like.exif, like.format)
