"""Training data and validation of the points network (``srcli train --model isp-points``).

A training item executes one :class:`~srcli.training.samplers.ItemPlan` of the LIIF
samplers, read for points: the planned square HR crop of side ``S`` is sampled into
``grid_side**2`` points (2304 for the 48 x 48 grid of ISP2HRNet), a sampling ratio of
``grid_side**2 / S**2``; the sampler's scale range is therefore the ratio range
``[1 / scale_max**2, 1 / scale_min**2]`` (:func:`ratio_geometry`). In order:

1. crop the HR patch ``hr`` (3, S, S) and apply the plan's flips / transpose;
2. draw, from the plan's seed, irregular positions with probability ``irregular``
   (uniform in the plane, Keys bicubic values) or distinct integer pixels (exact values),
   through :func:`srcli.io.point_sampling.sample_points`;
3. :func:`srcli.models.points_patches.build_patch_index` over the crop's frame with a
   ``grid_side x grid_side`` grid (KD-tree neighbours and cell points);
4. ``queries`` distinct HR pixels as in :func:`srcli.training.datasets.make_item`.

Items differ in how many points a patch touches, so :func:`collate_points` pads them
(without changing any item's result). Validation renders centre crops of held-out
images from points sampled at fixed ratios and seeds, RGB PSNR (peak 1), as
``bench quality --task points`` scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from srcli.device import Runtime
from srcli.io.point_sampling import sample_points
from srcli.io.point_sets import PointSet
from srcli.models.points_patches import build_patch_index, render_points
from srcli.training.datasets import (
    PatchDataset,
    augment,
    list_images,
    query_pixels,
    read_rgb,
    to_tensor,
)
from srcli.training.samplers import ItemPlan, PatchGeometry
from srcli.training.validation import centre_crop, mean_psnr_by

#: the points network's inputs, in the order :class:`PointsStep` takes them
POINTS_INPUTS = ("xy", "values", "neighbours", "cell_points", "coord", "cell")


def ratio_geometry(grid_side: int, ratio_min: float, ratio_max: float, augment_items: bool = True) -> PatchGeometry:
    """The sampler geometry whose crops hold ``grid_side**2`` points at ratios ``[ratio_min, ratio_max]``."""
    return PatchGeometry(grid_side, float(ratio_max) ** -0.5, float(ratio_min) ** -0.5, augment_items)


class PointsStep(nn.Module):
    """What the loop (and DDP) calls: the points network on one padded batch of patches."""

    def __init__(self, model: nn.Module, grid_side: int) -> None:
        super().__init__()
        self.model, self.grid_side = model, grid_side

    def forward(self, xy: torch.Tensor, values: torch.Tensor, neighbours: torch.Tensor, cell_points: torch.Tensor,
                coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Shapes as :meth:`ISPPointsNet.forward`; returns ``(B, Q, C)``."""
        return self.model(xy, values, neighbours, cell_points, coord, cell, (self.grid_side, self.grid_side))


def make_points_item(hr: torch.Tensor, plan: ItemPlan, grid_side: int, queries: int, irregular: float) -> dict[str, Any]:
    """One training item from its HR crop (module docstring, steps 1-4).

    Args:
        hr: (3, S, S) HR crop in [0, 1], S = ``plan.hr_size`` >= ``grid_side``.
        plan: the item's plan.
        grid_side: grid cells a side; the item has ``grid_side**2`` points.
        queries: sampled HR pixels (<= S * S).
        irregular: probability of irregular (fractional) positions.

    Returns:
        ``{"xy": (M, 2), "values": (M, 3), "neighbours": (P, K), "cell_points": (G, K'),
        "coord": (Q, 2), "cell": (Q, 2), "gt": (Q, 3)}``; the first P rows of ``xy`` are centres.
    """
    side = hr.shape[-1]
    hr = augment(hr, plan.hflip, plan.vflip, plan.transpose)
    rng = np.random.default_rng([plan.query_seed, 1])
    is_irregular = bool(rng.random() < irregular)
    pixels = hr.permute(1, 2, 0).numpy().astype(np.float64)
    points = sample_points(pixels, grid_side**2 / side**2, irregular=is_irregular, seed=int(rng.integers(2**62)))
    index = build_patch_index(points.xy, points.values, (-0.5, -0.5, side - 0.5, side - 0.5), (grid_side, grid_side))
    flat = torch.from_numpy(query_pixels(plan.query_seed, side, queries))
    rows, cols = flat // side, flat % side
    coord = torch.stack([(2 * rows + 1).float() / side - 1, (2 * cols + 1).float() / side - 1], dim=-1)
    return {"xy": torch.from_numpy(index.xy), "values": torch.from_numpy(index.values),
            "neighbours": torch.from_numpy(index.neighbours), "cell_points": torch.from_numpy(index.cell_points),
            "coord": coord, "cell": torch.full_like(coord, 2.0 / side), "gt": hr.reshape(3, -1)[:, flat].t().contiguous()}


