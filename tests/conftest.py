"""Shared fixtures: tiny real image files written with Pillow (independent of srcli's I/O), tiny models."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


def write_png(path, height=12, width=16, mode="RGB", seed=0):
    """Write a small random PNG with Pillow and return its path."""
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode).save(path)
    return path


@pytest.fixture()
def png(tmp_path):
    """A 16x12 RGB PNG."""
    return write_png(tmp_path / "in.png")


@pytest.fixture(autouse=True)
def _few_threads():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(min(before, 2))
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def tiny_points_model():
    """Factory of small seeded points networks in eval mode: ``tiny_points_model(seed=0)``."""
    import torch

    from srcli.models.points import ISPPointsNet

    def make(seed: int = 0) -> ISPPointsNet:
        torch.manual_seed(seed)
        return ISPPointsNet(point_features=8, point_hidden=16, grid_hidden=16, encoder_width=8, encoder_blocks=1,
                            decoder_hidden=16).eval()

    return make


@pytest.fixture()
def folders(tmp_path):
    """Two tiny bench datasets: 'alpha' (two RGB images, one grey) and 'beta' (one RGB image)."""
    a, b = tmp_path / "alpha", tmp_path / "beta"
    a.mkdir()
    b.mkdir()
    write_png(a / "one.png", 26, 31, seed=1)
    write_png(a / "two.png", 25, 24, seed=2)
    write_png(a / "three.png", 24, 27, mode="L", seed=3)
    write_png(b / "four.png", 28, 26, seed=4)
    return [str(a), str(b)]


@pytest.fixture()
def no_shipped_weights(monkeypatch, tmp_path):
    """The package as if no trained weights shipped (an empty weights folder)."""
    from srcli import registry

    empty = tmp_path / "no_weights"
    empty.mkdir()
    monkeypatch.setattr(registry, "WEIGHTS_DIR", empty)
    return empty
