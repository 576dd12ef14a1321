"""Read and write images keeping bit depth, alpha, ICC profile and EXIF.

Formats: PNG, JPEG, WebP, BMP and TIFF. The *content* of a file decides how it is
decoded (the suffix only matters when writing). Decoders:

* 16-bit PNG (grey, grey+alpha, RGB, RGBA): a small zlib + NumPy codec in this module,
  because Pillow reduces 16-bit colour PNGs to 8 bits (and cannot write them).
* TIFF: tifffile (8/16-bit integer and float samples); palette, CMYK, YCbCr, 1-bit and
  LZW/JPEG-compressed 8-bit TIFFs fall back to Pillow.
* Everything else: Pillow. Animated and multi-page files give their first frame.

Pixels are ``(H, W, C)`` float32: integer sources are scaled to ``[0, 1]`` (value / 255
or / 65535), float TIFFs keep their raw values. EXIF orientation is applied on read
and its tag reset to 1. What each format keeps on write:

* PNG: 8-bit for uint8 images, true 16-bit for uint16 and float32 images; alpha, ICC, EXIF.
* TIFF (zlib): uint8, uint16 or float32 as the image; alpha, ICC (tag 34675); no EXIF.
* JPEG: 8-bit, 4:4:4 chroma; alpha dropped; ICC, EXIF.
* WebP: 8-bit, grey stored as RGB, quality 100 = lossless; alpha, ICC, EXIF.
* BMP: 8-bit; alpha, ICC and EXIF dropped.

JPEG, WebP and BMP hold 8 bits only: 16-bit and float images become 8-bit there, and only
there (the user asked for that format).
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import struct
import sys
import threading
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable

import numpy as np

from srcli.io.png16 import PNG_SIGNATURE, PNGError, read_png16, write_png16

if TYPE_CHECKING:  # torch and Pillow are imported lazily so the CLI starts fast
    import torch
    from PIL import Image as PILImage

#: file suffix -> format name
FORMATS: dict[str, str] = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".webp": "WEBP",
    ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF",
}
BIT_DEPTHS = ("uint8", "uint16", "float32")
#: images with more pixels than this are refused unless read_image is told otherwise
DEFAULT_MAX_PIXELS = 2**27  # 134 M pixels, e.g. 16384 x 8192
_SUPPORTED = "use PNG, JPEG, WebP, BMP or TIFF"
_MAXVAL = {"uint8": 255, "uint16": 65535}
_ORIENTATION = 0x0112
_ICC_TAG = 34675

_PIL_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "WEBP": "WEBP", "BMP": "BMP",
                "DIB": "BMP", "TIFF": "TIFF"}
_PIL_LOCK = threading.Lock()  # guards PIL.Image.MAX_IMAGE_PIXELS while we change it


class ImageError(ValueError):
    """An image that cannot be read or written; the message names the problem and fix."""


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


# --------------------------------------------------------------------------- reading


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
    if _sniff(data) == "TIFF":
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


def _sniff(data: bytes) -> str | None:
    """The format a file's first bytes announce, if it is one srcli reads."""
    if data.startswith(PNG_SIGNATURE):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:2] == b"BM":
        return "BMP"
    return "TIFF" if data[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+") else None


def _check_pixels(name: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageError(
            f"refusing to decode {name}: {width}x{height} = {width * height:,} pixels is more than "
            f"the limit of {max_pixels:,} (possible decompression bomb); raise max_pixels if you trust it"
        )


def _to_float(values: np.ndarray, bit_depth: str) -> np.ndarray:
    if bit_depth == "float32":
        return values.astype(np.float32)
    return values.astype(np.float32) / np.float32(_MAXVAL[bit_depth])


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
    except Exception:  # unreadable EXIF: keep the bytes, assume upright
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
                raise ImageError(f"cannot read {name}: unsupported image format {im.format}; {_SUPPORTED}")
            _check_pixels(name, im.size[0], im.size[1], max_pixels)
            im.load()
        except ImageError:
            raise
        except PILImage.DecompressionBombError as err:
            detail = str(err).rstrip(".")
            raise ImageError(f"refusing to decode {name}: {detail}; raise max_pixels if you trust it") from None
        except PILImage.UnidentifiedImageError:
            known = _sniff(data)
            if known:
                raise ImageError(f"cannot read {name}: truncated or corrupt {known} file") from None
            raise ImageError(f"cannot read {name}: not an image file ({_SUPPORTED})") from None
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
    pixels = _apply_orientation(_to_float(values, bit_depth), orientation)
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
    except Exception as err:  # tifffile raises many types for damaged files
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
    pixels = _to_float(values, bit_depth)
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
    pixels = _apply_orientation(_to_float(values, "uint16"), orientation)
    return Image(pixels, "uint16", icc, exif, "PNG")


# --------------------------------------------------------------------------- writing


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
        raise ImageError(f"unsupported image format '{explicit}'; {_SUPPORTED}")
    suffix = Path(str(path)).suffix.lower()
    if str(path) == "-":
        raise ImageError("writing to stdout needs a format, e.g. format='png' (--format png)")
    if not suffix:
        raise ImageError(
            f"cannot tell the image format of {path}: add a suffix (.png, .jpg, .webp, .bmp, .tif) or give a format"
        )
    if suffix not in FORMATS:
        raise ImageError(f"unsupported image format '{suffix}'; {_SUPPORTED}")
    return FORMATS[suffix]


def write_image(dest: str | Path, image: Image, *, format: str | None = None, quality: int = 95,
                overwrite: bool = True) -> None:
    """Encode ``image`` to ``dest`` (``"-"`` = stdout), atomically.

    The file is written to a hidden temporary name in the same folder, fsynced and
    renamed into place; on any error (KeyboardInterrupt included) the temporary file is
    removed and an existing ``dest`` is left untouched. See the module docstring for
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
    encode = _ENCODERS[fmt]
    if str(dest) == "-":
        buffer = io.BytesIO()
        encode(buffer, image, quality)  # all or nothing: no half image on stdout
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.buffer.flush()
        return
    _atomic_write(Path(dest), lambda fh: encode(fh, image, quality), overwrite)


def _atomic_write(path: Path, encode: Callable[[BinaryIO], None], overwrite: bool) -> None:
    if path.is_dir():
        raise ImageError(f"cannot write {path}: it is a folder")
    if not path.parent.is_dir():
        raise ImageError(f"cannot write {path}: folder {path.parent} does not exist")
    if not overwrite and path.exists():
        raise ImageError(f"{path} already exists; allow overwriting (--overwrite) or choose another name")
    temp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:  # one handler from before the temporary exists: Ctrl-C anywhere leaves nothing behind
        with open(temp, "xb") as fh:  # exclusive create, mode 0o666 minus umask
            encode(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if not overwrite and path.exists():
            raise ImageError(f"{path} already exists; allow overwriting (--overwrite) or choose another name")
        os.replace(temp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(err, OSError):
            raise ImageError(f"cannot write {path}: {err.strerror or err}") from None
        raise
    with contextlib.suppress(OSError, AttributeError):  # make the rename durable (POSIX)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _quantize(pixels: np.ndarray, bit_depth: str) -> np.ndarray:
    """``round(clip(x, 0, 1) * max)`` as uint8/uint16 (NaN -> 0).

    One float working copy, updated in place: a 6000x6000 RGB image needs 432 MB for it,
    not one such buffer per arithmetic step.
    """
    float_dtype = pixels.dtype if np.issubdtype(pixels.dtype, np.floating) else np.float32
    work = np.array(pixels, dtype=float_dtype, copy=True)
    np.nan_to_num(work, nan=0.0, copy=False)
    np.clip(work, 0.0, 1.0, out=work)
    work *= np.float32(_MAXVAL[bit_depth])
    np.rint(work, out=work)
    return work.astype(bit_depth)


def _exif_block(exif: bytes | None) -> bytes | None:
    if not exif:
        return None
    return exif if exif.startswith(b"Exif\0\0") else b"Exif\0\0" + exif


def _encode_pillow(fh: BinaryIO, image: Image, fmt: str, quality: int) -> None:
    from PIL import Image as PILImage

    values = _quantize(image.pixels, "uint8")
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
        write_png16(fh, _quantize(image.pixels, "uint16"), image.icc_profile, _exif_block(image.exif))


def _encode_tiff(fh: BinaryIO, image: Image, quality: int) -> None:
    import tifffile

    values = image.pixels if image.bit_depth == "float32" else _quantize(image.pixels, image.bit_depth)
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
