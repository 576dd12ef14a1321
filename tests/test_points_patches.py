"""Patch-wise inference of the points network: neighbour indices, windows, blending."""

from __future__ import annotations

import math

import numpy as np
import torch

from srcli.io.points import PointSet, sample_points
from srcli.models.points_patches import build_patch_index, render_points, window_starts

torch.set_num_threads(1)


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


def test_one_patch_render_equals_whole_input_inference(tiny_points_model):
    model = tiny_points_model(4)
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


def test_grey_and_rgba_points(tiny_points_model):
    model = tiny_points_model(5)
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


def test_large_input_is_rendered_in_bounded_patches(tiny_points_model, monkeypatch):
    model = tiny_points_model(6)
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


def test_render_follows_the_model_dtype(tiny_points_model):
    model = tiny_points_model(8)
    points = sample_points(np.random.default_rng(6).uniform(size=(16, 16, 3)), 0.4, irregular=True)
    single = render_points(model, points, (16, 16), (-0.5, -0.5, 15.5, 15.5))
    double = render_points(model.double(), points, (16, 16), (-0.5, -0.5, 15.5, 15.5))
    assert single.dtype == double.dtype == torch.float32
    torch.testing.assert_close(single, double, rtol=1e-5, atol=1e-6)
