"""LIIF: size, registry, the paper's formulation, fast == reference, gradients, bf16, halo."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from srcli.models.liif import LIIF
from srcli.registry import create, get_entry

SMALL = {"encoder_args": {"n_feats": 16, "n_blocks": 1}, "hidden_dims": [32, 32, 32]}


def small_liif(seed: int = 0) -> LIIF:
    """A tiny LIIF whose weights are pushed away from their initialisation."""
    torch.manual_seed(seed)
    model = create("liif", **SMALL)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def liif_by_hand(model: LIIF, image: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
    """The paper's LIIF written out independently: grid_sample lookups, 4 shifts, swapped areas."""
    feat = model.encoder((image - 0.5) / 0.5)
    b, c, h, w = feat.shape
    unfolded = F.unfold(feat, 3, padding=1).view(b, c * 9, h, w)
    ys = -1 + (2 * torch.arange(h, dtype=coord.dtype) + 1) / h
    xs = -1 + (2 * torch.arange(w, dtype=coord.dtype) + 1) / w
    feat_coord = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), 0).expand(b, 2, h, w)
    scale = torch.tensor([h, w], dtype=coord.dtype)
    preds, areas = [], []
    for vy in (-1, 1):
        for vx in (-1, 1):
            shifted = coord.clone()
            shifted[..., 0] += vy / h + 1e-6
            shifted[..., 1] += vx / w + 1e-6
            grid = shifted.clamp(-1 + 1e-6, 1 - 1e-6).flip(-1).unsqueeze(1)
            q_feat = F.grid_sample(unfolded, grid, mode="nearest", align_corners=False)[:, :, 0].permute(0, 2, 1)
            q_coord = F.grid_sample(feat_coord, grid, mode="nearest", align_corners=False)[:, :, 0].permute(0, 2, 1)
            rel = (coord - q_coord) * scale
            x = torch.cat([q_feat, rel, cell * scale], dim=-1)
            for i, layer in enumerate(model.decoder):
                x = x @ layer.weight.T + layer.bias
                x = torch.relu(x) if i < len(model.decoder) - 1 else x
            preds.append(x)
            areas.append((rel[..., 0] * rel[..., 1]).abs() + 1e-9)
    total = sum(areas)
    out = sum(pred * (areas[3 - k] / total).unsqueeze(-1) for k, pred in enumerate(preds))
    return out * 0.5 + 0.5


def test_parameter_count_is_1_57m() -> None:
    model = create("liif")
    n = sum(p.numel() for p in model.parameters())
    decoder = (580 * 256 + 256) + 3 * (256 * 256 + 256) + (256 * 3 + 3)
    assert n == 1_220_416 + decoder
    assert abs(n - 1.57e6) / 1.57e6 < 0.01
    assert model.receptive_radius == 34 + 2


def test_registry_entry() -> None:
    entry = get_entry("liif")
    assert (entry.task, entry.family, entry.trainable) == ("upscale", "liif", True)
    assert entry.default_args["encoder"] == "edsr-baseline"
    model = create("liif", **SMALL)
    assert isinstance(model, LIIF) and model.spec["name"] == "liif"
    assert model.spec["args"]["hidden_dims"] == [32, 32, 32]


@pytest.mark.parametrize("fast", [True, False])
def test_query_matches_the_papers_formulation(fast: bool) -> None:
    model = small_liif()
    torch.manual_seed(1)
    image = torch.rand(2, 3, 7, 9)
    coord = torch.rand(2, 60, 2) * 2.2 - 1.1  # includes points outside the image (clamped)
    cell = torch.rand(2, 60, 2) * 0.3
    with torch.no_grad():
        got = model.query(model.encode(image), coord, cell, fast=fast)
        expected = liif_by_hand(model, image, coord, cell)
    assert got.shape == (2, 60, 3)
    assert expected.std() > 1e-2  # not a trivially constant output
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_exact_pixel_centres_use_only_their_own_pixel() -> None:
    model = small_liif(2)
    image = torch.rand(1, 3, 6, 5)
    iy, ix = torch.meshgrid(torch.arange(1, 5), torch.arange(1, 4), indexing="ij")
    coord = torch.stack([-1 + (2 * iy + 1) / 6, -1 + (2 * ix + 1) / 5], -1).view(1, -1, 2).float()
    cell = torch.full_like(coord, 0.25)
    with torch.no_grad():
        got = model.query(model.encode(image), coord, cell)
        unfolded = F.unfold(model.encoder((image - 0.5) / 0.5), 3, padding=1)[0].T  # (30, 144)
        own = unfolded[(iy * 5 + ix).flatten()]
        x = torch.cat([own, torch.zeros(len(own), 2), torch.tensor([[0.25 * 6, 0.25 * 5]]).expand(len(own), 2)], -1)
        for i, layer in enumerate(model.decoder):
            x = F.linear(x, layer.weight, layer.bias)
            x = torch.relu(x) if i < len(model.decoder) - 1 else x
    torch.testing.assert_close(got[0], x * 0.5 + 0.5, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("size", [(18, 23), (21, 27), (17, 23)])  # x2.5, x3, free size of a 7x9 input
def test_fast_path_equals_reference(size: tuple[int, int]) -> None:
    model = small_liif(3)
    image = torch.rand(2, 3, 7, 9)
    with torch.no_grad():
        fast = model(image, size, fast=True, chunk_size=100)
        reference = model(image, size, fast=False)
    assert fast.shape == (2, 3, *size) and fast.dtype == torch.float32
    assert fast.std() > 1e-2 and 0 <= fast.min() and fast.max() <= 1
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=0)


