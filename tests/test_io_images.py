"""Tests for srcli.io.images: its public names, round trips, metadata and streams."""

from __future__ import annotations

import io
import sys
import types

import numpy as np
import PIL.Image
import pytest
import tifffile
from PIL import ImageCms

import srcli.io.images
from srcli.io import image_data, image_formats, image_readers, image_writers
from srcli.io.images import Image, ImageError, read_image, write_image

ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
MAXVAL = {"uint8": 255, "uint16": 65535}


def random_codes(shape: tuple[int, ...], maxval: int, seed: int = 0) -> np.ndarray:
    codes = np.random.default_rng(seed).integers(0, maxval + 1, shape)
    codes.flat[0], codes.flat[1] = 0, maxval  # both ends of the range
    return codes


def test_public_names_are_those_of_their_modules() -> None:
    homes = {"Image": image_data, "ImageError": image_formats, "FORMATS": image_formats,
             "BIT_DEPTHS": image_formats, "format_for": image_formats, "read_image": image_readers,
             "DEFAULT_MAX_PIXELS": image_readers, "write_image": image_writers}
    assert sorted(srcli.io.images.__all__) == sorted(homes)
    for name, module in homes.items():
        assert getattr(srcli.io.images, name) is getattr(module, name)


# ----------------------------------------------------------------------------- round trips


def png_header(path) -> tuple[int, int]:
    data = path.read_bytes()
    return data[24], data[25]  # bit depth, colour type


@pytest.mark.parametrize(
    ("suffix", "bit_depth", "channels"),
    [(".png", "uint16", c) for c in (1, 2, 3, 4)] + [(".png", "uint8", c) for c in (1, 2, 3, 4)]
    + [(".tif", "uint16", c) for c in (1, 2, 3, 4)] + [(".tif", "uint8", 4)],
)
def test_round_trip_keeps_depth_channels_and_exact_values(tmp_path, suffix, bit_depth, channels) -> None:
    maxval = MAXVAL[bit_depth]
    codes = random_codes((5, 7, channels), maxval)
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
        assert png_header(path) == (16, {1: 0, 2: 4, 3: 2, 4: 6}[channels])
        if channels == 1:
            np.testing.assert_array_equal(np.asarray(PIL.Image.open(path)), codes[:, :, 0])
    else:
        assert png_header(path)[0] == 8
        np.testing.assert_array_equal(np.asarray(PIL.Image.open(path)).reshape(5, 7, channels), codes)


def test_float32_tiff_keeps_values_outside_unit_range(tmp_path) -> None:
    values = np.array([[[-0.5, 3.25, 1e-8], [0.1, 1.0, 70000.0]]], np.float32)
    write_image(tmp_path / "f.tiff", Image(values, "float32"))
    back = read_image(tmp_path / "f.tiff")
    assert back.bit_depth == "float32"
    np.testing.assert_array_equal(back.pixels, values)
    assert tifffile.imread(tmp_path / "f.tiff").dtype == np.float32


# ------------------------------------------------------------------------------ metadata


@pytest.mark.parametrize(("suffix", "bit_depth"), [(".png", "uint8"), (".png", "uint16"), (".jpg", "uint8"),
                                                    (".tif", "uint16"), (".tif", "float32"), (".webp", "uint8")])
def test_icc_profile_survives(tmp_path, suffix, bit_depth) -> None:
    write_image(tmp_path / f"i{suffix}", Image(np.full((4, 4, 3), 0.5, np.float32), bit_depth, icc_profile=ICC))
    assert read_image(tmp_path / f"i{suffix}").icc_profile == ICC
    if suffix == ".tif":
        with tifffile.TiffFile(tmp_path / f"i{suffix}") as tif:
            assert bytes(tif.pages[0].tags[34675].value) == ICC


def exif_with_orientation(orientation: int) -> bytes:
    exif = PIL.Image.Exif()
    exif[0x0112], exif[0x010F] = orientation, "srcli-test"
    return exif.tobytes()


def test_exif_orientation_6_is_applied_and_reset(tmp_path) -> None:
    stored = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10  # H=2, W=3, all distinct
    PIL.Image.fromarray(stored).save(tmp_path / "o.png", exif=exif_with_orientation(6))
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


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".png"])
def test_exif_survives(tmp_path, suffix) -> None:
    write_image(tmp_path / f"e{suffix}", Image(np.zeros((4, 4, 3), np.float32), exif=exif_with_orientation(1)))
    parsed = PIL.Image.Exif()
    parsed.load(read_image(tmp_path / f"e{suffix}").exif)
    assert parsed[0x010F] == "srcli-test"


# -------------------------------------------------------------------------------- streams


def test_stdin_and_stdout(monkeypatch) -> None:
    codes = random_codes((3, 4, 4), 65535)
    monkeypatch.setattr(sys, "stdout", types.SimpleNamespace(buffer=io.BytesIO()))
    write_image("-", Image((codes / 65535).astype(np.float32), "uint16"), format="png")
    written = sys.stdout.buffer.getvalue()
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(written)))
    back = read_image("-")
    assert back.bit_depth == "uint16"
    np.testing.assert_array_equal(np.rint(back.pixels * 65535), codes)
    with pytest.raises(ImageError, match="stdout needs a format"):
        write_image("-", back)
