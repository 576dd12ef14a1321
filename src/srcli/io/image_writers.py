"""Encode images atomically to files or stdout, keeping as much of the source as each format holds.

What each format keeps is listed in :mod:`srcli.io.images`; integer outputs are
``round(clip(x, 0, 1) * max)`` (:func:`srcli.io.image_formats.quantize`).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from srcli.io.atomic import DestinationExists, atomic_write
from srcli.io.image_data import Image
from srcli.io.image_formats import ImageError, format_for, quantize
from srcli.io.png16 import write_png16


def write_image(dest: str | Path, image: Image, *, format: str | None = None, quality: int = 95,
                overwrite: bool = True) -> None:
    """Encode ``image`` to ``dest`` (``"-"`` = stdout), atomically.

    The file is written to a hidden temporary name in the same folder, fsynced and
    renamed into place; on any error (KeyboardInterrupt included) the temporary file is
    removed and an existing ``dest`` is left untouched. See :mod:`srcli.io.images` for
    what each format keeps. Integer outputs are ``round(clip(x, 0, 1) * max)``.

    Args:
        dest: output path, or ``"-"`` for stdout (then ``format`` is required).
        image: what to write.
        format: ``"png"``, ``"jpeg"``/``"jpg"``, ``"webp"``, ``"bmp"``, ``"tiff"``/``"tif"``;
            default from the suffix of ``dest``.
        quality: JPEG/WebP quality 1..100 (WebP 100 = lossless).
        overwrite: when False an existing ``dest`` is an error.

    Raises:
        ImageError: unknown format, bad quality, existing file, or an OS error.
    """
    fmt = format_for(dest, format)
    if not (isinstance(quality, int) and 1 <= quality <= 100):
        raise ImageError(f"quality must be an integer from 1 to 100, got {quality!r}")
    check_encodable(image.pixels.shape[:2], fmt)
    encode = _ENCODERS[fmt]
    if str(dest) == "-":
        buffer = io.BytesIO()
        encode(buffer, image, quality)  # all or nothing: no half image on stdout
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.buffer.flush()
        return
    _atomic_write(Path(dest), lambda fh: encode(fh, image, quality), overwrite)


#: longest side each format can store (PNG and TIFF: no limit reached by srcli's outputs)
MAX_SIDE = {"JPEG": 65_535, "WEBP": 16_383, "BMP": 2**31 - 1}


def check_encodable(hw: tuple[int, int], fmt: str) -> None:
    """ImageError when an ``(H, W)`` image is too large for format ``fmt`` (``"WEBP"``, ...)."""
    limit = MAX_SIDE.get(fmt)
    if limit is not None and max(hw) > limit:
        raise ImageError(f"{fmt} stores at most {limit} pixels per side and the image is {hw[1]}x{hw[0]}; "
                         "write PNG or TIFF (--format, or the -o suffix)")


def _atomic_write(path: Path, encode: Callable[[BinaryIO], None], overwrite: bool) -> None:
    if path.is_dir():
        raise ImageError(f"cannot write {path}: it is a folder")
    if not path.parent.is_dir():
        raise ImageError(f"cannot write {path}: folder {path.parent} does not exist")
    if not overwrite and path.exists():
        raise ImageError(f"{path} already exists; allow overwriting (--overwrite) or choose another name")
    try:
        atomic_write(path, encode, overwrite=overwrite)
    except DestinationExists:
        raise ImageError(f"{path} already exists; allow overwriting (--overwrite) or choose another name") from None
    except OSError as err:
        raise ImageError(f"cannot write {path}: {err.strerror or err}") from None


def _exif_block(exif: bytes | None) -> bytes | None:
    if not exif:
        return None
    return exif if exif.startswith(b"Exif\0\0") else b"Exif\0\0" + exif


def _encode_pillow(fh: BinaryIO, image: Image, fmt: str, quality: int) -> None:
    from PIL import Image as PILImage

    values = quantize(image.pixels, "uint8")
    if fmt in ("JPEG", "BMP") and image.has_alpha:  # these formats hold no alpha: drop it
        values = values[:, :, :-1]
    if fmt == "WEBP" and values.shape[2] <= 2:  # WebP has no grey: repeat it as RGB
        values = np.concatenate([values[:, :, :1]] * 3 + [values[:, :, 1:]], axis=2)
    im = PILImage.fromarray(values[:, :, 0] if values.shape[2] == 1 else np.ascontiguousarray(values))
    options: dict[str, object] = {}
    if fmt != "BMP":
        options.update(icc_profile=image.icc_profile, exif=_exif_block(image.exif) or b"")
    if fmt == "JPEG":
        options.update(quality=quality, subsampling=0)
    elif fmt == "WEBP":
        options.update(quality=quality, lossless=quality >= 100)
    if not options.get("icc_profile"):
        options.pop("icc_profile", None)
    im.save(fh, format=fmt, **options)


def _encode_png(fh: BinaryIO, image: Image, quality: int) -> None:
    if image.bit_depth == "uint8":
        _encode_pillow(fh, image, "PNG", quality)
    else:  # 16-bit and float images: 16-bit PNG, the deepest PNG holds
        write_png16(fh, quantize(image.pixels, "uint16"), image.icc_profile, _exif_block(image.exif))


def _encode_tiff(fh: BinaryIO, image: Image, quality: int) -> None:
    import tifffile

    values = image.pixels if image.bit_depth == "float32" else quantize(image.pixels, image.bit_depth)
    tifffile.imwrite(
        fh,
        values[:, :, 0] if image.channels == 1 else values,
        photometric="rgb" if image.channels >= 3 else "minisblack",
        planarconfig="contig" if image.channels > 1 else None,
        extrasamples=("unassalpha",) if image.has_alpha else None,
        compression="zlib",
        iccprofile=image.icc_profile,
        metadata=None,
    )


_ENCODERS: dict[str, Callable[[BinaryIO, Image, int], None]] = {
    "PNG": _encode_png,
    "TIFF": _encode_tiff,
    "JPEG": lambda fh, image, quality: _encode_pillow(fh, image, "JPEG", quality),
    "WEBP": lambda fh, image, quality: _encode_pillow(fh, image, "WEBP", quality),
    "BMP": lambda fh, image, quality: _encode_pillow(fh, image, "BMP", quality),
}
