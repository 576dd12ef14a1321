"""Validation pairs, full-image prediction and mean PSNR, against formulas written here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_datasets import matlab_resize, write_rgb
from torch import nn

from srcli.device import make_runtime
from srcli.training.datasets import DataError
from srcli.training.validation import (
    ValidationPair,
    centre_crop,
    load_validation_set,
    mean_psnr_by,
    validate,
)


class NearestUpsampler(nn.Module):
    """A stand-in model: features are the image; a query returns the LR pixel containing it."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))

    def encode(self, image):
        return image + self.weight

    def query(self, feat, coord, cell):
        b, _, h, w = feat.shape
        iy = ((coord[..., 0] + 1) * h / 2).floor().long().clamp(0, h - 1)
        ix = ((coord[..., 1] + 1) * w / 2).floor().long().clamp(0, w - 1)
        flat = feat.flatten(2)
        return torch.gather(flat, 2, (iy * w + ix)[:, None].expand(b, 3, -1)).transpose(1, 2)


def y_psnr(sr, hr, shave):
    """Independent Y-channel PSNR (BT.601, 255 peak) in numpy."""
    def y(img):
        return 16 + 65.481 * img[0] + 128.553 * img[1] + 24.966 * img[2]

    diff = (y(sr.astype(np.float64)) - y(hr.astype(np.float64)))[shave:-shave, shave:-shave]
    return 10 * np.log10(255.0**2 / np.mean(diff**2))


def test_validation_psnr_matches_an_independent_computation():
    rng = np.random.default_rng(0)
    pairs, expected = [], {2: [], 3: []}
    for scale, n in ((2, 6), (3, 4), (2, 5)):
        lr = rng.random((3, n, n)).astype(np.float32)
        hr = np.clip(np.repeat(np.repeat(lr, scale, 1), scale, 2) + rng.normal(0, 0.05, (3, n * scale, n * scale)), 0, 1)
        hr = hr.astype(np.float32)
        pairs.append(ValidationPair("x", scale, torch.from_numpy(lr)[None], torch.from_numpy(hr)[None]))
        sr = np.repeat(np.repeat(lr, scale, 1), scale, 2)  # what nearest upsampling gives
        expected[scale].append(y_psnr(sr, hr, scale))
    result = validate(NearestUpsampler(), pairs, make_runtime("cpu", "fp32"))
    assert result["psnr_x2"] == pytest.approx(np.mean(expected[2]), abs=1e-4)
    assert result["psnr_x3"] == pytest.approx(np.mean(expected[3]), abs=1e-4)
    assert result["psnr"] == pytest.approx(np.mean(expected[2] + expected[3]), abs=1e-4)


def test_validation_set(tmp_path):
    pixels = write_rgb(tmp_path / "v.png", 30, 34)
    pairs = load_validation_set(tmp_path, [2, 3], crop=25, max_images=5)
    assert [(p.scale, tuple(p.hr.shape), tuple(p.lr.shape)) for p in pairs] == [
        (2, (1, 3, 24, 24), (1, 3, 12, 12)), (3, (1, 3, 24, 24), (1, 3, 8, 8))]
    top, left = (30 - 25) // 2, (34 - 25) // 2
    np.testing.assert_allclose(pairs[0].hr[0].numpy(), pixels[top: top + 24, left: left + 24].transpose(2, 0, 1) / 255, rtol=1e-6)
    hr = pairs[1].hr[0].double().numpy()
    expected = np.floor(np.clip(matlab_resize(hr, 8, 8), 0, 1) * 255 + 0.5) / 255
    assert np.mean(np.abs(pairs[1].lr[0].double().numpy() - expected) < 1e-6) > 0.99  # 8-bit bicubic LR
    assert centre_crop(torch.zeros(1, 3, 5, 9), 7).shape == (1, 3, 5, 7)
    with pytest.raises(DataError, match="too small"):
        load_validation_set(tmp_path, [20], crop=0, max_images=1)


def test_mean_psnr_by_groups_in_order_and_restores_training_mode():
    model = nn.Linear(1, 1).train()
    seen = []

    def score(item):
        seen.append(model.training)
        return item
    result = mean_psnr_by(model, [(3, 30.0), (2, 20.0), (3, 32.0)], score, "psnr_x{:g}")
    assert list(result) == ["psnr_x2", "psnr_x3", "psnr"] and seen == [False] * 3 and model.training
    assert result["psnr_x3"] == pytest.approx(31.0) and result["psnr"] == pytest.approx(82 / 3)
