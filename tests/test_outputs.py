"""Output helpers shared by the file commands (srcli.tasks.outputs): formats, stdin, writing."""

from __future__ import annotations

import numpy as np
import pytest

from srcli.errors import UsageError
from srcli.io.image_formats import ImageError
from srcli.io.images import Image
from srcli.io.paths import Job
from srcli.tasks.outputs import check_one_stdin, check_output_formats, stored_values, write_output


def test_output_formats_are_checked_per_job():
    check_output_formats([Job("a.png", "a.tif"), Job("-", "-")], None)  # stdout defaults to PNG
    check_output_formats([Job("a.png", "a.raw")], "png")  # --format decides
    with pytest.raises(ImageError, match="unsupported image format '.raw'"):
        check_output_formats([Job("a.png", "b.png"), Job("a.png", "a.raw")], None)
    check_output_formats([Job("a.png", "b.jpeg"), Job("a.png", "c.JPG")], "jpg")
    check_output_formats([Job("a.png", "b.tif")], "tiff")
    with pytest.raises(UsageError, match="--format jpeg conflicts with the output name b.png"):
        check_output_formats([Job("a.png", "b.png")], "jpeg")


def test_stdin_is_read_once():
    check_one_stdin([Job("-", "o.png")], {"--mask": "m.png", "--reference": None})
    check_one_stdin([Job("a.png", "o.png")], {"--mask": "-"})
    with pytest.raises(UsageError, match=r"--mask and an input both read stdin \(-\)"):
        check_one_stdin([Job("-", "o.png")], {"--mask": "-"})
    with pytest.raises(UsageError, match="--mask and --reference both read stdin"):
        check_one_stdin([Job("a.png", "o.png")], {"--mask": "-", "--reference": "-"})


def test_write_output_makes_no_folder_for_an_unknown_format(tmp_path):
    image = Image(np.zeros((2, 3, 3), np.float32), "uint8")
    with pytest.raises(ImageError):
        write_output(str(tmp_path / "new" / "o.xyz"), image, None, False)
    assert not (tmp_path / "new").exists()
    write_output(str(tmp_path / "new" / "o.png"), image, None, False)
    assert (tmp_path / "new" / "o.png").is_file()


def test_an_explicit_bit_depth_must_fit_the_format():
    check_output_formats([Job("a.png", "b.png")], None, "16")
    check_output_formats([Job("a.png", "b.tif")], None, "32")
    check_output_formats([Job("a.png", "b.jpg")], None, "keep")  # keep: the deepest the format holds
    with pytest.raises(UsageError, match="--bit-depth 32 does not fit the PNG output b.png: PNG holds 8 or 16 bits; 32"):
        check_output_formats([Job("a.png", "b.png")], None, "32")
    with pytest.raises(UsageError, match="--bit-depth 16 does not fit the JPEG output b.jpg: JPEG holds 8 bits"):
        check_output_formats([Job("a.png", "b.jpg")], None, "16")


def test_stored_values_are_what_the_file_holds():
    pixels = np.array([[[0.1234567]]], np.float32)
    assert stored_values(pixels, "float32", "TIFF")[0, 0, 0] == np.float32(0.1234567)
    assert stored_values(pixels, "float32", "PNG")[0, 0, 0] == round(0.1234567 * 65535) / 65535  # a 16-bit PNG
    assert stored_values(pixels, "uint16", "JPEG")[0, 0, 0] == round(0.1234567 * 255) / 255
