"""Tests for srcli.io.image_writers: what each format keeps, destinations and atomic writes."""

from __future__ import annotations

import os
import zlib

import numpy as np
import PIL.Image
import pytest
import tifffile

from srcli.io.image_data import Image
from srcli.io.image_formats import ImageError
from srcli.io.image_readers import read_image
from srcli.io.image_writers import check_encodable, write_image


def random_codes(shape: tuple[int, ...], maxval: int, seed: int = 0) -> np.ndarray:
    codes = np.random.default_rng(seed).integers(0, maxval + 1, shape)
    codes.flat[0], codes.flat[1] = 0, maxval  # both ends of the range
    return codes


def png_header(path) -> tuple[int, int]:
    data = path.read_bytes()
    return data[24], data[25]  # bit depth, colour type


def test_integer_output_is_clipped_and_rounded(tmp_path) -> None:
    values = np.array([[-0.2, 1.7, 100.4 / 255, 100.6 / 255, np.nan]], np.float32)
    write_image(tmp_path / "r.png", Image(values, "uint8"))
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(tmp_path / "r.png"))[0], [0, 255, 100, 101, 0])


def test_float_image_to_png_is_16bit(tmp_path) -> None:
    write_image(tmp_path / "f.png", Image(np.full((2, 2, 3), 0.5, np.float32), "float32"))
    back = read_image(tmp_path / "f.png")
    assert back.bit_depth == "uint16" and png_header(tmp_path / "f.png")[0] == 16
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
    codes = random_codes((4, 4, 1), 255)
    write_image(tmp_path / "g.webp", Image((codes / 255).astype(np.float32)), quality=100)
    back = read_image(tmp_path / "g.webp")
    assert back.channels == 3
    np.testing.assert_array_equal(np.rint(back.pixels * 255), np.repeat(codes, 3, axis=2))


# ---------------------------------------------------------------------------- destinations


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


def test_formats_refuse_sides_they_cannot_store(tmp_path):
    check_encodable((16383, 2), "WEBP")
    check_encodable((100_000, 100_000), "PNG")
    with pytest.raises(ImageError, match="WEBP stores at most 16383 pixels per side and the image is 1x16384; write PNG"):
        check_encodable((16384, 1), "WEBP")
    with pytest.raises(ImageError, match="JPEG stores at most 65535"):
        write_image(tmp_path / "wide.jpg", Image(np.zeros((1, 65536, 3), np.float32), "uint8"))
    assert list(tmp_path.iterdir()) == []
