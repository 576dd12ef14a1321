"""Tests for srcli.io.images: round trips, metadata, streams, errors and atomic writes."""

from __future__ import annotations

import io
import os
import struct
import sys
import types
import zlib

import numpy as np
import PIL.Image
import pytest
import tifffile
import torch
from PIL import ImageCms

from srcli.io.images import FORMATS, Image, ImageError, format_for, read_image, write_image

ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
MAXVAL = {"uint8": 255, "uint16": 65535}


def _codes(shape: tuple[int, ...], maxval: int, seed: int = 0) -> np.ndarray:
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
    codes = _codes((9, 11, channels), 65535, seed=channels)
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


# ----------------------------------------------------------------------------- round trips


def _png_header(path) -> tuple[int, int]:
    data = path.read_bytes()
    return data[24], data[25]  # bit depth, colour type


@pytest.mark.parametrize(
    ("suffix", "bit_depth", "channels"),
    [(".png", "uint16", c) for c in (1, 2, 3, 4)] + [(".png", "uint8", c) for c in (1, 2, 3, 4)]
    + [(".tif", "uint16", c) for c in (1, 2, 3, 4)] + [(".tif", "uint8", 4)],
)
def test_round_trip_keeps_depth_channels_and_exact_values(tmp_path, suffix, bit_depth, channels) -> None:
    maxval = MAXVAL[bit_depth]
    codes = _codes((5, 7, channels), maxval)
    path = tmp_path / f"x{suffix}"
    write_image(path, Image((codes / maxval).astype(np.float32), bit_depth))
    back = read_image(path)
    assert (back.bit_depth, back.channels, back.size) == (bit_depth, channels, (7, 5))
    assert back.has_alpha == (channels in (2, 4))
    assert back.pixels.dtype == np.float32
    np.testing.assert_array_equal(back.pixels, (codes / maxval).astype(np.float32))
    if suffix == ".tif":  # independent reader
        stored = tifffile.imread(path)
        assert stored.dtype == np.dtype(bit_depth)
        np.testing.assert_array_equal(stored.reshape(5, 7, channels), codes)
    elif bit_depth == "uint16":
        assert _png_header(path) == (16, {1: 0, 2: 4, 3: 2, 4: 6}[channels])
        if channels == 1:
            np.testing.assert_array_equal(np.asarray(PIL.Image.open(path)), codes[:, :, 0])
    else:
        assert _png_header(path)[0] == 8
        np.testing.assert_array_equal(np.asarray(PIL.Image.open(path)).reshape(5, 7, channels), codes)


def test_float32_tiff_keeps_values_outside_unit_range(tmp_path) -> None:
    values = np.array([[[-0.5, 3.25, 1e-8], [0.1, 1.0, 70000.0]]], np.float32)
    write_image(tmp_path / "f.tiff", Image(values, "float32"))
    back = read_image(tmp_path / "f.tiff")
    assert back.bit_depth == "float32"
    np.testing.assert_array_equal(back.pixels, values)
    assert tifffile.imread(tmp_path / "f.tiff").dtype == np.float32


def test_integer_output_is_clipped_and_rounded(tmp_path) -> None:
    values = np.array([[-0.2, 1.7, 100.4 / 255, 100.6 / 255, np.nan]], np.float32)
    write_image(tmp_path / "r.png", Image(values, "uint8"))
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(tmp_path / "r.png"))[0], [0, 255, 100, 101, 0])


def test_float_image_to_png_is_16bit(tmp_path) -> None:
    write_image(tmp_path / "f.png", Image(np.full((2, 2, 3), 0.5, np.float32), "float32"))
    back = read_image(tmp_path / "f.png")
    assert back.bit_depth == "uint16" and _png_header(tmp_path / "f.png")[0] == 16
    np.testing.assert_array_equal(back.pixels, np.float32(32768 / 65535))


@pytest.mark.parametrize(("suffix", "channels_back"), [(".jpg", 3), (".bmp", 3), (".webp", 4)])
def test_8bit_formats_squeeze_depth_and_alpha_as_documented(tmp_path, suffix, channels_back) -> None:
    codes = np.zeros((16, 16, 4), np.int64)
    codes[..., 0], codes[..., 1], codes[..., 2], codes[..., 3] = 50000, 20000, 65535, 40000
    write_image(tmp_path / f"x{suffix}", Image((codes / 65535).astype(np.float32), "uint16"), quality=100)
    back = read_image(tmp_path / f"x{suffix}")
    assert (back.bit_depth, back.channels) == ("uint8", channels_back)
    expect = np.rint(codes[..., :channels_back] / 65535 * 255) / 255
    np.testing.assert_allclose(back.pixels, expect, atol=2.5 / 255)


