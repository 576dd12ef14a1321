"""Points network after ISP2HRNet: an image of any size from scattered samples.

Pipeline (Wang et al., ICCV 2025, "ISP2HRNet"; own implementation):

1. Per point, its K = 8 nearest neighbours give a local gradient (weighted least-squares
   plane fit of the value differences) and a local feature (shared MLP over the edges to
   the neighbours, averaged; PointNet/EdgeConv style).
2. Irregular-to-regular: each cell of a feature grid (48 x 48 for a 2304-point patch: one
   cell per point) gathers its K' = 12 nearest points; an MLP on their relative positions,
   values, gradients and features filters the point features (averaged) and weights the
   points' values extrapolated to the cell centre (softmax), giving C + 128 channels.
3. An EDSR-baseline encoder (16 residual blocks, 64 channels) on the grid.
4. A LIIF decoder (3 x 3 feature unfolding, local ensemble of 4, cell decoding; MLP
   580 -> 256 x 4 -> C) renders any size. Its first layer runs once per grid cell as a
   3 x 3 convolution and is gathered per query (equal to unfold + linear, less work).

About 1.71 M parameters (the paper: 1.71 M). Neighbour search (SciPy KD-tree, never an
N x N matrix) lives in :func:`build_patch_index`; the module takes tensors only. Inputs of
any size go through :func:`render_points`: a global grid with about one cell per point is
cut into overlapping 48 x 48-cell windows, each rendered from its nearest points, and the
outputs are averaged with weights that ramp down across the overlaps.

Departures from the paper's code, kept deliberately: gradients come from a weighted
least-squares plane fit (not area-weighted triangle normals of angle-sorted neighbours),
the point MLPs have no batch normalisation, and the colour branch weights values
extrapolated along the gradients rather than raw values.

Model space: positions and queries are ``(y, x)`` in ``[-1, 1]`` over a patch *frame*;
grid cell centres at ``-1 + (2 i + 1) / n``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree
from torch import nn

from srcli.geometry import coord_grid
from srcli.io.points import PointSet
from srcli.registry import register

K_NEIGHBOURS = 8
K_GRID = 12
PATCH_POINTS = 2304


def gather_rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x (B, M, D)`` gathered at ``index (B, P, K)`` -> ``(B, P, K, D)``."""
    batch = torch.arange(x.shape[0], device=x.device).view(-1, 1, 1)
    return x[batch, index]


def local_gradients(offsets: torch.Tensor, dvalues: torch.Tensor, ridge: float = 1e-4) -> torch.Tensor:
    """Least-squares gradients: ``dvalues ~ offsets @ grad`` weighted by ``1 / |offset|^2``.

    Args:
        offsets: ``(B, P, K, 2)`` neighbour minus centre positions.
        dvalues: ``(B, P, K, C)`` neighbour minus centre values.
        ridge: Tikhonov term relative to the trace of the normal matrix.

    Returns:
        ``(B, P, 2, C)`` gradients (per unit of ``offsets``).
    """
    weight = 1.0 / (offsets.square().sum(-1, keepdim=True) + 1e-6)
    normal = torch.einsum("bpki,bpkj->bpij", offsets * weight, offsets)
    rhs = torch.einsum("bpki,bpkc->bpic", offsets * weight, dvalues)
    a, b, c, d = normal[..., 0, 0], normal[..., 0, 1], normal[..., 1, 0], normal[..., 1, 1]
    damp = ridge * (a + d) + 1e-12
    a, d = a + damp, d + damp
    det = a * d - b * c
    inverse = torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2) / det[..., None, None]
    return inverse @ rhs


def edge_features(values: torch.Tensor, grads: torch.Tensor, offsets: torch.Tensor, dvalues: torch.Tensor) -> torch.Tensor:
    """Per edge (point, neighbour): centre value and gradient, offset, distance, value
    difference and its residual from the centre's plane.

    Shapes: values ``(B, P, C)``, grads ``(B, P, 2, C)``, offsets ``(B, P, K, 2)``,
    dvalues ``(B, P, K, C)`` -> ``(B, P, K, 5 C + 3)``.
    """
    k = offsets.shape[2]
    residual = dvalues - torch.einsum("bpki,bpic->bpkc", offsets, grads)
    centre = torch.cat([values, grads.flatten(-2)], -1).unsqueeze(2).expand(-1, -1, k, -1)
    return torch.cat([centre, offsets, offsets.norm(dim=-1, keepdim=True), dvalues, residual], -1)