def test_gradients_flow_and_agree_on_both_paths() -> None:
    model = small_liif(4)
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
    model = small_liif(5)
    image = torch.rand(1, 3, 7, 9)
    with torch.no_grad():
        reference = model(image, (16, 20))
        for fast in (True, False):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                low = model(image, (16, 20), fast=fast)
            assert low.dtype == torch.float32 and torch.isfinite(low).all()
            assert (low - reference).abs().max() < 0.05


def test_receptive_radius_bounds_the_dependence() -> None:
    model = small_liif(6).double()
    r = model.receptive_radius  # 4 (encoder) + 2 (ensemble neighbour + unfold)
    assert r == 6
    n, p = 17, 8
    image = torch.rand(1, 3, n, n, dtype=torch.float64)
    # a query in the lower-right quadrant of LR pixel (p, p): its ensemble reaches pixel p + 1
    coord = torch.full((1, 1, 2), -1 + (2 * p + 1.6) / n, dtype=torch.float64)
    cell = torch.full_like(coord, 0.05)
    with torch.no_grad():
        base = model.query(model.encode(image), coord, cell)
        far = image.clone()
        far[:, :, p - r - 1, :] = 0.0
        far[:, :, :, p + r + 1] = 1.0
        near = image.clone()
        near[:, :, p + r, p + r] += 1.0
        torch.testing.assert_close(model.query(model.encode(far), coord, cell), base, atol=1e-12, rtol=0)
        assert (model.query(model.encode(near), coord, cell) - base).abs().max() > 1e-10


def test_prepared_features_are_reused_and_checked() -> None:
    model = small_liif(7)
    image = torch.rand(1, 3, 5, 5)
    coord = torch.rand(1, 10, 2) * 2 - 1
    cell = torch.full_like(coord, 0.1)
    with torch.no_grad():
        feat = model.encode(image)
        prepared = model.prepare(feat, fast=True)
        torch.testing.assert_close(model.query(prepared, coord, cell), model.query(feat, coord, cell, fast=True))
    with pytest.raises(ValueError, match="prepared for fast=True"):
        model.query(prepared, coord, cell, fast=False)
    with pytest.raises(ValueError, match="feat must have shape"):
        model.query(torch.zeros(1, 3, 5, 5), coord, cell)
    with pytest.raises(ValueError, match="coord must have shape"):
        model.query(feat, coord[0], cell[0])


@pytest.mark.parametrize("fast", [True, False])
def test_framed_crop_reproduces_the_whole_image(fast: bool) -> None:
    model = small_liif(9)
    image = torch.rand(1, 3, 12, 13)
    top, left, crop_h, crop_w = 3, 4, 6, 7
    ys = -1 + (2 * torch.arange(5 * 3, 7 * 3) + 1) / 36  # output rows whose centres lie in LR rows 5, 6
    xs = -1 + (2 * torch.arange(6 * 3, 9 * 3) + 1) / 39  # LR columns 6..8: lookups stay 1 pixel inside
    coord = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).view(1, -1, 2)
    cell = torch.tensor([2 / 36, 2 / 39]).expand_as(coord)
    with torch.no_grad():
        feat = model.encode(image)
        crop = feat[:, :, top:top + crop_h, left:left + crop_w]
        prepared = model.prepare(crop, fast=fast, frame=(top, left, 12, 13))
        torch.testing.assert_close(model.query(prepared, coord, cell), model.query(feat, coord, cell, fast=fast),
                                   atol=1e-6, rtol=0)
        with pytest.raises(ValueError, match="outside the prepared crop"):
            model.query(prepared, torch.full((1, 1, 2), -1 + 7 / 12), cell[:, :1])  # LR row 3: needs row 2
    with pytest.raises(ValueError, match="does not fit"):
        model.prepare(crop, frame=(7, 0, 12, 13))
    with pytest.raises(ValueError, match="four integers"):
        model.prepare(crop, frame=(0, 0, 12))


def test_bad_forward_requests() -> None:
    model = small_liif(8)
    with pytest.raises(ValueError, match="size must be positive"):
        model(torch.rand(1, 3, 4, 4), (0, 8))
    with pytest.raises(ValueError, match=r"\(B, 3, h, w\)"):
        model(torch.rand(1, 4, 4, 4), (8, 8))
    with pytest.raises(ValueError, match="unknown encoder"):
        create("liif", encoder="vgg")
