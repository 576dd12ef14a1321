"""Bench tasks `points` and `inpaint`: wiring, seeds, metrics against numpy, methods and bad requests."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import write_png
from srcli.errors import UsageError
from srcli.io.points import sample_points
from srcli.tasks.bench import bench_quality, get_bench_task, image_seed
from srcli.tasks.bench_points import parse_drop, parse_ratio, sr_length
from srcli.tasks.from_points import from_points, inpaint_with_points
from srcli.tasks.inpaint import drop_pixels


def np_psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((np.clip(a.astype(np.float64), 0, 1) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def smooth_png(path, h=16, w=18, mode="RGB"):
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 12, yy * 13, 100 + 4 * (xx - yy)], -1) + np.random.default_rng(h).integers(0, 25, (h, w, 3))
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    if mode == "RGBA":
        rgb = np.dstack([rgb, np.full((h, w), 90, np.uint8)])
    Image.fromarray(rgb, mode).save(path)
    return np.asarray(Image.open(path), dtype=np.float64)[:, :, :3] / 255


@pytest.fixture()
def folder(tmp_path):
    data = tmp_path / "tiny"
    data.mkdir()
    smooth_png(data / "a.png")
    smooth_png(data / "b.png", 14, 13, mode="RGBA")
    write_png(data / "c.png", 12, 15, mode="L", seed=3)
    return data


def test_tasks_register_and_parse_settings():
    assert get_bench_task("points").setting_name == "ratio" and get_bench_task("inpaint").setting_name == "drop"
    assert parse_ratio("0.2") == 0.2 and parse_drop("0") == 0.0
    for bad in ("0", "-1", "nan", "x"):
        with pytest.raises(ValueError):
            parse_ratio(bad)
    for bad in ("1", "1.5", "-0.1", "inf"):
        with pytest.raises(ValueError):
            parse_drop(bad)


def test_points_rows_match_an_independent_replay(folder):
    report, result, plan = bench_quality([str(folder)], models="nearest,linear", settings="0.4", task="points",
                                         options={"irregular": "true"}, seed=5, device="cpu")
    assert plan.options == {"irregular": True} and len(result.rows) == 6
    row = next(r for r in result.rows if r["image"] == "a.png" and r["model"] == "linear")
    gt = (np.asarray(Image.open(folder / "a.png"), dtype=np.float64) / 255).astype(np.float32)  # as the bench reads it
    points = sample_points(gt, 0.4, irregular=True, seed=image_seed(5, "tiny", "a.png", 0.4))
    image = from_points(points, size=(16, 18), source_size=(18, 16), method="linear").image
    assert row["psnr"] == pytest.approx(np_psnr(image, gt), abs=1e-9)
    assert row["points"] == round(0.4 * 16 * 18) and row["size"] == [18, 16] and 0 < row["ssim"] < 1
    rgba = next(r for r in result.rows if r["image"] == "b.png")
    assert rgba["size"] == [13, 14]  # alpha dropped, colour compared
    means = {m["model"]: m for m in result.means}
    assert means["linear"]["images"] == 3 and "gain_db" in means["nearest"]
    assert report["task"] == "points" and "irregular" in report["protocol"]
    assert "all colour channels, peak 1" in report["protocol"] and "Keys bicubic" in report["protocol"]
    assert report["options"] == {"irregular": True}


def test_all_pixels_at_ratio_one_give_the_image_back(folder):
    _report, result, _plan = bench_quality([str(folder)], models="nearest,cubic", settings="1", task="points",
                                           device="cpu")
    assert all(r["psnr"] == math.inf and r["ssim"] == pytest.approx(1.0) for r in result.rows)


def test_inpaint_rows_match_an_independent_replay(folder):
    _report, result, _plan = bench_quality([str(folder)], models="linear,rbf", settings="0.6,0.3", task="inpaint",
                                           device="cpu")
    assert len(result.rows) == 12 and {m["drop"] for m in result.means} == {0.6, 0.3}
    row = next(r for r in result.rows if r["image"] == "c.png" and r["model"] == "rbf" and r["drop"] == 0.6)
    gt = (np.asarray(Image.open(folder / "c.png"), dtype=np.float64)[:, :, None] / 255).astype(np.float32)
    known = drop_pixels((12, 15), 0.6, image_seed(0, "tiny", "c.png", 0.6))
    assert row["known"] == int(known.sum()) == 180 - round(0.6 * 180)
    filled = inpaint_with_points(gt * known[..., None], known, method="rbf")
    np.testing.assert_array_equal(filled[known], gt[known])
    assert row["psnr"] == pytest.approx(np_psnr(filled, gt), abs=1e-9)


def test_isp_and_linr_methods(folder, tmp_path, no_shipped_weights):
    from srcli.registry import create, save_checkpoint

    with pytest.raises(UsageError, match="isp-points model ships none yet"):
        bench_quality([str(folder)], models="isp", settings="0.5", task="points", device="cpu")
    model = create("isp-points", point_features=8, point_hidden=16, grid_hidden=16, encoder_width=8,
                   encoder_blocks=1, decoder_hidden=16)
    save_checkpoint(tmp_path / "isp.pt", model)
    _r, result, _p = bench_quality([str(folder)], models="isp", settings="0.5", task="points", device="cpu",
                                   weights={"isp": str(tmp_path / "isp.pt")}, max_images=1)
    assert len(result.rows) == 1 and math.isfinite(result.rows[0]["psnr"])
    _r, result, _p = bench_quality([str(folder)], models="linr", settings="0.5", task="inpaint", device="cpu",
                                   options={"linr_steps": "2"}, max_images=1)
    assert result.rows[0]["model"] == "linr" and math.isfinite(result.rows[0]["psnr"])


def test_inpaint_at_a_scale_matches_an_independent_replay(tmp_path):
    """Super-resolution of an incomplete image: the drop is on the 8-bit MATLAB downscale,
    the method fills and upscales it, the score is against the cropped ground truth."""
    from srcli.resize import imresize_scale

    data = tmp_path / "tiny"
    data.mkdir()
    smooth_png(data / "a.png", 23, 21)
    _report, result, plan = bench_quality([str(data)], models="linear,cubic", settings="0.5", task="inpaint",
                                          options={"scale": "2.5"}, device="cpu")
    assert plan.options["scale"] == 2.5 and len(result.rows) == 2
    gt = (np.asarray(Image.open(data / "a.png"), dtype=np.float64)[:, :, :3] / 255).astype(np.float32)[:20, :20]
    lr = imresize_scale(torch.from_numpy(gt.astype(np.float64)).permute(2, 0, 1)[None], 1 / 2.5, "bicubic")
    lr = (np.floor(lr.clamp(0, 1).numpy() * 255 + 0.5) / 255)[0].transpose(1, 2, 0).astype(np.float32)
    assert lr.shape == (8, 8, 3)
    known = drop_pixels((8, 8), 0.5, image_seed(0, "tiny", "a.png", 0.5))
    filled = inpaint_with_points(lr * known[..., None], known, scale=2.5, method="cubic")
    assert filled.shape == gt.shape
    row = next(r for r in result.rows if r["model"] == "cubic")
    assert row["known"] == int(known.sum()) == 32 and row["size"] == [8, 8]
    assert row["psnr"] == pytest.approx(np_psnr(filled, gt), abs=1e-9)


@pytest.mark.parametrize("scale", [2, 2.5, 3, 3.3, 4, 1.7])
def test_sr_length_gives_sizes_that_agree(scale):
    from srcli.geometry import scaled_length
    from srcli.resize import imresize_output_size

    def fits(m: int) -> bool:
        return scaled_length(imresize_output_size((m, m), 1 / scale)[0], scale) == m

    for n in range(4, 120):
        assert sr_length(n, scale) == max((m for m in range(1, n + 1) if fits(m)), default=0)
    assert sr_length(40, 4) == 40 and sr_length(43, 4) == 40 and sr_length(21, 2.5) == 20
    assert sr_length(13, 3.3) == 13 and sr_length(10, 1.7) == 10


@pytest.mark.parametrize("scale, fragment", [("0.5", "must be a number >= 1"), ("nan", "must be a number >= 1"),
                                             ("20", "too small for --opt scale=20")])
def test_bad_inpaint_scales(folder, scale, fragment):
    with pytest.raises(UsageError, match=fragment):
        bench_quality([str(folder)], models="linear", settings="0.5", task="inpaint", options={"scale": scale},
                      device="cpu")


@pytest.mark.parametrize("task, models, settings, fragment", [
    ("points", "bicubic", "0.5", "unknown method 'bicubic'"),
    ("points", "linr", "0.5", "unknown method 'linr'"),
    ("points", "linear", "0", "bad --ratio list"),
    ("inpaint", "linear", "1", "bad --drop list"),
])
def test_bad_requests(folder, task, models, settings, fragment):
    with pytest.raises(UsageError, match=fragment):
        bench_quality([str(folder)], models=models, settings=settings, task=task, device="cpu")


def test_integer_sampling_above_one_is_a_user_error(folder):
    with pytest.raises(UsageError, match="ratio <= 1"):
        bench_quality([str(folder)], models="linear", settings="1.5", task="points", device="cpu")