def test_grey_to_webp_is_stored_as_rgb(tmp_path) -> None:
    codes = _codes((4, 4, 1), 255)
    write_image(tmp_path / "g.webp", Image((codes / 255).astype(np.float32)), quality=100)
    back = read_image(tmp_path / "g.webp")
    assert back.channels == 3
    np.testing.assert_array_equal(np.rint(back.pixels * 255), np.repeat(codes, 3, axis=2))


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


# ------------------------------------------------------------------------------ metadata


@pytest.mark.parametrize(("suffix", "bit_depth"), [(".png", "uint8"), (".png", "uint16"), (".jpg", "uint8"),
                                                    (".tif", "uint16"), (".tif", "float32"), (".webp", "uint8")])
def test_icc_profile_survives(tmp_path, suffix, bit_depth) -> None:
    write_image(tmp_path / f"i{suffix}", Image(np.full((4, 4, 3), 0.5, np.float32), bit_depth, icc_profile=ICC))
    assert read_image(tmp_path / f"i{suffix}").icc_profile == ICC
    if suffix == ".tif":
        with tifffile.TiffFile(tmp_path / f"i{suffix}") as tif:
            assert bytes(tif.pages[0].tags[34675].value) == ICC


def _exif(orientation: int) -> bytes:
    exif = PIL.Image.Exif()
    exif[0x0112], exif[0x010F] = orientation, "srcli-test"
    return exif.tobytes()


def test_exif_orientation_6_is_applied_and_reset(tmp_path) -> None:
    stored = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10  # H=2, W=3, all distinct
    PIL.Image.fromarray(stored).save(tmp_path / "o.png", exif=_exif(6))
    image = read_image(tmp_path / "o.png")
    assert image.size == (2, 3)
    # orientation 6: the stored image is shown turned 90 degrees clockwise
    upright = np.array([[stored[1 - j, i] for j in range(2)] for i in range(3)])
    np.testing.assert_array_equal(np.rint(image.pixels * 255), upright)
    parsed = PIL.Image.Exif()
    parsed.load(image.exif)
    assert parsed[0x0112] == 1 and parsed[0x010F] == "srcli-test"
    write_image(tmp_path / "o.jpg", image)
    with PIL.Image.open(tmp_path / "o.jpg") as written:
        assert written.size == (2, 3)
        assert written.getexif()[0x0112] == 1 and written.getexif()[0x010F] == "srcli-test"


def test_exif_orientation_applied_to_jpeg_and_16bit_png(tmp_path) -> None:
    blocks = np.kron(np.array([[0, 80, 160], [40, 120, 240]], np.uint8), np.ones((16, 16), np.uint8))
    PIL.Image.fromarray(blocks).save(tmp_path / "o.jpg", exif=_exif(6), quality=98)
    image = read_image(tmp_path / "o.jpg")
    np.testing.assert_allclose(image.pixels[8::16, 8::16, 0] * 255, [[40, 0], [120, 80], [240, 160]], atol=3)
    exif = _exif(8)[6:]
    body = struct.pack(">I", len(exif)) + b"eXIf" + exif + struct.pack(">I", zlib.crc32(b"eXIf" + exif))
    codes = np.arange(6, dtype=np.uint16).reshape(2, 3, 1) * 1000
    turned = read_image(_png16(codes, extra=body))  # orientation 8: turned counter-clockwise
    np.testing.assert_array_equal(np.rint(turned.pixels[:, :, 0] * 65535), [[2000, 5000], [1000, 4000], [0, 3000]])


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".png"])
def test_exif_survives(tmp_path, suffix) -> None:
    write_image(tmp_path / f"e{suffix}", Image(np.zeros((4, 4, 3), np.float32), exif=_exif(1)))
    parsed = PIL.Image.Exif()
    parsed.load(read_image(tmp_path / f"e{suffix}").exif)
    assert parsed[0x010F] == "srcli-test"


# -------------------------------------------------------------------------------- streams


def test_stdin_and_stdout(monkeypatch) -> None:
    codes = _codes((3, 4, 4), 65535)
    monkeypatch.setattr(sys, "stdout", types.SimpleNamespace(buffer=io.BytesIO()))
    write_image("-", Image((codes / 65535).astype(np.float32), "uint16"), format="png")
    written = sys.stdout.buffer.getvalue()
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(written)))
    back = read_image("-")
    assert back.bit_depth == "uint16"
    np.testing.assert_array_equal(np.rint(back.pixels * 65535), codes)
    with pytest.raises(ImageError, match="stdout needs a format"):
        write_image("-", back)


def test_binary_file_object_source(tmp_path) -> None:
    write_image(tmp_path / "s.bmp", Image(np.ones((2, 2, 3), np.float32)))
    with open(tmp_path / "s.bmp", "rb") as fh:
        assert read_image(fh).format == "BMP"


# --------------------------------------------------------------------------------- errors


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


