"""Training items, padding and validation of the points network (srcli.training.points)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from srcli.device import make_runtime
from srcli.models.points import ISPPointsNet
from srcli.training.points import (
    POINTS_INPUTS,
    PointsStep,
    collate_points,
    load_points_validation,
    make_points_item,
    ratio_geometry,
    validate_points,
)
from srcli.training.samplers import ItemPlan

TINY = {"point_features": 8, "point_hidden": 8, "grid_hidden": 8, "encoder_width": 8, "encoder_blocks": 1,
        "decoder_hidden": 16, "decoder_layers": 1}


def plan(side: int, seed: int, flips: tuple[bool, bool, bool] = (False, False, False)) -> ItemPlan:
    return ItemPlan(0, 0, 0, side, side / 8, *flips, seed)


def smooth_crop(side: int, seed: int = 0) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(side, dtype=torch.float32), torch.arange(side, dtype=torch.float32), indexing="ij")
    return torch.stack([torch.sin(x / 5 + seed) * 0.4 + 0.5, torch.cos(y / 4) * 0.4 + 0.5, (x + y) / (2 * side)])


def test_ratio_geometry_maps_ratios_to_crop_scales() -> None:
    geometry = ratio_geometry(48, 0.1, 0.5)
    assert geometry.lr_size == 48
    assert geometry.scale_min == pytest.approx(0.5**-0.5) and geometry.scale_max == pytest.approx(0.1**-0.5)
    assert round(48 * geometry.scale_max) ** 2 * 0.1 == pytest.approx(48**2, rel=0.02)  # 152 x 152 crop, 2304 points


@pytest.mark.parametrize("irregular", [0.0, 1.0])
def test_item_has_a_grid_of_points_and_true_targets(irregular: float) -> None:
    hr = smooth_crop(20)
    item = make_points_item(hr, plan(20, 7), grid_side=8, queries=30, irregular=irregular)
    p, m = item["neighbours"].shape[0], item["xy"].shape[0]
    assert item["cell_points"].shape[0] == 64 and int(item["cell_points"].max()) < p <= m <= 64
    assert item["coord"].shape == (30, 2) and torch.allclose(item["cell"], torch.full((30, 2), 0.1))
    rows = ((item["coord"][:, 0] + 1) * 20 / 2 - 0.5).round().long()
    cols = ((item["coord"][:, 1] + 1) * 20 / 2 - 0.5).round().long()
    assert torch.equal(item["gt"], hr[:, rows, cols].t())  # targets are the HR pixels at the query centres
    assert float(item["xy"].abs().max()) <= 1.0
    if irregular == 0.0:  # integer positions carry the pixels' own values
        r = ((item["xy"][:, 0] + 1) * 10 - 0.5).round().long()
        c = ((item["xy"][:, 1] + 1) * 10 - 0.5).round().long()
        assert torch.allclose(item["values"], hr[:, r, c].t())
    again = make_points_item(hr, plan(20, 7), grid_side=8, queries=30, irregular=irregular)
    assert all(torch.equal(item[k], again[k]) for k in item)  # the plan's seed decides everything


def frame_item(seed: int, count: int) -> dict[str, torch.Tensor]:
    """A patch whose frame covers part of the points: some points are neighbours only, not centres."""
    from srcli.models.points_patches import build_patch_index

    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 30, (count, 2))
    index = build_patch_index(xy, rng.uniform(0, 1, (count, 3)), (8, 8, 20, 20), (8, 8), k_grid=3)
    coord = torch.as_tensor(rng.uniform(-1, 1, (10, 2)), dtype=torch.float32)
    return {"xy": torch.from_numpy(index.xy), "values": torch.from_numpy(index.values),
            "neighbours": torch.from_numpy(index.neighbours), "cell_points": torch.from_numpy(index.cell_points),
            "coord": coord, "cell": torch.full_like(coord, 0.25), "gt": torch.zeros(10, 3)}


def test_padding_leaves_every_items_output_unchanged() -> None:
    torch.manual_seed(0)
    model = ISPPointsNet(**TINY).eval()
    step = PointsStep(model, 8)
    items = [frame_item(seed, count) for seed, count in ((0, 150), (1, 220))]
    p = [item["neighbours"].shape[0] for item in items]
    assert p[0] != p[1] and all(q < item["xy"].shape[0] for q, item in zip(p, items))  # centres and others to pad
    batch = collate_points(items)
    with torch.no_grad():
        together = step(*[batch[k] for k in POINTS_INPUTS])
        for i, item in enumerate(items):
            alone = step(*[item[k][None] for k in POINTS_INPUTS])
            assert torch.allclose(together[i], alone[0], atol=1e-5)


def test_validation_renders_held_out_crops(tmp_path) -> None:
    image = (smooth_crop(30).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "a.png")
    items = load_points_validation(tmp_path, [0.2, 0.5], crop=24, max_images=5)
    assert [(i.name, i.ratio, i.hr.shape[-1]) for i in items] == [("a.png", 0.2, 24), ("a.png", 0.5, 24)]
    assert len(items[0].points) == round(0.2 * 24 * 24)

    class Mean(torch.nn.Module):  # stands in for a network: every pixel the mean of the points
        channels = 3

        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def grid_features(self, xy, values, neighbours, cell_points, grid_hw):
            return values.mean(1)

        def encode(self, grid):
            return grid

        def project(self, feat):
            return feat

        def query(self, projected, coord, cell):
            return projected[:, None].expand(-1, coord.shape[1], -1)

    metrics = validate_points(Mean(), items, make_runtime("cpu", "fp32"))
    assert set(metrics) == {"psnr_r0.2", "psnr_r0.5", "psnr"} and 5 < metrics["psnr"] < 40
