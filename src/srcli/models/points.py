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

About 1.71 M parameters (the paper: 1.71 M). The module takes tensors only; neighbour
search (:func:`build_patch_index`) and rendering inputs of any size in overlapping
windows (:func:`render_points`) live in :mod:`srcli.models.points_patches` and are
re-exported here.

Departures from the paper's code, kept deliberately: gradients come from a weighted
least-squares plane fit (not area-weighted triangle normals of angle-sorted neighbours),
the point MLPs have no batch normalisation, and the colour branch weights values
extrapolated along the gradients rather than raw values.

Model space: positions and queries are ``(y, x)`` in ``[-1, 1]`` over a patch *frame*;
grid cell centres at ``-1 + (2 i + 1) / n``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srcli.geometry import coord_grid
from srcli.models.implicit_functional import project_unfolded
from srcli.models.points_patches import (
    K_GRID,
    K_NEIGHBOURS,
    PATCH_POINTS,
    PatchIndex,
    blend_weights,
    build_patch_index,
    channel_groups,
    global_grid,
    render_points,
    window_starts,
)
from srcli.registry import register

__all__ = [  # public names, including those re-exported from srcli.models.points_patches
    "K_GRID",
    "K_NEIGHBOURS",
    "PATCH_POINTS",
    "ISPPointsNet",
    "PatchIndex",
    "ResBlock",
    "blend_weights",
    "build_patch_index",
    "channel_groups",
    "edge_features",
    "gather_rows",
    "global_grid",
    "local_gradients",
    "mlp",
    "render_points",
    "window_starts",
]


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
        return project_unfolded(feat, first.weight[:, : first.in_features - 4], first.bias)

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
