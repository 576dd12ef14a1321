"""Tests for srcli.models.classical: registered parameter-free upscalers."""

import pytest
import torch

from srcli import registry
from srcli.models import classical

NAMES = ["bicubic", "lanczos2", "lanczos3", "bilinear", "nearest"]


def test_registry_lists_the_classical_models():
    entries = {e.name: e for e in registry.list_models(task="upscale")}
    for name in NAMES:
        entry = entries[name]
        assert entry.family == "classical" and not entry.trainable and entry.has_weights
        assert entry.description


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels", [1, 3, 4, 7])
def test_forward_shapes_any_channel_count(name, channels):
    model, card = registry.load_model(name)
    assert sum(p.numel() for p in model.parameters()) == 0 and "description" in card
    image = torch.rand(2, channels, 9, 13)
    out = model(image, (20, 27))
    assert out.shape == (2, channels, 20, 27) and out.dtype == torch.float32
    assert model(image, (4, 6)).shape == (2, channels, 4, 6)


def test_channels_are_resized_independently():
    model = registry.create("lanczos3")
    image = torch.rand(1, 5, 8, 8)
    together = model(image, (17, 11))
    alone = torch.cat([model(image[:, c : c + 1], (17, 11)) for c in range(5)], dim=1)
    assert torch.allclose(together, alone, atol=1e-6)


def test_nearest_keeps_exact_values_and_bicubic_is_smooth():
    image = torch.tensor([[0.0, 1.0], [1.0, 0.0]]).view(1, 1, 2, 2)
    near = classical.Nearest()(image, (4, 4))
    assert torch.equal(near, image.repeat_interleave(2, 2).repeat_interleave(2, 3))
    smooth = classical.Bicubic()(image, (4, 4))
    assert set(smooth.unique().tolist()) - {0.0, 1.0}
    assert classical.Nearest().antialias is False and "nearest" in repr(classical.Nearest())


def test_bad_size_is_a_clear_error():
    with pytest.raises(ValueError, match="two positive integers"):
        registry.create("bicubic")(torch.rand(1, 3, 4, 4), (0, 8))