def test_unknown_formats() -> None:
    assert format_for("a/b.JPG") == "JPEG" and format_for("x", ".tif") == "TIFF" and format_for("-", "webp") == "WEBP"
    assert set(FORMATS.values()) == {"PNG", "JPEG", "WEBP", "BMP", "TIFF"}
    with pytest.raises(ImageError, match=r"unsupported image format '\.xyz'; use PNG"):
        write_image("photo.xyz", Image(np.zeros((1, 1, 1), np.float32)))
    with pytest.raises(ImageError, match="unsupported image format 'gif'"):
        format_for("x.png", "gif")
    with pytest.raises(ImageError, match="add a suffix"):
        format_for("output")


def test_decompression_bombs_are_refused_before_decoding(tmp_path) -> None:
    limit_before = PIL.Image.MAX_IMAGE_PIXELS
    for data in (_pixels_png(tmp_path), _pixels_png(tmp_path, "uint16")):
        with pytest.raises(ImageError, match="refusing to decode"):
            read_image(data, max_pixels=1000)
        with pytest.raises(ImageError, match="refusing to decode"):  # Pillow's own hard limit (2x)
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


def test_overwrite_false_and_bad_destinations(tmp_path) -> None:
    image = Image(np.zeros((2, 2, 3), np.float32))
    (tmp_path / "old.png").write_bytes(b"keep me")
    with pytest.raises(ImageError, match="already exists"):
        write_image(tmp_path / "old.png", image, overwrite=False)
    assert (tmp_path / "old.png").read_bytes() == b"keep me"
    with pytest.raises(ImageError, match="does not exist"):
        write_image(tmp_path / "nowhere" / "x.png", image)
    (tmp_path / "d.png").mkdir()
    with pytest.raises(ImageError, match="is a folder"):
        write_image(tmp_path / "d.png", image)
    with pytest.raises(ImageError, match="quality"):
        write_image(tmp_path / "q.jpg", image, quality=0)
    write_image(tmp_path / "old.png", image)  # overwrite=True replaces it
    assert read_image(tmp_path / "old.png").size == (2, 2)


# ------------------------------------------------------------------------------ atomicity


def _partial_then(error: BaseException):
    def encode(*args, **kwargs):
        fh = next(a for a in (*args, *kwargs.values()) if hasattr(a, "write"))
        fh.write(b"half an image")
        raise error
    return encode


@pytest.mark.parametrize(("suffix", "target"), [(".png", (PIL.Image.Image, "save")),
                                                (".tif", (tifffile, "imwrite")),
                                                (".png", (zlib, "compress"))])
@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("boom"), OSError(28, "No space left on device")])
def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch, suffix, target, error) -> None:
    bit_depth = "uint16" if target[1] == "compress" else "uint8"
    if target[1] == "compress":  # the 16-bit PNG encoder has written its header by then
        monkeypatch.setattr(zlib, "compress", lambda *a, **k: (_ for _ in ()).throw(error))
    else:
        monkeypatch.setattr(*target, _partial_then(error))
    expected = ImageError if isinstance(error, OSError) else type(error)
    with pytest.raises(expected):
        write_image(tmp_path / f"out{suffix}", Image(np.zeros((3, 3, 3), np.float32), bit_depth))
    assert os.listdir(tmp_path) == []
    (tmp_path / f"out{suffix}").write_bytes(b"previous")
    with pytest.raises(expected):
        write_image(tmp_path / f"out{suffix}", Image(np.zeros((3, 3, 3), np.float32), bit_depth))
    assert os.listdir(tmp_path) == [f"out{suffix}"]
    assert (tmp_path / f"out{suffix}").read_bytes() == b"previous"


# -------------------------------------------------------------------------------- tensors


def test_tensor_round_trip_and_metadata() -> None:
    like = Image(_codes((3, 5, 4), 255) / np.float32(255), "uint16", icc_profile=ICC, exif=_exif(1), format="TIFF")
    tensor = like.to_tensor()
    assert tensor.shape == (1, 4, 3, 5) and tensor.dtype == torch.float32
    assert torch.equal(tensor[0, 2], torch.from_numpy(like.pixels[:, :, 2]))
    out = Image.from_tensor(tensor * 3 - 1, like=like)
    assert (out.bit_depth, out.icc_profile, out.exif, out.format, out.channels) == ("uint16", ICC, like.exif, "TIFF", 4)
    np.testing.assert_array_equal(out.pixels, np.clip(like.pixels * 3 - 1, 0, 1))
    raw = Image(np.zeros((3, 5, 1), np.float32), "float32")
    np.testing.assert_array_equal(Image.from_tensor(torch.full((1, 1, 3, 5), 7.5), like=raw).pixels, 7.5)
    with pytest.raises(ValueError, match=r"\(1, 4, H, W\)"):
        Image.from_tensor(torch.zeros(1, 3, 3, 5), like=like)
    with pytest.raises(ValueError, match="bit_depth"):
        Image(np.zeros((2, 2, 3)), "int8")
    with pytest.raises(ValueError, match="C in 1..4"):
        Image(np.zeros((2, 2, 5)))
