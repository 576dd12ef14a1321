"""Decode images from paths, stdin, bytes or binary streams; the content picks the decoder.

The decoders (own 16-bit PNG codec, tifffile, Pillow) and what the pixels mean are
described in :mod:`srcli.io.images`. EXIF orientation is applied and its tag reset to 1.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import sys
import threading
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from srcli.io.image_data import Image
from srcli.io.image_formats import SUPPORTED_HINT, ImageError, sniff_format, to_float
from srcli.io.png16 import PNG_SIGNATURE, PNGError, read_png16

if TYPE_CHECKING:  # Pillow is imported lazily so the CLI starts fast
    from PIL import Image as PILImage

#: images with more pixels than this are refused unless read_image is told otherwise
DEFAULT_MAX_PIXELS = 2**27  # 134 M pixels, e.g. 16384 x 8192
_ORIENTATION = 0x0112
_ICC_TAG = 34675

_PIL_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "WEBP": "WEBP", "BMP": "BMP",
                "DIB": "BMP", "TIFF": "TIFF"}
_PIL_LOCK = threading.Lock()  # guards PIL.Image.MAX_IMAGE_PIXELS while we change it


def read_image(source: str | Path | bytes | BinaryIO, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image:
    """Decode an image from a path, ``"-"`` (stdin), bytes or a binary file object.

    Args:
        source: where the encoded image is.
        max_pixels: refuse images with more than this many pixels (W * H) before
            decoding them (decompression bombs).

    Returns:
        The decoded image, EXIF orientation applied.

    Raises:
        ImageError: missing, empty, truncated, corrupt, unsupported or too large input.
    """
    data, name = _read_source(source)
    if not data:
        raise ImageError(f"cannot read {name}: the file is empty")
    if data.startswith(PNG_SIGNATURE) and len(data) > 24 and data[12:16] == b"IHDR" and data[24] == 16:
        return _decode_png16(data, name, max_pixels)
    if sniff_format(data) == "TIFF":
        return _decode_tiff(data, name, max_pixels)
    return _decode_pillow(data, name, max_pixels)


def _read_source(source: str | Path | bytes | BinaryIO) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "<bytes>"
    if isinstance(source, str) and source == "-":
        return sys.stdin.buffer.read(), "<stdin>"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            return path.read_bytes(), str(path)
        except FileNotFoundError:
            raise ImageError(f"cannot read {path}: no such file") from None
        except IsADirectoryError:
            raise ImageError(f"cannot read {path}: it is a folder, not an image file") from None
        except OSError as err:
            raise ImageError(f"cannot read {path}: {err.strerror or err}") from None
    data = source.read()
    if not isinstance(data, bytes):
        raise ImageError("cannot read the stream: open it in binary mode ('rb')")
    return data, str(getattr(source, "name", "<stream>"))


def _check_pixels(name: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageError(
            f"refusing to decode {name}: {width}x{height} = {width * height:,} pixels is more than "
            f"the limit of {max_pixels:,} (possible decompression bomb)"
        )


def _apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels ``(H, W, C)`` upright (Pillow's ``ImageOps.exif_transpose``)."""
    turns: dict[int, Callable[[np.ndarray], np.ndarray]] = {
        2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1),
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1], 8: lambda a: np.rot90(a, 1),
    }
    turn = turns.get(orientation)
    return pixels if turn is None else np.ascontiguousarray(turn(pixels))


def _take_orientation(exif: bytes) -> tuple[int, bytes]:
    """Return the EXIF orientation and the EXIF block with orientation reset to 1."""
    from PIL import Image as PILImage

    if not exif.startswith(b"Exif\0\0"):
        exif = b"Exif\0\0" + exif
    parsed = PILImage.Exif()
    try:
        parsed.load(exif)
        orientation = int(parsed.get(_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - unreadable EXIF: keep the bytes, assume upright
        return 1, exif
    if orientation == 1 or orientation not in range(1, 9):
        return 1, exif
    parsed[_ORIENTATION] = 1
    return orientation, parsed.tobytes()


def _decode_pillow(data: bytes, name: str, max_pixels: int) -> Image:
    from PIL import Image as PILImage

    fmt = ""
    with _PIL_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)  # we check ourselves
        saved, PILImage.MAX_IMAGE_PIXELS = PILImage.MAX_IMAGE_PIXELS, max_pixels
        try:
            im = PILImage.open(io.BytesIO(data))
            fmt = _PIL_FORMATS.get(im.format or "")
            if fmt is None:
                raise ImageError(f"cannot read {name}: unsupported image format {im.format}; {SUPPORTED_HINT}")
            _check_pixels(name, im.size[0], im.size[1], max_pixels)
            im.load()
        except ImageError:
            raise
        except PILImage.DecompressionBombError:
            raise ImageError(f"refusing to decode {name}: more than twice the limit of {max_pixels:,} pixels "
                             "(possible decompression bomb)") from None
        except PILImage.UnidentifiedImageError:
            known = sniff_format(data)
            if known:
                raise ImageError(f"cannot read {name}: truncated or corrupt {known} file") from None
            raise ImageError(f"cannot read {name}: not an image file ({SUPPORTED_HINT})") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error) as err:
            raise ImageError(f"cannot read {name}: truncated or corrupt {fmt or 'image'} file ({err})") from None
        finally:
            PILImage.MAX_IMAGE_PIXELS = saved
    values, bit_depth, icc = _pillow_values(im, name)
    exif, orientation = None, 1
    if fmt == "TIFF":  # TIFF keeps orientation as a plain tag; its other tags are not EXIF
        orientation = int(im.getexif().get(_ORIENTATION, 1))
    elif im.info.get("exif"):
        orientation, exif = _take_orientation(im.info["exif"])
    pixels = _apply_orientation(to_float(values, bit_depth), orientation)
    return Image(pixels, bit_depth, icc, exif, fmt)