def _pad_item(item: dict[str, torch.Tensor], centres: int, rows: int) -> dict[str, torch.Tensor]:
    """Pad to ``centres`` centre rows and ``rows`` point rows without changing the item's output.

    Extra centres copy centre 0 (position, value and neighbours), inserted after the real
    centres; the other points move down and the indices follow; extra rows at the end
    repeat the last point and nothing refers to them. Grid cells only use real centres.
    """
    p, m = item["neighbours"].shape[0], item["xy"].shape[0]
    extra = centres - p
    order = torch.cat([torch.arange(p), torch.zeros(extra, dtype=torch.long), torch.arange(p, m),
                       torch.full((rows - m - extra,), m - 1, dtype=torch.long)])
    moved = torch.where(item["neighbours"] >= p, item["neighbours"] + extra, item["neighbours"])
    neighbours = torch.cat([moved, moved[:1].expand(extra, -1)])
    return {**item, "xy": item["xy"][order], "values": item["values"][order], "neighbours": neighbours}


def collate_points(items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Pad (see :func:`_pad_item`) and stack items into a batch."""
    centres = max(item["neighbours"].shape[0] for item in items)
    rows = max(item["xy"].shape[0] - item["neighbours"].shape[0] for item in items) + centres
    padded = [_pad_item(item, centres, rows) for item in items]
    return {key: torch.stack([item[key] for item in padded]) for key in padded[0]}


class PointsPatchDataset(PatchDataset):
    """Executes plans: ``dataset[plan]`` is :func:`make_points_item` on the planned crop."""

    def __init__(self, paths: Sequence[Path], sizes: Sequence[tuple[int, int]], grid_side: int, queries: int,
                 irregular: float) -> None:
        super().__init__(paths, sizes, grid_side, queries)
        self.irregular = irregular

    def build(self, hr: torch.Tensor, plan: ItemPlan) -> dict[str, torch.Tensor]:
        """The points item of a planned HR crop."""
        return make_points_item(hr, plan, self.lr_size, self.queries, self.irregular)


@dataclass
class PointsValidationItem:
    """Points sampled from one held-out crop: ``hr`` (1, 3, H, W) and its ``points`` at ``ratio``."""

    name: str
    ratio: float
    irregular: bool
    points: PointSet
    hr: torch.Tensor


def load_points_validation(folder: str | Path, ratios: Sequence[float], crop: int, max_images: int,
                           irregular: bool = True) -> list[PointsValidationItem]:
    """Centre crops (``crop`` pixels, 0 = whole) of held-out images, sampled at each ratio (seed: image index)."""
    items = []
    for i, path in enumerate(list_images([folder], what="validation")[:max_images]):
        image = to_tensor(read_rgb(path))[None]
        hr = (centre_crop(image, crop) if crop else image).contiguous()
        pixels = hr[0].permute(1, 2, 0).numpy().astype(np.float64)
        for ratio in ratios:
            points = sample_points(pixels, float(ratio), irregular=irregular, seed=i)
            items.append(PointsValidationItem(path.name, float(ratio), irregular, points, hr))
    return items


def validate_points(model: nn.Module, items: list[PointsValidationItem], runtime: Runtime,
                    patch_points: int = 48 * 48) -> dict[str, float]:
    """Mean RGB PSNR (peak 1) of the rendered crops per ratio (``psnr_r0.2``) and over all items.

    ``patch_points`` sets the rendering windows (``sqrt`` cells a side): the training grid's.
    """
    from srcli.metrics import psnr

    def score(item: PointsValidationItem) -> tuple[float, float]:
        h, w = item.hr.shape[-2:]
        with runtime.autocast():
            image = render_points(model, item.points, (h, w), (-0.5, -0.5, w - 0.5, h - 0.5),
                                  patch_points=patch_points).clamp(0, 1)
        return item.ratio, float(psnr(image, item.hr, shave=0, y_channel=False)[0])

    return mean_psnr_by(model, items, score, "psnr_r{:g}")
