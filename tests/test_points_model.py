"""The ISP2HRNet-style points network: sizes, neighbour indices, decoding, patching."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from srcli import registry
from srcli.io.points import PointSet, sample_points
from srcli.models.points import (
    ISPPointsNet,
    build_patch_index,
    local_gradients,
    render_points,
    window_starts,
)

torch.set_num_threads(1)


def tiny_model(seed: int = 0) -> ISPPointsNet:
    torch.manual_seed(seed)
    return ISPPointsNet(point_features=8, point_hidden=16, grid_hidden=16, encoder_width=8, encoder_blocks=1,
                        decoder_hidden=16).eval()


def test_parameter_count_is_about_1_7_million():
    count = sum(p.numel() for p in ISPPointsNet().parameters())
    assert abs(count - 1.71e6) / 1.71e6 < 0.10
    assert count == pytest.approx(1_708_486, abs=0)


def test_registered_as_a_points_model():
    entry = registry.get_entry("isp-points")
    assert (entry.task, entry.family, entry.trainable) == ("points", "isp2hrnet", True)
    assert isinstance(registry.create("isp-points"), ISPPointsNet)


def test_forward_shapes_for_a_batch():
    model = tiny_model()
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


def test_patch_index_matches_brute_force():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 10, (40, 2))
    frame, (gh, gw) = (2.0, 1.0, 8.0, 9.0), (4, 3)
    index = build_patch_index(xy, rng.uniform(size=(40, 3)), frame, (gh, gw), k=5, k_grid=4)
    dist = np.linalg.norm(xy[:, None] - xy[None], axis=-1)  # tiny: brute force is fine here
    cx = 2.0 + (np.arange(gw) + 0.5) * 2.0  # frame width 6 / 3 cells
    cy = 1.0 + (np.arange(gh) + 0.5) * 2.0  # frame height 8 / 4 cells
    cells = np.array([(x, y) for y in cy for x in cx])
    cell_dist = np.linalg.norm(cells[:, None] - xy[None], axis=-1)
    n_centres = index.neighbours.shape[0]
    centres = index.ids[:n_centres]
    assert set(centres) == set(np.argsort(cell_dist, axis=1)[:, :4].ravel())
    for g in range(gh * gw):
        assert set(index.ids[index.cell_points[g]]) == set(np.argsort(cell_dist[g])[:4])
    for row, point in enumerate(centres):
        assert set(index.ids[index.neighbours[row]]) == set(np.argsort(dist[point])[1:6])
    want = np.stack([(xy[index.ids, 1] - 1.0) / 8.0 * 2 - 1, (xy[index.ids, 0] - 2.0) / 6.0 * 2 - 1], 1)
    np.testing.assert_allclose(index.xy, want, rtol=1e-6)


def test_local_gradients_recover_a_plane():
    offsets = torch.randn(1, 5, 8, 2, dtype=torch.float64)
    slope = torch.tensor([[0.3, -1.0], [2.0, 0.5]], dtype=torch.float64)  # (2, C=2)
    grads = local_gradients(offsets, offsets @ slope, ridge=1e-9)
    torch.testing.assert_close(grads, slope.expand(1, 5, 2, 2), rtol=1e-6, atol=1e-8)


def test_per_point_projection_equals_layers_on_full_descriptors():
    model = tiny_model(7)
    geometry = torch.randn(2, 6, 4, 3 + 4 * 3)
    feats = torch.randn(2, 9, 8)
    cell_points = torch.randint(0, 9, (2, 6, 4))
    descriptor = torch.cat([geometry, torch.stack([feats[b, cell_points[b]] for b in range(2)])], -1)
    filter_in, colour_in = model._first_layers(geometry, feats, cell_points)
    torch.testing.assert_close(filter_in, model.filter_mlp[0](descriptor), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(colour_in, model.colour_mlp[0](descriptor), rtol=1e-5, atol=1e-6)


def test_projected_decoder_equals_unfold_and_linear():
    model = tiny_model(3)
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


def test_one_patch_render_equals_whole_input_inference():
    model = tiny_model(4)
    image = np.random.default_rng(2).uniform(size=(20, 24, 3))
    points = sample_points(image, 0.5, irregular=True, seed=3)
    extent = (-0.5, -0.5, 23.5, 19.5)
    out = render_points(model, points, (40, 48), extent)
    assert out.shape == (1, 3, 40, 48)
    spacing = math.sqrt(24 * 20 / len(points))
    grid = (round(20 / spacing), round(24 / spacing))
    index = build_patch_index(points.xy, points.values, extent, grid)
    ys = -1 + (2 * np.arange(40) + 1) / 40
    xs = -1 + (2 * np.arange(48) + 1) / 48
    coord = torch.tensor(np.stack(np.meshgrid(ys, xs, indexing="ij"), -1).reshape(1, -1, 2), dtype=torch.float32)
    cell = torch.tensor([2 / 40, 2 / 48]).expand(1, 40 * 48, 2)
    with torch.no_grad():
        want = model(*index.tensors(), coord, cell, grid)[0].reshape(40, 48, 3)
    torch.testing.assert_close(out[0].permute(1, 2, 0), want, rtol=1e-5, atol=1e-5)


def test_grey_and_rgba_points():
    model = tiny_model(5)
    rng = np.random.default_rng(4)
    xy = rng.uniform(-0.5, 15.5, (100, 2))
    rgba = rng.uniform(size=(100, 4)).astype(np.float32)
    out = render_points(model, PointSet(xy, rgba), (8, 8), (-0.5, -0.5, 15.5, 15.5))
    rgb = render_points(model, PointSet(xy, rgba[:, :3]), (8, 8), (-0.5, -0.5, 15.5, 15.5))
    grey = render_points(model, PointSet(xy, rgba[:, 3:]), (8, 8), (-0.5, -0.5, 15.5, 15.5))
    assert out.shape == (1, 4, 8, 8) and grey.shape == (1, 1, 8, 8)
    torch.testing.assert_close(out[:, :3], rgb)
    torch.testing.assert_close(out[:, 3:], grey)
    alpha3 = PointSet(xy, np.repeat(rgba[:, 3:], 3, axis=1))
    torch.testing.assert_close(grey, render_points(model, alpha3, (8, 8), (-0.5, -0.5, 15.5, 15.5)).mean(1, keepdim=True))


def test_window_starts_cover_with_overlap():
    assert window_starts(30, 48, 8) == [0]
    assert window_starts(100, 48, 8) == [0, 40, 52]
    assert window_starts(88, 48, 8) == [0, 40]


def test_large_input_is_rendered_in_bounded_patches(monkeypatch):
    model = tiny_model(6)
    n = 200_000
    rng = np.random.default_rng(5)
    points = PointSet(rng.uniform(-0.5, 199.5, (n, 2)) * [1, 0.5], rng.uniform(size=(n, 3)).astype(np.float32))
    sizes: list[tuple[int, int, int]] = []
    original = model.grid_features

    def spy(xy, values, neighbours, cell_points, grid_hw):
        sizes.append((xy.shape[1], neighbours.shape[1], cell_points.shape[1]))
        return original(xy, values, neighbours, cell_points, grid_hw)

    monkeypatch.setattr(model, "grid_features", spy)
    out = render_points(model, points, (50, 100), (-0.5, -0.25, 199.5, 99.75))
    assert out.shape == (1, 3, 50, 100) and torch.isfinite(out).all()
    assert len(sizes) > 50  # many windows
    assert max(s[2] for s in sizes) <= 2304  # grid cells per window
    assert max(s[0] for s in sizes) < 3 * 2304  # points per window: bounded by the patch, not N


def test_render_follows_the_model_dtype():
    model = tiny_model(8)
    points = sample_points(np.random.default_rng(6).uniform(size=(16, 16, 3)), 0.4, irregular=True)
    single = render_points(model, points, (16, 16), (-0.5, -0.5, 15.5, 15.5))
    double = render_points(model.double(), points, (16, 16), (-0.5, -0.5, 15.5, 15.5))
    assert single.dtype == double.dtype == torch.float32
    torch.testing.assert_close(single, double, rtol=1e-5, atol=1e-6)
