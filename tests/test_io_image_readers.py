"""Tests for srcli.io.image_readers: decoders, sources, orientation and decoding errors."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import PIL.Image
import pytest

from srcli.io.image_data import Image
from srcli.io.image_formats import ImageError
from srcli.io.image_readers import read_image
from srcli.io.image_writers import write_image


def random_codes(shape: tuple[int, ...], maxval: int, seed: int = 0) -> np.ndarray:
    codes = np.random.default_rng(seed).integers(0, maxval + 1, shape)
    codes.flat[0], codes.flat[1] = 0, maxval  # both ends of the range
    return codes


# ---------------------------------------------------------------- an independent PNG writer


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filter_rows(rows: list[bytes], bpp: int, first_kind: int) -> bytes:
    """PNG-filter rows with types cycling from ``first_kind`` (plain loops, spec formulas)."""
    out, prev = bytearray(), bytes(len(rows[0]))
    for n, row in enumerate(rows):
        kind = (first_kind + n) % 5
        out.append(kind)
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            pred = [0, a, b, (a + b) // 2, _paeth(a, b, c)][kind]
            out.append((x - pred) % 256)
        prev = row
    return bytes(out)


def _png16(values: np.ndarray, *, interlace: bool = False, extra: bytes = b"") -> bytes:
    """A 16-bit PNG of ``(H, W, C)`` uint16, every filter type used, optionally Adam7."""
    height, width, channels = values.shape
    bpp = 2 * channels
    raw = b""
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
    for n, (x0, y0, dx, dy) in enumerate(passes if interlace else ((0, 0, 1, 1),)):
        sub = values[y0::dy, x0::dx]
        if sub.size:
            raw += _filter_rows([r.astype(">u2").tobytes() for r in sub], bpp, first_kind=n)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    ihdr = struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, int(interlace))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("interlace", [False, True])
def test_reads_16bit_png_with_every_filter_type(channels: int, interlace: bool) -> None:
    codes = random_codes((9, 11, channels), 65535, seed=channels)
    image = read_image(_png16(codes.astype(np.uint16), interlace=interlace))
    assert (image.bit_depth, image.channels, image.format) == ("uint16", channels, "PNG")
    np.testing.assert_array_equal(image.pixels, (codes / 65535).astype(np.float32))


def test_16bit_png_colour_key_becomes_alpha() -> None:
    codes = np.array([[[1, 2, 3], [4, 5, 6]]], np.uint16)
    trns = struct.pack(">HHH", 4, 5, 6)
    extra = struct.pack(">I", 6) + b"tRNS" + trns + struct.pack(">I", zlib.crc32(b"tRNS" + trns))
    image = read_image(_png16(codes, extra=extra))
    np.testing.assert_array_equal(image.pixels[0, :, 3], [1.0, 0.0])


def test_reads_pillow_written_16bit_grey_png(tmp_path) -> None:
    """Pillow's encoder chooses filters per row (adaptive): a second, independent encoder."""
    codes = np.cumsum(np.random.default_rng(1).integers(0, 900, (23, 37)), axis=1).astype(np.uint16)
    PIL.Image.fromarray(codes).save(tmp_path / "g.png")
    image = read_image(tmp_path / "g.png")
    np.testing.assert_array_equal(np.rint(image.pixels[:, :, 0] * 65535), codes)


# ------------------------------------------------- palette, 1-bit, CMYK and Pillow-fallback sources


