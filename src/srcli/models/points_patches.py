"""Patch-wise inference of the points network: KD-tree patch indices and blended windows.

A patch of the network (:class:`srcli.models.points.ISPPointsNet`) is a frame ``(x0, y0,
x1, y1)`` with a grid of cells; :func:`build_patch_index` finds the points it needs with a
SciPy KD-tree (never an N x N matrix), so the network only sees tensors. Inputs of any
size go through :func:`render_points`: a global grid with about one cell per point is cut
into overlapping 48 x 48-cell windows, each rendered from its nearest points, and the
outputs are averaged with weights that ramp down across the overlaps.

Model space: positions and queries are ``(y, x)`` in ``[-1, 1]`` over a patch *frame*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy.spatial import cKDTree

from srcli.io.points import PointSet

if TYPE_CHECKING:
    from srcli.models.points import ISPPointsNet

#: nearest other points of each point (local gradient and feature)
K_NEIGHBOURS = 8
#: nearest points of each grid cell
K_GRID = 12
#: points per patch: a window of sqrt(PATCH_POINTS) cells a side (48 x 48)
PATCH_POINTS = 2304


@dataclass
class PatchIndex:
    """Neighbour structure of one patch, ready for :class:`ISPPointsNet` (NumPy).

    Attributes:
        xy: ``(M, 2)`` float32 positions ``(y, x)`` in the frame's ``[-1, 1]``; the first P
            rows are the centres (points some grid cell uses).
        values: ``(M, C)`` float32 values.
        neighbours: ``(P, K)`` int64 indices into M of each centre's nearest other points.
        cell_points: ``(G, K')`` int64 indices into P of each grid cell's nearest points.
        grid_hw: ``(gh, gw)``.
        ids: ``(M,)`` indices of the rows in the caller's point array.
    """

    xy: np.ndarray
    values: np.ndarray
    neighbours: np.ndarray
    cell_points: np.ndarray
    grid_hw: tuple[int, int]
    ids: np.ndarray

    def tensors(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
        """``(xy, values, neighbours, cell_points)`` as batch-of-one tensors."""
        return tuple(torch.as_tensor(a, device=device).unsqueeze(0)
                     for a in (self.xy, self.values, self.neighbours, self.cell_points))


def build_patch_index(xy: np.ndarray, values: np.ndarray, frame: tuple[float, float, float, float],
                      grid_hw: tuple[int, int], *, tree: cKDTree | None = None,
                      k: int = K_NEIGHBOURS, k_grid: int = K_GRID) -> PatchIndex:
    """Find the points a patch needs with a KD-tree (never an N x N matrix).

    Args:
        xy: ``(N, 2)`` positions ``(x, y)`` in pixel units, all distinct.
        values: ``(N, C)`` values.
        frame: the patch's outer edges ``(x0, y0, x1, y1)`` in pixel units.
        grid_hw: ``(gh, gw)`` cells of the patch grid.
        tree: a KD-tree over ``xy`` (built here when None).
        k, k_grid: neighbours per point and nearest points per grid cell (fewer when N is small).
    """
    tree = tree if tree is not None else cKDTree(xy)
    n = xy.shape[0]
    gh, gw = grid_hw
    x0, y0, x1, y1 = frame
    cx = x0 + (np.arange(gw) + 0.5) * ((x1 - x0) / gw)
    cy = y0 + (np.arange(gh) + 0.5) * ((y1 - y0) / gh)
    cells = np.stack(np.meshgrid(cx, cy, indexing="xy"), -1).reshape(-1, 2)
    k_grid, k = min(k_grid, n), min(k, n - 1)
    cell_ids = tree.query(cells, k=k_grid)[1].reshape(len(cells), k_grid)
    centres = np.unique(cell_ids)
    near = tree.query(xy[centres], k=k + 1)[1].reshape(len(centres), k + 1)
    is_self = near == centres[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    near = near[~is_self].reshape(len(centres), k)
    ids = np.concatenate([centres, np.setdiff1d(near, centres)])  # centres first
    order = np.argsort(ids)
    near_local = order[np.searchsorted(ids[order], near)]
    frame_xy = np.stack([(xy[ids, 1] - y0) / (y1 - y0), (xy[ids, 0] - x0) / (x1 - x0)], -1) * 2 - 1
    return PatchIndex(frame_xy.astype(np.float32), np.asarray(values[ids], dtype=np.float32),
                      near_local, np.searchsorted(centres, cell_ids), (gh, gw), ids)


def global_grid(n_points: int, extent: tuple[float, float, float, float]) -> tuple[int, int]:
    """Grid ``(gh, gw)`` over the extent with about one square cell per point."""
    x0, y0, x1, y1 = extent
    spacing = math.sqrt((x1 - x0) * (y1 - y0) / n_points)
    return max(1, round((y1 - y0) / spacing)), max(1, round((x1 - x0) / spacing))


def window_starts(cells: int, side: int, overlap: int) -> list[int]:
    """First cells of windows of ``side`` cells covering ``cells``, overlapping by ``overlap``."""
    if cells <= side:
        return [0]
    stride = max(1, side - overlap)
    return sorted(set(range(0, cells - side, stride)) | {cells - side})


def blend_weights(centres: np.ndarray, low: float, high: float, bounds: tuple[float, float], ramp: float) -> np.ndarray:
    """Per-axis blend weight of pixel centres in a window ``[low, high]``: rises linearly
    over ``ramp`` (pixel units) from window edges that are inside the extent ``bounds``."""
    dist = np.full(centres.shape, np.inf)
    if low > bounds[0]:
        dist = np.minimum(dist, centres - low)
    if high < bounds[1]:
        dist = np.minimum(dist, high - centres)
    return np.clip(dist / ramp, 1e-3, 1.0) if ramp > 0 else np.ones_like(centres)


def channel_groups(channels: int, model_channels: int) -> list[tuple[list[int], list[int]]]:
    """How point channels feed a model of ``model_channels``: ``(inputs, outputs)`` pairs;
    a single output channel is the mean of the model's outputs (grey, alpha)."""
    if channels == model_channels:
        return [(list(range(channels)), list(range(channels)))]
    if model_channels == 3 and channels in (1, 4):
        groups = [([0, 0, 0], [0])] if channels == 1 else [([0, 1, 2], [0, 1, 2]), ([3, 3, 3], [3])]
        return groups
    raise ValueError(f"a {model_channels}-channel points model cannot render {channels}-channel points")


def _render_window(model: ISPPointsNet, points: PointSet, tree: cKDTree, frame: tuple[float, float, float, float],
                   grid_hw: tuple[int, int], ys: np.ndarray, xs: np.ndarray, pixel: tuple[float, float],
                   query_chunk: int) -> np.ndarray:
    """Render the pixel centres ``ys x xs`` of one window: ``(len(ys), len(xs), C)``."""
    param = next(model.parameters())
    index = build_patch_index(points.xy, points.values, frame, grid_hw, tree=tree)
    xy, values, neighbours, cell_points = index.tensors(param.device)
    xy, values = xy.to(param.dtype), values.to(param.dtype)
    x0, y0, x1, y1 = frame
    fy, fx = (ys - y0) / (y1 - y0) * 2 - 1, (xs - x0) / (x1 - x0) * 2 - 1
    coord = torch.as_tensor(np.stack(np.meshgrid(fy, fx, indexing="ij"), -1).reshape(1, -1, 2),
                            dtype=param.dtype, device=param.device)
    cell = coord.new_tensor([2 * pixel[0] / (y1 - y0), 2 * pixel[1] / (x1 - x0)]).expand_as(coord)
    out = np.empty((coord.shape[1], points.channels), dtype=np.float32)
    for inputs, outputs in channel_groups(points.channels, model.channels):
        grid = model.grid_features(xy, values[..., inputs], neighbours, cell_points, grid_hw)
        projected = model.project(model.encode(grid))
        for start in range(0, coord.shape[1], query_chunk):
            part = slice(start, start + query_chunk)
            pred = model.query(projected, coord[:, part], cell[:, part])[0].float()
            pred = pred if len(outputs) == len(inputs) else pred.mean(-1, keepdim=True)
            out[part][:, outputs] = pred.cpu().numpy()
    return out.reshape(len(ys), len(xs), -1)


@torch.inference_mode()
def render_points(model: ISPPointsNet, points: PointSet, size: tuple[int, int],
                  extent: tuple[float, float, float, float], *, patch_points: int = PATCH_POINTS,
                  overlap: int = 8, blend: str = "smooth", query_chunk: int = 16384) -> torch.Tensor:
    """Render an ``H x W`` image over ``extent`` from scattered points, patch by patch.

    A global grid has about one cell per point; windows of ``sqrt(patch_points)`` cells a
    side (48 for 2304) overlap by ``overlap`` cells. Each window is rendered from the
    points nearest its cells; overlapping outputs are averaged with weights that ramp
    linearly across the overlap (``blend="smooth"``) or equal weights (``"uniform"``).
    Memory is bounded by the window (and the output), not by the number of points.

    Args:
        model: the network, on the device to compute on (its dtype and device are followed).
        points: validated point set; its values in [0, 1].
        size: output ``(H, W)``.
        extent: outer edges ``(x0, y0, x1, y1)`` of the output in the points' units.

    Returns:
        ``(1, C, H, W)`` float32 CPU tensor (not clipped).
    """
    if blend not in ("smooth", "uniform") or overlap < 0 or patch_points < 1:
        raise ValueError(f"bad patching: blend={blend!r} overlap={overlap} patch_points={patch_points}")
    h, w = size
    x0, y0, x1, y1 = extent
    gh, gw = global_grid(len(points), extent)
    side = max(1, round(math.sqrt(patch_points)))
    wh, ww = min(side, gh), min(side, gw)
    ch, cw = (y1 - y0) / gh, (x1 - x0) / gw
    ys, xs = y0 + (np.arange(h) + 0.5) * ((y1 - y0) / h), x0 + (np.arange(w) + 0.5) * ((x1 - x0) / w)
    tree = cKDTree(points.xy)
    out = np.zeros((h, w, points.channels), dtype=np.float32)
    total = np.zeros((h, w), dtype=np.float32)
    tol = 1e-9 * max(x1 - x0, y1 - y0)
    for sy in window_starts(gh, wh, overlap):
        fy0, fy1 = y0 + sy * ch, (y1 if sy + wh == gh else y0 + (sy + wh) * ch)
        rows = slice(np.searchsorted(ys, fy0 - tol), np.searchsorted(ys, fy1 + tol, side="right"))
        for sx in window_starts(gw, ww, overlap):
            fx0, fx1 = x0 + sx * cw, (x1 if sx + ww == gw else x0 + (sx + ww) * cw)
            cols = slice(np.searchsorted(xs, fx0 - tol), np.searchsorted(xs, fx1 + tol, side="right"))
            if rows.start >= rows.stop or cols.start >= cols.stop:
                continue
            block = _render_window(model, points, tree, (fx0, fy0, fx1, fy1), (wh, ww), ys[rows], xs[cols],
                                   ((y1 - y0) / h, (x1 - x0) / w), query_chunk)
            ramp_y, ramp_x = (overlap * ch, overlap * cw) if blend == "smooth" else (0.0, 0.0)
            weight = np.outer(blend_weights(ys[rows], fy0, fy1, (y0, y1), ramp_y),
                              blend_weights(xs[cols], fx0, fx1, (x0, x1), ramp_x)).astype(np.float32)
            out[rows, cols] += block * weight[..., None]
            total[rows, cols] += weight
    return torch.from_numpy(out / total[..., None]).permute(2, 0, 1).unsqueeze(0).contiguous()
