"""DIINN: size, registry, the paper's grid formulation, fast == reference, gradients, bf16, halo."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from srcli.models.diinn import DIINN
from srcli.registry import create, get_entry

SMALL = {"encoder_args": {"n_feats": 8, "n_blocks": 1}, "hidden_dims": [24, 24, 24]}


def small_diinn(seed: int = 0) -> DIINN:
    """A tiny DIINN whose weights are pushed away from their initialisation."""
    torch.manual_seed(seed)
    model = create("diinn", **SMALL)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def diinn_by_hand(model: DIINN, image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The paper's decoder on the whole output grid: nearest-exact upsampling, 1x1 layers."""
    feat = model.encoder((image - 0.5) / 0.5)
    b, c, h, w = feat.shape
    out_h, out_w = size
    z = F.interpolate(F.unfold(feat, 3, padding=1).view(b, c * 9, h, w), size=size, mode="nearest-exact")

    def centres(n: int) -> torch.Tensor:
        return -1 + (2 * torch.arange(n) + 1) / n

    lr_grid = torch.stack(torch.meshgrid(centres(h), centres(w), indexing="ij"), 0).unsqueeze(0)
    hr_grid = torch.stack(torch.meshgrid(centres(out_h), centres(out_w), indexing="ij"), 0).unsqueeze(0)
    rel = (hr_grid - F.interpolate(lr_grid, size=size, mode="nearest-exact")) * torch.tensor([h, w]).view(1, 2, 1, 1)
    ratio = torch.full((1, 1, out_h, out_w), h * w / (out_h * out_w))
    p = torch.cat([rel, ratio], 1).expand(b, 3, out_h, out_w)

    def conv1x1(x: torch.Tensor, layer: torch.nn.Linear) -> torch.Tensor:
        return F.conv2d(x, layer.weight[:, :, None, None], layer.bias)

    m = torch.relu(conv1x1(z, model.modulation[0]))
    s = m * torch.sin(conv1x1(p, model.synthesis[0]))
    for modulation, synthesis in zip(model.modulation[1:], model.synthesis[1:]):
        m = torch.relu(conv1x1(torch.cat([s, z], 1), modulation))
        s = m * torch.sin(conv1x1(s, synthesis))
    return conv1x1(s, model.output) * 0.5 + 0.5


def all_queries(size: tuple[int, int], batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    ys = -1 + (2 * torch.arange(size[0]) + 1) / size[0]
    xs = -1 + (2 * torch.arange(size[1]) + 1) / size[1]
    coord = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).view(1, -1, 2).expand(batch, -1, -1)
    cell = torch.tensor([2 / size[0], 2 / size[1]]).expand_as(coord)
    return coord, cell


def test_parameter_counts() -> None:
    model = create("diinn")
    decoder = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("encoder."))
    expected_decoder = (576 * 256 + 256) + 3 * (832 * 256 + 256) + (3 * 256 + 256) + 3 * (256 * 256 + 256) + (256 * 3 + 3)
    assert decoder == expected_decoder
    assert abs(decoder - 0.99e6) / 0.99e6 < 0.02
    total = sum(p.numel() for p in model.parameters())
    assert total == 1_220_416 + decoder and abs(total - 2.21e6) / 2.21e6 < 0.02
    assert model.receptive_radius == 34 + 1


def test_registry_entry_and_rdn_option() -> None:
    entry = get_entry("diinn")
    assert (entry.task, entry.family, entry.trainable) == ("upscale", "diinn", True)
    model = create("diinn", encoder="rdn", encoder_args={"n_feats": 8, "n_blocks": 1, "n_layers": 2, "growth": 4},
                   hidden_dims=[16])
    assert model.receptive_radius == 3 + 2 + 1
    assert model(torch.rand(1, 3, 4, 5), (9, 11)).shape == (1, 3, 9, 11)