def test_palette_one_bit_and_cmyk_sources(tmp_path) -> None:
    palette = PIL.Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putdata([0, 1])
    palette.save(tmp_path / "p.png")
    back = read_image(tmp_path / "p.png")
    np.testing.assert_array_equal(back.pixels[0], [[1, 0, 0], [0, 0, 1]])
    palette.save(tmp_path / "pt.png", transparency=1)
    np.testing.assert_array_equal(read_image(tmp_path / "pt.png").pixels[0, :, 3], [1, 0])
    PIL.Image.fromarray(np.array([[True, False]])).save(tmp_path / "b.png")
    bits = read_image(tmp_path / "b.png")
    assert (bits.channels, bits.bit_depth) == (1, "uint8")
    np.testing.assert_array_equal(bits.pixels[0, :, 0], [1, 0])
    cmyk = PIL.Image.new("CMYK", (3, 1))
    cmyk.putdata([(255, 0, 0, 0), (0, 0, 0, 0), (0, 0, 0, 255)])
    cmyk.save(tmp_path / "c.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "c.tif").pixels[0], [[0, 1, 1], [1, 1, 1], [0, 0, 0]])


def test_lzw_16bit_grey_tiff_falls_back_to_pillow_keeping_depth(tmp_path) -> None:
    codes = np.array([[1, 65535], [300, 0]], np.uint16)
    PIL.Image.fromarray(codes).save(tmp_path / "l.tif", compression="tiff_lzw")
    back = read_image(tmp_path / "l.tif")
    assert back.bit_depth == "uint16"
    np.testing.assert_array_equal(np.rint(back.pixels[:, :, 0] * 65535), codes)


# ------------------------------------------------------------------------------ orientation


def exif_with_orientation(orientation: int) -> bytes:
    exif = PIL.Image.Exif()
    exif[0x0112], exif[0x010F] = orientation, "srcli-test"
    return exif.tobytes()


def test_exif_orientation_applied_to_jpeg_and_16bit_png(tmp_path) -> None:
    blocks = np.kron(np.array([[0, 80, 160], [40, 120, 240]], np.uint8), np.ones((16, 16), np.uint8))
    PIL.Image.fromarray(blocks).save(tmp_path / "o.jpg", exif=exif_with_orientation(6), quality=98)
    image = read_image(tmp_path / "o.jpg")
    np.testing.assert_allclose(image.pixels[8::16, 8::16, 0] * 255, [[40, 0], [120, 80], [240, 160]], atol=3)
    exif = exif_with_orientation(8)[6:]
    body = struct.pack(">I", len(exif)) + b"eXIf" + exif + struct.pack(">I", zlib.crc32(b"eXIf" + exif))
    codes = np.arange(6, dtype=np.uint16).reshape(2, 3, 1) * 1000
    turned = read_image(_png16(codes, extra=body))  # orientation 8: turned counter-clockwise
    np.testing.assert_array_equal(np.rint(turned.pixels[:, :, 0] * 65535), [[2000, 5000], [1000, 4000], [0, 3000]])


# ------------------------------------------------------------------------- sources and errors


def test_binary_file_object_source(tmp_path) -> None:
    write_image(tmp_path / "s.bmp", Image(np.ones((2, 2, 3), np.float32)))
    with open(tmp_path / "s.bmp", "rb") as fh:
        assert read_image(fh).format == "BMP"


def _pixels_png(tmp_path, bit_depth: str = "uint8") -> bytes:
    rng = np.random.default_rng(3)
    write_image(tmp_path / "src.png", Image(rng.random((40, 40, 3), np.float32), bit_depth))
    return (tmp_path / "src.png").read_bytes()


@pytest.mark.parametrize("bit_depth", ["uint8", "uint16"])
def test_truncated_png(tmp_path, bit_depth) -> None:
    data = _pixels_png(tmp_path, bit_depth)
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"cannot read .*cut\.png: truncated"):
        read_image(tmp_path / "cut.png")
    with pytest.raises(ImageError, match="truncated"):
        read_image(data[:40])


def test_empty_text_missing_folder_and_unsupported(tmp_path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("these are notes, not pixels\n")
    PIL.Image.new("RGB", (2, 2)).save(tmp_path / "anim.gif")
    cases = {"empty.png": "is empty", "notes.png": "not an image file", "missing.png": "no such file",
             ".": "folder", "anim.gif": "unsupported image format GIF"}
    for name, message in cases.items():
        with pytest.raises(ImageError, match=message):
            read_image(tmp_path / name)


def test_decompression_bombs_are_refused_before_decoding(tmp_path) -> None:
    limit_before = PIL.Image.MAX_IMAGE_PIXELS
    for data in (_pixels_png(tmp_path), _pixels_png(tmp_path, "uint16")):
        with pytest.raises(ImageError, match="refusing to decode"):
            read_image(data, max_pixels=1000)
        with pytest.raises(ImageError, match=r"refusing to decode .*\(possible decompression bomb\)$"):  # Pillow's 2x
            read_image(data, max_pixels=100)
    write_image(tmp_path / "t.tif", Image(np.zeros((40, 40, 3), np.float32)))
    with pytest.raises(ImageError, match=r"40x40 = 1,600 pixels"):
        read_image(tmp_path / "t.tif", max_pixels=1000)
    for depth, colour in ((8, 2), (16, 6)):  # a 50000 x 50000 header over a few bytes of data
        chunks = [(b"IHDR", struct.pack(">IIBBBBB", 50000, 50000, depth, colour, 0, 0, 0)),
                  (b"IDAT", zlib.compress(b"\0" * 1000)), (b"IEND", b"")]
        data = b"\x89PNG\r\n\x1a\n" + b"".join(
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
            for kind, body in chunks)
        with pytest.raises(ImageError, match="refusing to decode"):
            read_image(data)
    assert PIL.Image.MAX_IMAGE_PIXELS == limit_before
