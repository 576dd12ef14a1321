"""A-LIIF: size, registry, per-query weight mixture, fast == reference, gradients, bf16, halo."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from srcli.models.aliif import ALIIF
from srcli.registry import create, get_entry

SMALL = {"encoder_args": {"n_feats": 8, "n_blocks": 1}, "n_basis": 4, "basis_hidden_dims": [6, 6],
         "expansion_hidden_dims": [24, 24]}


def small_aliif(seed: int = 0) -> ALIIF:
    """A tiny A-LIIF whose weights are pushed away from their initialisation."""
    torch.manual_seed(seed)
    model = create("a-liif", **SMALL)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def decode_by_hand(model: ALIIF, inp: torch.Tensor) -> torch.Tensor:
    """One branch as in the paper: L2-normalised coefficients build each query's own MLP weights."""
    x = inp
    for i, layer in enumerate(model.expansion):
        x = F.linear(x, layer.weight, layer.bias)
        x = torch.relu(x) if i < len(model.expansion) - 1 else x
    coeff = x / x.norm(dim=-1, keepdim=True)
    h = inp
    n_layers = len(model.basis_weights)
    for i, (weight, bias) in enumerate(zip(model.basis_weights, model.basis_biases)):
        own_weight = torch.einsum("bqk,koi->bqoi", coeff, weight)  # (B, Q, out, in) per query
        h = torch.einsum("bqoi,bqi->bqo", own_weight, h) + coeff @ bias
        h = torch.relu(h) if i < n_layers - 1 else h
    return h


def aliif_by_hand(model: ALIIF, image: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
    """LIIF's local ensemble written out with grid_sample around :func:`decode_by_hand`."""
    feat = model.encoder((image - 0.5) / 0.5)
    b, c, h, w = feat.shape
    unfolded = F.unfold(feat, 3, padding=1).view(b, c * 9, h, w)
    ys = -1 + (2 * torch.arange(h) + 1) / h
    xs = -1 + (2 * torch.arange(w) + 1) / w
    feat_coord = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), 0).expand(b, 2, h, w)
    scale = torch.tensor([h, w], dtype=coord.dtype)
    preds, areas = [], []
    for vy in (-1, 1):
        for vx in (-1, 1):
            shift = torch.tensor([vy / h + 1e-6, vx / w + 1e-6])
            grid = (coord + shift).clamp(-1 + 1e-6, 1 - 1e-6).flip(-1).unsqueeze(1)
            q_feat = F.grid_sample(unfolded, grid, mode="nearest", align_corners=False)[:, :, 0].permute(0, 2, 1)
            q_coord = F.grid_sample(feat_coord, grid, mode="nearest", align_corners=False)[:, :, 0].permute(0, 2, 1)
            rel = (coord - q_coord) * scale
            preds.append(decode_by_hand(model, torch.cat([q_feat, rel, cell * scale], dim=-1)))
            areas.append((rel[..., 0] * rel[..., 1]).abs() + 1e-9)
    total = sum(areas)
    return sum(pred * (areas[3 - k] / total).unsqueeze(-1) for k, pred in enumerate(preds)) * 0.5 + 0.5


def test_parameter_count_is_about_1_67m() -> None:
    model = create("a-liif")
    n = sum(p.numel() for p in model.parameters())
    expansion = (580 * 256 + 256) + 3 * (256 * 256 + 256) + (256 * 10 + 10)
    basis = 10 * ((580 * 16 + 16) + 3 * (16 * 16 + 16) + (16 * 3 + 3))
    assert n == 1_220_416 + expansion + basis
    assert abs(n - 1.67e6) / 1.67e6 < 0.02
    assert model.receptive_radius == 36


def test_registry_entry_and_official_basis_init() -> None:
    entry = get_entry("a-liif")
    assert (entry.task, entry.family, entry.trainable) == ("upscale", "liif", True)
    assert entry.default_args["n_basis"] == 10
    model = create("a-liif")
    first = model.basis_weights[0]
    assert first.shape == (10, 16, 580)
    assert first.abs().max() <= 1 / (16 * 580) ** 0.5  # official kaiming_uniform on (K, out * in)


@pytest.mark.parametrize("fast", [True, False])
def test_query_matches_per_query_weight_mixture(fast: bool) -> None:
    model = small_aliif()
    torch.manual_seed(1)
    image = torch.rand(2, 3, 7, 9)
    coord = torch.rand(2, 50, 2) * 2 - 1
    cell = torch.rand(2, 50, 2) * 0.3
    with torch.no_grad():
        got = model.query(model.encode(image), coord, cell, fast=fast)
        expected = aliif_by_hand(model, image, coord, cell)
    assert expected.std() > 1e-2
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("size", [(18, 23), (21, 27), (17, 23)])
def test_fast_path_equals_reference(size: tuple[int, int]) -> None:
    model = small_aliif(2)
    image = torch.rand(1, 3, 7, 9)
    with torch.no_grad():
        fast = model(image, size, fast=True, chunk_size=150)
        reference = model(image, size, fast=False)
    assert fast.shape == (1, 3, *size) and fast.std() > 1e-2
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=0)


def test_gradients_flow_and_agree_on_both_paths() -> None:
    model = small_aliif(3)
    image = torch.rand(1, 3, 5, 6)
    coord = torch.rand(1, 40, 2) * 2 - 1
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
    model = small_aliif(4)
    image = torch.rand(1, 3, 6, 7)
    with torch.no_grad():
        reference = model(image, (15, 17))
        for fast in (True, False):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                low = model(image, (15, 17), fast=fast)
            assert low.dtype == torch.float32 and torch.isfinite(low).all()
            assert (low - reference).abs().max() < 0.05


def test_receptive_radius_bounds_the_dependence() -> None:
    model = small_aliif(5).double()
    r = model.receptive_radius
    assert r == 6
    n, p = 17, 8
    image = torch.rand(1, 3, n, n, dtype=torch.float64)
    coord = torch.full((1, 1, 2), -1 + (2 * p + 1.6) / n, dtype=torch.float64)  # lower-right of pixel (p, p)
    cell = torch.full_like(coord, 0.05)
    with torch.no_grad():
        base = model.query(model.encode(image), coord, cell)
        far = image.clone()
        far[:, :, p + r + 1, :] = 0.0
        far[:, :, :, p - r - 1] = 1.0
        near = image.clone()
        near[:, :, p + r, p + r] += 1.0
        torch.testing.assert_close(model.query(model.encode(far), coord, cell), base, atol=1e-12, rtol=0)
        assert (model.query(model.encode(near), coord, cell) - base).abs().max() > 1e-10


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_basis"):
        create("a-liif", n_basis=0)
