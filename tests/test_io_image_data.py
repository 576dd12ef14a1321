"""Tests for srcli.io.image_data: the Image type, its checks and its tensor conversions."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch
from PIL import ImageCms

from srcli.io.image_data import Image

ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def random_codes(shape: tuple[int, ...], maxval: int, seed: int = 0) -> np.ndarray:
    codes = np.random.default_rng(seed).integers(0, maxval + 1, shape)
    codes.flat[0], codes.flat[1] = 0, maxval  # both ends of the range
    return codes


def exif_with_orientation(orientation: int) -> bytes:
    exif = PIL.Image.Exif()
    exif[0x0112], exif[0x010F] = orientation, "srcli-test"
    return exif.tobytes()


def test_tensor_round_trip_and_metadata() -> None:
    like = Image(random_codes((3, 5, 4), 255) / np.float32(255), "uint16", icc_profile=ICC, exif=exif_with_orientation(1), format="TIFF")
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