def _pillow_values(im: PILImage.Image, name: str) -> tuple[np.ndarray, str, bytes | None]:
    """Pillow image -> ``(H, W, C)`` integer or float array, bit depth, ICC profile."""
    icc = im.info.get("icc_profile") or None
    mode = im.mode
    transparent = "transparency" in im.info
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(im).astype(np.uint16)[:, :, None], "uint16", icc
    if mode in ("I", "I;32", "I;32S"):
        values = np.asarray(im)
        if values.min() < 0 or values.max() > 65535:
            raise ImageError(f"cannot read {name}: 32-bit integer samples outside 0..65535; save it as 16-bit")
        return values.astype(np.uint16)[:, :, None], "uint16", icc
    if mode == "F":
        return np.asarray(im, dtype=np.float32)[:, :, None], "float32", icc
    if mode == "CMYK":
        im, icc = _cmyk_to_rgb(im, icc)
    else:
        target = {"1": "L", "P": "RGBA" if transparent else "RGB", "PA": "RGBA", "La": "LA",
                  "RGBa": "RGBA", "RGBX": "RGB", "L": "LA" if transparent else "L",
                  "RGB": "RGBA" if transparent else "RGB", "LA": "LA", "RGBA": "RGBA"}.get(mode, "RGB")
        if target != mode:
            try:
                im = im.convert(target)
            except ValueError:
                raise ImageError(f"cannot read {name}: unsupported colour mode {mode}; save it as RGB") from None
    values = np.asarray(im, dtype=np.uint8)
    return (values[:, :, None] if values.ndim == 2 else values), "uint8", icc


def _cmyk_to_rgb(im: PILImage.Image, icc: bytes | None) -> tuple[PILImage.Image, bytes | None]:
    """CMYK -> RGB through the embedded profile when there is one (then tagged sRGB)."""
    from PIL import ImageCms

    if icc:
        with contextlib.suppress(Exception):
            srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(im, source, srgb, outputMode="RGB"), srgb.tobytes()
    return im.convert("RGB"), None


def _decode_tiff(data: bytes, name: str, max_pixels: int) -> Image:
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            _check_pixels(name, int(page.imagewidth), int(page.imagelength), max_pixels)
            if not _tifffile_reads(page):
                return _decode_pillow(data, name, max_pixels)
            try:
                values = page.asarray()
            except (KeyError, ValueError) as err:
                if "imagecodecs" not in str(err):
                    raise
                if page.bitspersample > 8 and page.samplesperpixel > 1:
                    raise ImageError(f"cannot read {name}: its compression needs the imagecodecs "
                                     f"package (pip install imagecodecs)") from None
                return _decode_pillow(data, name, max_pixels)
            tags = {code: page.tags.get(code) for code in (_ORIENTATION, _ICC_TAG)}
            layout = (int(page.photometric), int(page.planarconfig), tuple(page.extrasamples))
    except ImageError:
        raise
    except Exception as err:  # noqa: BLE001 - tifffile raises many types for damaged files
        raise ImageError(f"cannot read {name}: truncated or corrupt TIFF file ({err})") from None
    pixels, bit_depth = _tiff_pixels(values, *layout)
    orientation = int(tags[_ORIENTATION].value) if tags[_ORIENTATION] is not None else 1
    icc = bytes(tags[_ICC_TAG].value) if tags[_ICC_TAG] is not None else None
    return Image(_apply_orientation(pixels, orientation), bit_depth, icc, None, "TIFF")


def _tifffile_reads(page: Any) -> bool:
    """Whether tifffile decodes this page to grey/RGB samples srcli keeps as they are."""
    return (
        int(page.photometric) in (0, 1, 2)
        and page.dtype is not None
        and np.dtype(page.dtype) in (np.uint8, np.uint16, np.float16, np.float32, np.float64)
        and int(page.bitspersample) in (8, 16, 32, 64)
        and int(page.imagedepth) == 1
    )


def _tiff_pixels(values: np.ndarray, photometric: int, planar: int, extra: tuple) -> tuple[np.ndarray, str]:
    if values.ndim == 2:
        values = values[:, :, None]
    elif planar == 2:
        values = np.moveaxis(values, 0, -1)
    alpha = bool(extra) and int(extra[0]) in (1, 2)
    values = values[:, :, : (3 if photometric == 2 else 1) + alpha]
    bit_depth = {np.dtype(np.uint8): "uint8", np.dtype(np.uint16): "uint16"}.get(values.dtype, "float32")
    pixels = to_float(values, bit_depth)
    if photometric == 0:  # min-is-white grey
        pixels[:, :, 0] = 1.0 - pixels[:, :, 0]
    if alpha and int(extra[0]) == 1:  # associated (premultiplied) alpha -> straight
        a = pixels[:, :, -1:]
        pixels[:, :, :-1] = np.divide(pixels[:, :, :-1], a, out=np.zeros_like(pixels[:, :, :-1]), where=a > 0)
        if bit_depth != "float32":
            np.clip(pixels, 0.0, 1.0, out=pixels)
    return pixels, bit_depth


def _decode_png16(data: bytes, name: str, max_pixels: int) -> Image:
    try:
        values, icc, exif_body = read_png16(data, lambda w, h: _check_pixels(name, w, h, max_pixels))
    except PNGError as err:
        raise ImageError(f"cannot read {name}: {err}") from None
    exif, orientation = None, 1
    if exif_body is not None:
        orientation, exif = _take_orientation(exif_body)
    pixels = _apply_orientation(to_float(values, "uint16"), orientation)
    return Image(pixels, "uint16", icc, exif, "PNG")