@pytest.mark.parametrize("size", [(10, 15), (18, 23)])  # (10, 15) has queries exactly on LR pixel edges
@pytest.mark.parametrize("fast", [True, False])
def test_query_matches_the_papers_grid_formulation(size: tuple[int, int], fast: bool) -> None:
    model = small_diinn()
    torch.manual_seed(1)
    image = torch.rand(2, 3, 4, 6) if size == (10, 15) else torch.rand(2, 3, 7, 9)
    coord, cell = all_queries(size, 2)
    with torch.no_grad():
        got = model.query(model.encode(image), coord, cell, fast=fast)
        expected = diinn_by_hand(model, image, size)
    expected = expected.permute(0, 2, 3, 1).reshape(2, -1, 3)
    assert expected.std() > 1e-2
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("size", [(18, 23), (21, 27), (17, 23)])
def test_fast_path_equals_reference(size: tuple[int, int]) -> None:
    model = small_diinn(2)
    image = torch.rand(2, 3, 7, 9)
    with torch.no_grad():
        fast = model(image, size, fast=True, chunk_size=64)
        reference = model(image, size, fast=False)
    assert fast.shape == (2, 3, *size) and fast.std() > 1e-2
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=0)


def test_gradients_flow_and_agree_on_both_paths() -> None:
    model = small_diinn(3)
    image = torch.rand(2, 3, 5, 6)
    coord = torch.rand(2, 40, 2) * 2 - 1
    cell = torch.full_like(coord, 0.2)
    grads = {}
    for fast in (True, False):
        model.zero_grad()
        model.query(model.encode(image), coord, cell, fast=fast).square().mean().backward()
        grads[fast] = [p.grad.clone() for p in model.parameters()]
        assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads[fast])
    for g_fast, g_ref in zip(grads[True], grads[False]):
        torch.testing.assert_close(g_fast, g_ref, atol=1e-6, rtol=1e-4)


def test_bf16_autocast_is_finite_and_close() -> None:
    model = small_diinn(4)
    image = torch.rand(1, 3, 6, 7)
    with torch.no_grad():
        reference = model(image, (15, 17))
        for fast in (True, False):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                low = model(image, (15, 17), fast=fast)
            assert low.dtype == torch.float32 and torch.isfinite(low).all()
            assert (low - reference).abs().max() < 0.05


def test_receptive_radius_bounds_the_dependence() -> None:
    model = small_diinn(5).double()
    r = model.receptive_radius  # 4 (encoder) + 1 (unfold)
    assert r == 5
    n, p = 15, 7
    image = torch.rand(1, 3, n, n, dtype=torch.float64)
    coord = torch.full((1, 1, 2), -1 + (2 * p + 0.4) / n, dtype=torch.float64)  # inside LR pixel (p, p)
    cell = torch.full_like(coord, 0.05)
    with torch.no_grad():
        base = model.query(model.encode(image), coord, cell)
        far = image.clone()
        far[:, :, p - r - 1, :] = 0.0
        far[:, :, :, p + r + 1] = 1.0
        for corner in [(p - r, p - r), (p + r, p + r)]:
            near = image.clone()
            near[:, :, corner[0], corner[1]] += 1.0
            assert (model.query(model.encode(near), coord, cell) - base).abs().max() > 1e-10
        torch.testing.assert_close(model.query(model.encode(far), coord, cell), base, atol=1e-12, rtol=0)


@pytest.mark.parametrize("fast", [True, False])
def test_framed_crop_reproduces_the_whole_image(fast: bool) -> None:
    model = small_diinn(7)
    image = torch.rand(2, 3, 10, 11)
    top, left = 2, 3
    size = (25, 27)  # x2.5 and a free width: edge ties and irregular lookups
    coord, cell = all_queries(size, 2)
    lr_row = torch.div(coord[0, :, 0].add(1) * 10, 2, rounding_mode="floor")
    lr_col = torch.div(coord[0, :, 1].add(1) * 11, 2, rounding_mode="floor")
    inside = (lr_row >= top + 1) & (lr_row <= top + 4) & (lr_col >= left + 1) & (lr_col <= left + 5)
    coord, cell = coord[:, inside], cell[:, inside]
    with torch.no_grad():
        feat = model.encode(image)
        prepared = model.prepare(feat[:, :, top:top + 6, left:left + 7], fast=fast, frame=(top, left, 10, 11))
        torch.testing.assert_close(model.query(prepared, coord, cell), model.query(feat, coord, cell, fast=fast),
                                   atol=1e-6, rtol=0)


def test_forward_output_range_and_shape() -> None:
    model = small_diinn(6)
    out = model(torch.rand(3, 3, 5, 4), (11, 9), chunk_size=7)
    assert out.shape == (3, 3, 11, 9) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1
