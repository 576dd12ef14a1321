"""Tests for srcli.io.image_formats: format names, content sniffing and sample scaling."""

from __future__ import annotations

import numpy as np
import pytest

from srcli.io.image_data import Image
from srcli.io.image_formats import (
    FORMATS,
    ImageError,
    format_for,
    quantize,
    sniff_format,
    to_float,
)
from srcli.io.image_writers import write_image


def test_unknown_formats() -> None:
    assert format_for("a/b.JPG") == "JPEG" and format_for("x", ".tif") == "TIFF" and format_for("-", "webp") == "WEBP"
    assert set(FORMATS.values()) == {"PNG", "JPEG", "WEBP", "BMP", "TIFF"}
    with pytest.raises(ImageError, match=r"unsupported image format '\.xyz'; use PNG"):
        write_image("photo.xyz", Image(np.zeros((1, 1, 1), np.float32)))
    with pytest.raises(ImageError, match="unsupported image format 'gif'"):
        format_for("x.png", "gif")
    with pytest.raises(ImageError, match="add a suffix"):
        format_for("output")


def test_sniff_format_reads_the_magic_bytes() -> None:
    assert sniff_format(b"\x89PNG\r\n\x1a\n" + bytes(8)) == "PNG"
    assert sniff_format(b"\xff\xd8\xff\xe0") == "JPEG"
    assert sniff_format(b"RIFF\0\0\0\0WEBPVP8 ") == "WEBP"
    assert sniff_format(b"BM" + bytes(10)) == "BMP"
    assert sniff_format(b"II*\0") == sniff_format(b"MM\0+") == "TIFF"
    assert sniff_format(b"GIF89a") is None


def test_to_float_and_quantize_are_inverse_on_codes() -> None:
    codes = np.array([0, 1, 254, 255], np.uint8)
    np.testing.assert_array_equal(quantize(to_float(codes, "uint8"), "uint8"), codes)
    wide = np.array([0, 1, 65534, 65535], np.uint16)
    np.testing.assert_array_equal(quantize(to_float(wide, "uint16"), "uint16"), wide)
    raw = np.array([-0.5, 70000.0], np.float32)
    np.testing.assert_array_equal(to_float(raw, "float32"), raw)
    np.testing.assert_array_equal(quantize(np.array([-1.0, np.nan, 0.5, 2.0]), "uint8"), [0, 0, 128, 255])
