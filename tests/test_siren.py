"""SIREN model (LINR): initialisation, forward pass, coordinates, registry entry."""

from __future__ import annotations

import math

import pytest
import torch

from srcli.models.siren import Siren, linr_coords, linr_extent, render, values_to_image
from srcli.registry import create, get_entry


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread avoids oversubscription on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def manual_forward(model: Siren, coords: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """SIREN written out from its definition; returns the output and every sine layer's output."""
    outs = []
    h = torch.sin(30.0 * (coords @ model.first.weight.T + model.first.bias))
    outs.append(h)
    for layer in model.hidden:
        h = torch.sin(30.0 * (h @ layer.weight.T + layer.bias))
        outs.append(h)
    return h @ model.last.weight.T + model.last.bias, outs


def test_init_bounds() -> None:
    torch.manual_seed(0)
    model = Siren(in_features=2, out_features=3, width=128, depth=3)
    first = model.first.weight
    assert first.abs().max() <= 1 / 2
    assert first.abs().max() > 0.45  # uniform over the whole range, not a narrower one
    bound = math.sqrt(6 / 128) / 30
    for layer in [*model.hidden, model.last]:
        w = layer.weight.detach()
        assert w.abs().max() <= bound
        assert w.abs().max() > 0.95 * bound
        assert abs(float(w.std()) - bound / math.sqrt(3)) < 0.05 * bound  # std of U(-b, b)
    for layer in [model.first, *model.hidden, model.last]:  # PyTorch's default bias range
        assert layer.bias.abs().max() <= 1 / math.sqrt(layer.in_features)


def test_activations_arcsine_like() -> None:
    """SIREN's point: with its initialisation every sine layer's output is arcsine-distributed."""
    torch.manual_seed(1)
    model = Siren(width=256, depth=4)
    coords = torch.rand(4096, 2) * 2 - 1
    with torch.no_grad():
        out, layers = manual_forward(model, coords)
        assert torch.allclose(model(coords), out, atol=1e-5)
    s = torch.linspace(-0.95, 0.95, 39)
    for h in layers[1:]:
        values = h.flatten()
        empirical = (values[:, None] <= s[None, :]).float().mean(0)
        arcsine_cdf = 0.5 + torch.asin(s) / math.pi
        assert (empirical - arcsine_cdf).abs().max() < 0.06
        assert abs(float(values.var()) - 0.5) < 0.06  # arcsine variance 1/2


def test_forward_shapes_and_dtype() -> None:
    model = Siren(in_features=2, out_features=4, width=16, depth=1)
    assert model(torch.zeros(5, 2)).shape == (5, 4)
    assert model(torch.zeros(2, 3, 2)).shape == (2, 3, 4)
    model64 = model.double()
    assert model64(torch.zeros(5, 2, dtype=torch.float64)).dtype == torch.float64


def test_depth_counts_hidden_sine_layers() -> None:
    model = create("siren")
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 8  # LINR: first + 6 hidden sine layers + final linear
    assert model.first.out_features == 256 and model.last.out_features == 3


def test_autocast_keeps_first_and_last_layer_fp32() -> None:
    torch.manual_seed(2)
    model = Siren(width=32, depth=2)
    coords = linr_coords(64, 64)
    with torch.no_grad():
        ref = model(coords)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(coords)
    assert low.dtype == torch.float32
    assert (low - ref).abs().max() < 0.05


def test_registry_entry() -> None:
    entry = get_entry("siren")
    assert entry.task == "fit" and entry.family == "linr" and not entry.trainable and entry.has_weights
    assert entry.default_args["width"] == 256 and entry.default_args["depth"] == 6


def test_bad_shape() -> None:
    with pytest.raises(ValueError, match="bad SIREN shape"):
        Siren(width=0)
    with pytest.raises(ValueError, match="bad SIREN shape"):
        Siren(depth=-1)


@pytest.mark.parametrize("h,w", [(3, 5), (6, 4), (4, 4), (1, 7)])
def test_linr_coords_aspect_and_centres(h: int, w: int) -> None:
    coords = linr_coords(h, w).double()
    n = max(h, w)
    for k, (i, j) in enumerate((i, j) for i in range(h) for j in range(w)):  # raster order, (y, x)
        expected_y = (2 * i + 1 - h) / n
        expected_x = (2 * j + 1 - w) / n
        assert coords[k, 0].item() == pytest.approx(expected_y, abs=1e-6)
        assert coords[k, 1].item() == pytest.approx(expected_x, abs=1e-6)
    assert linr_extent(h, w) == pytest.approx((h / n, w / n))


def test_finer_grid_centres_fall_around_coarse_centres() -> None:
    """An x3 grid over the same extent: each 3x3 block of fine centres averages to a coarse centre."""
    extent = linr_extent(4, 6)
    coarse = linr_coords(4, 6).reshape(4, 6, 2)
    fine = linr_coords(12, 18, extent=extent).reshape(4, 3, 6, 3, 2)
    assert torch.allclose(fine.mean(dim=(1, 3)), coarse, atol=1e-6)
    assert fine[..., 1].max() < 1 and fine[..., 1].min() > -1  # inside the extent, centred


def test_linr_extent_rejects_empty() -> None:
    with pytest.raises(ValueError, match="positive"):
        linr_extent(0, 4)


def test_values_to_image_and_render() -> None:
    torch.manual_seed(3)
    values = torch.tensor([[-1.0, 0.0], [1.0, 0.5], [0.0, -0.5]])  # 3 pixels, 2 channels
    image = values_to_image(values, (1, 3))
    assert torch.equal(image, torch.tensor([[[[0.0, 1.0, 0.5]], [[0.5, 0.75, 0.25]]]]))
    model = Siren(out_features=2, width=16, depth=1)
    model.extent.copy_(torch.tensor([0.5, 1.0]))
    with torch.no_grad():
        expected = (model(linr_coords(5, 9, extent=(0.5, 1.0))) * 0.5 + 0.5).clamp(0, 1).T.reshape(1, 2, 5, 9)
    out = render(model, (5, 9))
    assert out.shape == (1, 2, 5, 9) and torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(render(model, (5, 9), chunk=7), out, atol=1e-6)
    with pytest.raises(ValueError, match="positive"):
        render(model, (0, 9))


@pytest.mark.parametrize("chunk", [7, 16, 100])
def test_chunked_evaluation_gives_one_pass_values_and_gradients(chunk: int) -> None:
    from srcli.models.siren import evaluate

    torch.manual_seed(0)
    model = Siren(width=16, depth=2)
    coords = linr_coords(6, 8)  # 48 rows: not a multiple of 7, 16 or of itself at 100
    target = torch.rand(48, 3)
    shapes: list[tuple[int, ...]] = []

    def recorded(x: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(x.shape))
        return model(x)

    grads = []
    for step_chunk in (None, chunk):
        model.zero_grad()
        values = evaluate(recorded, coords, None, step_chunk)
        (values - target).square().mean().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        assert values.shape == (48, 3) and values.dtype == torch.float32
    for one, chunked in zip(*grads, strict=True):
        torch.testing.assert_close(chunked, one, rtol=1e-5, atol=1e-7)
    chunk_shapes = set(shapes[1:])
    assert chunk_shapes == ({(48, 2)} if chunk >= 48 else {(chunk, 2)})  # the last chunk padded to the same shape
    if chunk < 48:  # each chunk ran twice: its forward pass, then again inside the backward pass
        assert len(shapes) - 1 == 2 * math.ceil(48 / chunk)
    with torch.no_grad():
        torch.testing.assert_close(evaluate(model, coords, None, chunk), evaluate(model, coords), rtol=0, atol=1e-6)
