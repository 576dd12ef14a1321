"""Read and write images keeping bit depth, alpha, ICC profile and EXIF.

Formats: PNG, JPEG, WebP, BMP and TIFF. The *content* of a file decides how it is
decoded (the suffix only matters when writing). Decoders:

* 16-bit PNG (grey, grey+alpha, RGB, RGBA): a small zlib + NumPy codec (:mod:`srcli.io.png16`),
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

The code lives in :mod:`srcli.io.image_formats` (format names, bit depths, ``ImageError``),
:mod:`srcli.io.image_data` (``Image``), :mod:`srcli.io.image_readers` and
:mod:`srcli.io.image_writers`; this module gathers their public names.
"""

from __future__ import annotations

from srcli.io.image_data import Image
from srcli.io.image_formats import BIT_DEPTHS, FORMATS, ImageError, format_for
from srcli.io.image_readers import DEFAULT_MAX_PIXELS, read_image
from srcli.io.image_writers import write_image

__all__ = [
    "BIT_DEPTHS",
    "DEFAULT_MAX_PIXELS",
    "FORMATS",
    "Image",
    "ImageError",
    "format_for",
    "read_image",
    "write_image",
]