def mlp(sizes: list[int], *, last_relu: bool) -> nn.Sequential:
    """Linear layers with ReLU between them (and after the last one if asked)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2 or last_relu:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    """EDSR residual block: conv-ReLU-conv plus the input."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


@register("isp-points", task="points", family="isp2hrnet", trainable=True,
          description="ISP2HRNet-style network: images of any size from scattered points (1.71 M)")
class ISPPointsNet(nn.Module):
    """Holder of the weights of the points network; see the module doc for the maths.

    Args:
        channels: channel values per point (3: RGB).
        point_features: width F of per-point and grid features.
        encoder_width, encoder_blocks: EDSR-baseline encoder size.
        decoder_hidden, decoder_layers: LIIF MLP size (hidden layers).
    """

    def __init__(self, channels: int = 3, point_features: int = 128, point_hidden: int = 64, grid_hidden: int = 128,
                 encoder_width: int = 64, encoder_blocks: int = 16, decoder_hidden: int = 256,
                 decoder_layers: int = 4) -> None:
        super().__init__()
        c, f = channels, point_features
        self.channels = channels
        self.point_mlp = mlp([5 * c + 3, point_hidden, point_hidden, f], last_relu=True)
        descriptor = 3 + 4 * c + f  # geometry, values, gradients, extrapolated values; then features
        self.filter_mlp = mlp([descriptor, grid_hidden, f], last_relu=False)
        self.colour_mlp = mlp([descriptor, grid_hidden, c], last_relu=False)
        self.head = nn.Conv2d(c + f, encoder_width, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(encoder_width) for _ in range(encoder_blocks)],
                                  nn.Conv2d(encoder_width, encoder_width, 3, padding=1))
        self.decoder = mlp([9 * encoder_width + 4] + [decoder_hidden] * decoder_layers + [c], last_relu=False)

    def grid_features(self, xy: torch.Tensor, values: torch.Tensor, neighbours: torch.Tensor,
                      cell_points: torch.Tensor, grid_hw: tuple[int, int]) -> torch.Tensor:
        """Irregular points -> regular feature grid.

        Args:
            xy: ``(B, M, 2)`` positions ``(y, x)`` in the frame; the first P are centres.
            values: ``(B, M, C)`` values in [0, 1].
            neighbours: ``(B, P, K)`` indices into M of each centre's nearest other points.
            cell_points: ``(B, G, K')`` indices into P of each grid cell's nearest points.
            grid_hw: ``(gh, gw)`` with ``gh * gw = G``.

        Returns:
            ``(B, C + F, gh, gw)``.
        """
        gh, gw = grid_hw
        n_centres = neighbours.shape[1]
        v = (values - 0.5) / 0.5
        per_cell = xy.new_tensor([gh / 2.0, gw / 2.0])  # frame units -> grid cells
        centre_xy, centre_v = xy[:, :n_centres], v[:, :n_centres]
        offsets = (gather_rows(xy, neighbours) - centre_xy.unsqueeze(2)) * per_cell
        dvalues = gather_rows(v, neighbours) - centre_v.unsqueeze(2)
        grads = local_gradients(offsets, dvalues)
        feats = self.point_mlp(edge_features(centre_v, grads, offsets, dvalues)).mean(2)
        cells = coord_grid(gh, gw, device=xy.device, dtype=xy.dtype).view(1, -1, 1, 2)
        rel = (gather_rows(centre_xy, cell_points) - cells) * per_cell
        p_v = gather_rows(centre_v, cell_points)
        p_grad = gather_rows(grads.flatten(-2), cell_points)
        extrapolated = p_v - torch.einsum("bgki,bgkic->bgkc", rel, p_grad.unflatten(-1, (2, -1)))
        geometry = torch.cat([rel, rel.norm(dim=-1, keepdim=True), p_v, p_grad, extrapolated], -1)
        filter_in, colour_in = self._first_layers(geometry, feats, cell_points)
        p_feat = gather_rows(feats, cell_points)
        grid_feat = F.relu(p_feat * self.filter_mlp[2:](F.relu(filter_in))).mean(2)
        colour = (torch.softmax(self.colour_mlp[2:](F.relu(colour_in)), dim=2) * extrapolated).sum(2)
        grid = torch.cat([colour, grid_feat], -1)
        return grid.transpose(1, 2).reshape(grid.shape[0], -1, gh, gw)

    def _first_layers(self, geometry: torch.Tensor, feats: torch.Tensor,
                      cell_points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """First layers of the filter and colour MLPs on ``[geometry, point feature]``
        descriptors ``(B, G, K', D)``; the feature part is projected once per point, then
        gathered (equal to the layers on the concatenated descriptors)."""
        first_f, first_c = self.filter_mlp[0], self.colour_mlp[0]
        n_geo = geometry.shape[-1]
        per_point = feats @ torch.cat([first_f.weight[:, n_geo:], first_c.weight[:, n_geo:]]).t()
        gathered = gather_rows(per_point, cell_points)
        split = first_f.out_features
        filter_in = F.linear(geometry, first_f.weight[:, :n_geo], first_f.bias) + gathered[..., :split]
        colour_in = F.linear(geometry, first_c.weight[:, :n_geo], first_c.bias) + gathered[..., split:]
        return filter_in, colour_in

    def encode(self, grid: torch.Tensor) -> torch.Tensor:
        """EDSR-baseline features ``(B, E, gh, gw)`` of a grid ``(B, C + F, gh, gw)``."""
        x = self.head(grid)
        return x + self.body(x)

    def project(self, feat: torch.Tensor) -> torch.Tensor:
        """First decoder layer's feature part, once per cell: ``(B, hidden, gh, gw)``.

        Equal to applying it to the 3 x 3 unfolded features (zero padded).
        """
        first = self.decoder[0]
        n_feat = first.in_features - 4
        kernel = first.weight[:, :n_feat].reshape(first.out_features, feat.shape[1], 3, 3)
        return F.conv2d(feat, kernel, first.bias, padding=1)

    def query(self, projected: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Decode values at query points with LIIF's local ensemble.

        Args:
            projected: ``(B, hidden, gh, gw)`` from :meth:`project`.
            coord: ``(B, Q, 2)`` query positions ``(y, x)`` in the frame.
            cell: ``(B, Q, 2)`` output pixel size in frame units.

        Returns:
            ``(B, Q, C)`` values (about [0, 1]).
        """
        b, hidden, gh, gw = projected.shape
        size = coord.new_tensor([gh, gw])
        first = self.decoder[0]
        pos_weight = first.weight[:, first.in_features - 4:]
        table = projected.flatten(2).transpose(1, 2)  # (B, G, hidden)
        t = (coord + 1) / 2 * size - 0.5  # position in cell indices
        base = torch.floor(t)
        cell_units = cell * size / 2
        preds, areas = [], []
        for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
            idx = torch.minimum(torch.clamp(base + coord.new_tensor([dy, dx]), min=0), size - 1)
            rel = t - idx
            flat = (idx[..., 0] * gw + idx[..., 1]).long()
            hidden_in = table.gather(1, flat.unsqueeze(-1).expand(-1, -1, hidden))
            hidden_in = hidden_in + torch.cat([rel, cell_units], -1) @ pos_weight.t()
            preds.append(self.decoder[2:](F.relu(hidden_in)))
            areas.append((rel[..., 0] * rel[..., 1]).abs() + 1e-9)
        total = sum(areas)
        out = sum(p * (a / total).unsqueeze(-1) for p, a in zip(preds, reversed(areas)))
        return out * 0.5 + 0.5

    def forward(self, xy: torch.Tensor, values: torch.Tensor, neighbours: torch.Tensor, cell_points: torch.Tensor,
                coord: torch.Tensor, cell: torch.Tensor, grid_hw: tuple[int, int]) -> torch.Tensor:
        """Points of a patch -> values ``(B, Q, C)`` at the queries (training entry point)."""
        grid = self.grid_features(xy, values, neighbours, cell_points, grid_hw)
        return self.query(self.project(self.encode(grid)), coord, cell)


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
