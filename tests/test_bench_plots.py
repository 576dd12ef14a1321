"""Tests for srcli.tasks.bench_plots: PSNR charts (matplotlib) and crop grids (Pillow)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import write_png
from srcli.errors import UsageError
from srcli.io.images import ImageError
from srcli.tasks.bench_plots import (
    GAP,
    LABEL_HEIGHT,
    check_plot_folder,
    crops_grid,
    parse_box,
    plot_quality,
    require_matplotlib,
)

MEANS = [{"dataset": d, "model": m, "scale": s, "psnr": 30 - s + (m == "b")}
         for d in ("set-a", "set b") for m in ("a", "b") for s in (2.0, 3.0, 4.0)]


def test_plot_folder_is_no_file_and_no_data_set(tmp_path):
    data = tmp_path / "set5"
    data.mkdir()
    (tmp_path / "a.png").write_bytes(b"x")
    check_plot_folder(str(tmp_path / "charts"), [str(data)])  # missing: made later
    check_plot_folder(str(tmp_path), [str(data)])
    with pytest.raises(UsageError, match="--plot .*a.png is a file; give a folder"):
        check_plot_folder(str(tmp_path / "a.png"), [str(data)])
    with pytest.raises(UsageError, match="is the data set folder .*set5; the charts would join its images"):
        check_plot_folder(str(tmp_path / "set5" / "."), [str(tmp_path / "x"), str(data)])


def test_plot_quality_writes_one_png_per_dataset(tmp_path):
    pytest.importorskip("matplotlib")
    paths = plot_quality(MEANS, tmp_path / "charts")
    assert [p.name for p in paths] == ["set-a_psnr.png", "set_b_psnr.png"]
    for path in paths:
        with Image.open(path) as im:
            assert im.format == "PNG" and im.size[0] > 200 and im.size[1] > 200


def test_missing_matplotlib_is_a_clear_usage_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(UsageError, match=r"pip install srcli\[plot\]"):
        require_matplotlib()


def test_parse_box():
    assert parse_box("1,2,30,40") == (1, 2, 30, 40)
    for bad in ("1,2,3", "a,b,c,d", "1,2,0,4", "-1,0,4,4"):
        with pytest.raises(UsageError, match="--box"):
            parse_box(bad)


def test_crops_grid_layout_labels_and_psnr(tmp_path):
    src = write_png(tmp_path / "gt.png", 40, 48, seed=5)
    info = crops_grid(str(src), str(tmp_path / "grid.png"), scale=2, box=(4, 6, 16, 12), models=["nearest", "bicubic"],
                      device="cpu", zoom=3)
    assert [p["label"] for p in info["panels"]] == ["ground truth", "bicubic", "nearest"]
    with Image.open(tmp_path / "grid.png") as im:
        grid = np.asarray(im.convert("RGB"))
    cell_w, cell_h = 16 * 3, 12 * 3 + LABEL_HEIGHT
    assert grid.shape == (GAP + cell_h + GAP, GAP + 3 * (cell_w + GAP), 3)
    gt = np.asarray(Image.open(src))[6:18, 4:20]
    first = grid[GAP:GAP + 36, GAP:GAP + 48]
    assert np.array_equal(first, np.repeat(np.repeat(gt, 3, axis=0), 3, axis=1))  # ground truth, enlarged x3
    # the nearest panel's PSNR, independently: Y-PSNR of the repeated LR crop against the GT crop
    from srcli.training.degradations import bicubic_downscale, quantize_8bit

    hr = torch.from_numpy(np.asarray(Image.open(src), dtype=np.float32) / 255).permute(2, 0, 1)[None]
    lr = quantize_8bit(bicubic_downscale(hr.double(), 2))[0].permute(1, 2, 0).numpy()
    sr = np.repeat(np.repeat(lr, 2, axis=0), 2, axis=1)[6:18, 4:20]
    y = lambda x: 16 + x @ np.array([65.481, 128.553, 24.966])
    expected = 10 * np.log10(255**2 / np.mean((y(sr) - y(gt / 255.0)) ** 2))
    assert info["panels"][2]["psnr"] == pytest.approx(expected, abs=1e-3)


def test_crops_grid_errors(tmp_path):
    src = write_png(tmp_path / "gt.png", 20, 20)
    with pytest.raises(UsageError, match="leaves the 20x20"):
        crops_grid(str(src), str(tmp_path / "g.png"), scale=2, box=(10, 10, 16, 4), models=[], device="cpu")
    (tmp_path / "g.png").write_bytes(b"x")
    with pytest.raises(ImageError, match="exists"):
        crops_grid(str(src), str(tmp_path / "g.png"), scale=2, box=(0, 0, 8, 8), models=[], device="cpu")
