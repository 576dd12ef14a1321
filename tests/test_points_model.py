"""The ISP2HRNet-style points network: sizes, registration, point maths, decoding, re-exports."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from srcli import registry
from srcli.models import points, points_patches
from srcli.models.points import ISPPointsNet, local_gradients
from srcli.models.points_patches import build_patch_index

torch.set_num_threads(1)


def test_parameter_count_is_about_1_7_million():
    count = sum(p.numel() for p in ISPPointsNet().parameters())
    assert abs(count - 1.71e6) / 1.71e6 < 0.10
    assert count == pytest.approx(1_708_486, abs=0)


def test_registered_as_a_points_model():
    entry = registry.get_entry("isp-points")
    assert (entry.task, entry.family, entry.trainable) == ("points", "isp2hrnet", True)
    assert isinstance(registry.create("isp-points"), ISPPointsNet)


def test_forward_shapes_for_a_batch(tiny_points_model):
    model = tiny_points_model()
    rng = np.random.default_rng(0)
    batch = []
    for _ in range(2):
        xy = rng.uniform(-0.5, 11.5, (144, 2))
        batch.append(build_patch_index(xy, rng.uniform(size=(144, 3)), (-0.5, -0.5, 11.5, 11.5), (12, 12)))
    # all points lie in the frame and every point is some cell's neighbour here, so M = P = 144
    assert all(len(b.ids) == 144 and b.neighbours.shape == (144, 8) for b in batch)
    tensors = [torch.cat([b.tensors()[i] for b in batch]) for i in range(4)]
    grid = model.grid_features(*tensors, (12, 12))
    assert grid.shape == (2, 3 + 8, 12, 12)
    coord = torch.rand(2, 50, 2) * 2 - 1
    out = model(*tensors, coord, torch.full_like(coord, 2 / 30), (12, 12))
    assert out.shape == (2, 50, 3) and torch.isfinite(out).all()


def test_local_gradients_recover_a_plane():
    offsets = torch.randn(1, 5, 8, 2, dtype=torch.float64)
    slope = torch.tensor([[0.3, -1.0], [2.0, 0.5]], dtype=torch.float64)  # (2, C=2)
    grads = local_gradients(offsets, offsets @ slope, ridge=1e-9)
    torch.testing.assert_close(grads, slope.expand(1, 5, 2, 2), rtol=1e-6, atol=1e-8)


def test_per_point_projection_equals_layers_on_full_descriptors(tiny_points_model):
    model = tiny_points_model(7)
    geometry = torch.randn(2, 6, 4, 3 + 4 * 3)
    feats = torch.randn(2, 9, 8)
    cell_points = torch.randint(0, 9, (2, 6, 4))
    descriptor = torch.cat([geometry, torch.stack([feats[b, cell_points[b]] for b in range(2)])], -1)
    filter_in, colour_in = model._first_layers(geometry, feats, cell_points)
    torch.testing.assert_close(filter_in, model.filter_mlp[0](descriptor), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(colour_in, model.colour_mlp[0](descriptor), rtol=1e-5, atol=1e-6)


def test_projected_decoder_equals_unfold_and_linear(tiny_points_model):
    model = tiny_points_model(3)
    feat = torch.randn(1, 8, 5, 6)
    coord = torch.rand(1, 7, 2) * 2 - 1
    cell = torch.full((1, 7, 2), 0.05)
    fast = model.query(model.project(feat), coord, cell)[0]
    unfolded = F.unfold(feat, 3, padding=1).view(1, 72, 5, 6)
    for q in range(7):
        t = [(coord[0, q, a].item() + 1) / 2 * n - 0.5 for a, n in enumerate((5, 6))]
        corners = [(min(max(math.floor(t[0]) + dy, 0), 4), min(max(math.floor(t[1]) + dx, 0), 5)) for dy in (0, 1) for dx in (0, 1)]
        preds, areas = [], []
        for iy, ix in corners:
            rel = [t[0] - iy, t[1] - ix]
            vector = torch.cat([unfolded[0, :, iy, ix], torch.tensor(rel + [0.05 * 5 / 2, 0.05 * 6 / 2])])
            preds.append(model.decoder(vector))
            areas.append(abs(rel[0] * rel[1]) + 1e-9)
        want = sum(p * a for p, a in zip(preds, areas[::-1])) / sum(areas) * 0.5 + 0.5
        torch.testing.assert_close(fast[q], want, rtol=1e-5, atol=1e-6)


def test_patch_names_stay_importable_from_points():
    for name in ("K_GRID", "K_NEIGHBOURS", "PATCH_POINTS", "PatchIndex", "blend_weights", "build_patch_index",
                 "channel_groups", "global_grid", "render_points", "window_starts"):
        assert getattr(points, name) is getattr(points_patches, name), name
