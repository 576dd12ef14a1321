"""Image format names and sample bit depths: what srcli reads and writes, and how samples scale.

Integer samples map to floats as value / 255 (uint8) or value / 65535 (uint16); float32
samples keep their raw values. The reverse, for writing, is ``round(clip(x, 0, 1) * max)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from srcli.io.png16 import PNG_SIGNATURE

#: file suffix -> format name
FORMATS: dict[str, str] = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".webp": "WEBP",
    ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF",
}
BIT_DEPTHS = ("uint8", "uint16", "float32")
#: the end of messages about an unsupported format
SUPPORTED_HINT = "use PNG, JPEG, WebP, BMP or TIFF"
_MAXVAL = {"uint8": 255, "uint16": 65535}


class ImageError(ValueError):
    """An image that cannot be read or written; the message names the problem and fix."""


def format_for(path: str | Path, explicit: str | None = None) -> str:
    """Return the format name (``"PNG"``, ``"JPEG"``, ...) from ``explicit`` or the suffix.

    ``explicit`` may be a name or suffix in any case (``"png"``, ``".JPG"``, ``"tiff"``).

    Raises:
        ImageError: unknown format, or none given and the path has no suffix.
    """
    if explicit:
        key = "." + explicit.lower().lstrip(".")
        names = {name.lower(): name for name in FORMATS.values()}
        if key in FORMATS or key[1:] in names:
            return FORMATS.get(key) or names[key[1:]]
        raise ImageError(f"unsupported image format '{explicit}'; {SUPPORTED_HINT}")
    suffix = Path(str(path)).suffix.lower()
    if str(path) == "-":
        raise ImageError("writing to stdout needs a format, e.g. format='png' (--format png)")
    if not suffix:
        raise ImageError(
            f"cannot tell the image format of {path}: add a suffix (.png, .jpg, .webp, .bmp, .tif) or give a format"
        )
    if suffix not in FORMATS:
        raise ImageError(f"unsupported image format '{suffix}'; {SUPPORTED_HINT}")
    return FORMATS[suffix]


def sniff_format(data: bytes) -> str | None:
    """Return the format a file's first bytes announce, if it is one srcli reads.

    Args:
        data: the start of the file (at least 12 bytes to tell WebP).

    Returns:
        ``"PNG"``, ``"JPEG"``, ``"WEBP"``, ``"BMP"``, ``"TIFF"``, or None.
    """
    if data.startswith(PNG_SIGNATURE):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:2] == b"BM":
        return "BMP"
    return "TIFF" if data[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+") else None


def to_float(values: np.ndarray, bit_depth: str) -> np.ndarray:
    """Scale stored samples to float32: integers to ``[0, 1]``, float32 as they are.

    Args:
        values: samples of any shape.
        bit_depth: ``"uint8"``, ``"uint16"`` or ``"float32"``.
    """
    if bit_depth == "float32":
        return values.astype(np.float32)
    return values.astype(np.float32) / np.float32(_MAXVAL[bit_depth])


def quantize(pixels: np.ndarray, bit_depth: str) -> np.ndarray:
    """``round(clip(x, 0, 1) * max)`` as uint8/uint16 (NaN -> 0).

    One float working copy, updated in place: a 6000x6000 RGB image needs 432 MB for it,
    not one such buffer per arithmetic step.

    Args:
        pixels: float samples of any shape.
        bit_depth: ``"uint8"`` or ``"uint16"``.
    """
    float_dtype = pixels.dtype if np.issubdtype(pixels.dtype, np.floating) else np.float32
    work = np.array(pixels, dtype=float_dtype, copy=True)
    np.nan_to_num(work, nan=0.0, copy=False)
    np.clip(work, 0.0, 1.0, out=work)
    work *= np.float32(_MAXVAL[bit_depth])
    np.rint(work, out=work)
    return work.astype(bit_depth)
