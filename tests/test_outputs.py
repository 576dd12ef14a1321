"""Output helpers shared by the file commands (srcli.tasks.outputs): formats, stdin, writing."""

from __future__ import annotations

import numpy as np
import pytest

from srcli.errors import UsageError
from srcli.io.image_formats import ImageError
from srcli.io.images import Image
from srcli.io.paths import Job
from srcli.tasks.outputs import check_one_stdin, check_output_formats, write_output


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
