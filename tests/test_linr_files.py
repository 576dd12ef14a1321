"""The file pipeline of `srcli fit-linr` (srcli.tasks.linr_files): specs, task choice, outputs, reports."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image as PILImage

from srcli.errors import UsageError
from srcli.tasks.linr_files import (
    FitLinrOptions,
    ObserveSpec,
    default_output,
    fit_linr_files,
    render_fit_file,
)
from srcli.tasks.linr_observations import parse_observe

TINY = {"steps": 2, "width": 16, "depth": 1, "threads": 1, "device": "cpu", "precision": "fp32"}


def smooth(h: int = 12, w: int = 16) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.clip(np.stack([xx * 12, yy * 13, 100 + 4 * (xx - yy)], -1), 0, 255).astype(np.uint8)


@pytest.fixture()
def photo(tmp_path):
    PILImage.fromarray(smooth()).save(tmp_path / "photo.png")
    return tmp_path / "photo.png"


def ihdr(path) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) straight from a PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"), data[24], data[25]


def opts(**kw) -> FitLinrOptions:
    return FitLinrOptions(**{**TINY, **kw})


def test_default_output_naming():
    assert default_output([ObserveSpec("sr", "in/low.png")], None) == "in/low_linr.png"
    assert default_output([ObserveSpec("auto", "a/b.c.tif"), ObserveSpec("sr", "z.png")], None) == "a/b.c_linr.tif"
    assert default_output([ObserveSpec("auto", "photo.jpg")], "PNG") == "photo_linr.png"
    assert default_output([ObserveSpec("auto", "photo.jpg")], ".webp") == "photo_linr.webp"
    with pytest.raises(UsageError, match="stdin needs -o FILE"):
        default_output([ObserveSpec("auto", "-")], None)


# --------------------------------------------------------------------------- end to end


def test_fit_writes_8_bit_png_of_the_input_size_with_metrics(tmp_path, photo):
    noisy = np.clip(smooth().astype(int) + np.random.default_rng(1).integers(-20, 21, (12, 16, 3)), 0, 255)
    PILImage.fromarray(noisy.astype(np.uint8)).save(tmp_path / "noisy.png")
    seen = []
    report = fit_linr_files([ObserveSpec("auto", str(tmp_path / "noisy.png"))], None,
                            opts(steps=3, eval_every=1, reference=str(photo)), callback=seen.append)
    out = tmp_path / "noisy_linr.png"
    assert ihdr(out) == (16, 12, 8, 2)  # 8-bit RGB, as the input
    row = report["rows"][0]
    assert report["command"] == "fit-linr" and row["output"] == str(out)
    assert row["inputs"] == [{"task": "denoise", "path": str(tmp_path / "noisy.png"), "size": [16, 12], "weight": 1.0,
                              "operator": row["inputs"][0]["operator"]}]
    assert row["output_size"] == [16, 12] and row["canvas"] == [16, 12] and row["steps"] == 3
    assert row["stop_reason"] == "fixed: 3 steps" and row["noise_sigma"] is None
    assert [e["step"] for e in row["curve"]] == [0, 1, 2, 3] and all("mse" not in e for e in row["curve"])
    assert row["final_loss"] == row["curve"][-1]["loss"]
    assert [(e["step"], e["total"]) for e in seen] == [(0, 3), (1, 3), (2, 3), (3, 3)]  # progress entries have "total"
    assert [e["loss"] for e in seen] == [e["loss"] for e in row["curve"]]
    stored = np.asarray(PILImage.open(out), dtype=np.float64) / 255
    clean = smooth().astype(np.float64) / 255
    expected = 10 * math.log10(1 / np.mean((stored - clean) ** 2))
    assert row["psnr"] == pytest.approx(expected, abs=1e-9) and 0 < row["ssim"] < 1
    assert report["summary"]["psnr"] == row["psnr"] and report["summary"]["steps"] == 3
    assert row["best_step"] == max(row["curve"], key=lambda e: e["psnr"])["step"]
    assert json.loads(json.dumps(report)) == report  # JSON-ready


def test_16_bit_grey_png_keeps_16_bits_and_size(tmp_path):
    values = (np.add.outer(np.arange(10), np.arange(14)) * 2000).astype(np.uint16)
    PILImage.fromarray(values).save(tmp_path / "deep.png")
    assert ihdr(tmp_path / "deep.png")[2:] == (16, 0)
    report = fit_linr_files([ObserveSpec("denoise", str(tmp_path / "deep.png"))], str(tmp_path / "o.png"), opts())
    assert ihdr(tmp_path / "o.png") == (14, 10, 16, 0)  # 16-bit grey out
    assert report["rows"][0]["output_size"] == [14, 10]
    eight = fit_linr_files([ObserveSpec("denoise", str(tmp_path / "deep.png"))], str(tmp_path / "o8.png"),
                           opts(bit_depth="8"))
    assert ihdr(tmp_path / "o8.png") == (14, 10, 8, 0) and eight["rows"][0]["steps"] == 2


def test_16_bit_rgb_tiff_and_sr_size(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    values = (smooth(8, 10).astype(np.uint16) * 257)
    tifffile.imwrite(tmp_path / "low.tif", values)
    fit_linr_files([ObserveSpec("auto", str(tmp_path / "low.tif"))], None, opts(scale=1.5))
    out = tifffile.imread(tmp_path / "low_linr.tif")
    assert out.dtype == np.uint16 and out.shape == (12, 15, 3)  # floor(1.5 n + 0.5) per side


def test_rgba_inpaint_writes_rgb_and_size_option(tmp_path):
    alpha = np.full((12, 16), 255, np.uint8)
    alpha[3:6, 4:9] = 0
    PILImage.fromarray(np.dstack([smooth(), alpha]), "RGBA").save(tmp_path / "holes.png")
    report = fit_linr_files([ObserveSpec("auto", str(tmp_path / "holes.png"))], str(tmp_path / "o.png"),
                            opts(size=(20, 9)))
    assert ihdr(tmp_path / "o.png") == (20, 9, 8, 2)  # RGB, no alpha, at W x H = 20 x 9
    row = report["rows"][0]
    assert row["inputs"][0]["task"] == "inpaint" and row["output_size"] == [20, 9] and row["canvas"] == [16, 12]


def test_joint_observations_and_weights(tmp_path, photo):
    PILImage.fromarray(smooth()[::2, ::2].copy()).save(tmp_path / "low.png")
    specs = [ObserveSpec("denoise", str(photo)), parse_observe(f"sr:{tmp_path / 'low.png'}")]
    report = fit_linr_files(specs, str(tmp_path / "j.png"), opts(scale=2.0))
    inputs = report["rows"][0]["inputs"]
    assert [(i["task"], i["size"], i["weight"]) for i in inputs] == [("denoise", [16, 12], 0.1), ("sr", [8, 6], 1.0)]
    assert ihdr(tmp_path / "j.png")[:2] == (16, 12)
    weighted = [ObserveSpec("denoise", str(photo), 0.5), parse_observe(f"sr:{tmp_path / 'low.png'}:2")]
    again = fit_linr_files(weighted, str(tmp_path / "w.png"), opts(scale=2.0))
    assert [i["weight"] for i in again["rows"][0]["inputs"]] == [0.5, 2.0]
    with pytest.raises(UsageError, match="canvases"):  # denoise 16x12 against sr x3 of 8x6
        fit_linr_files(specs, str(tmp_path / "bad.png"), opts(scale=3.0))
    assert not (tmp_path / "bad.png").exists()


def test_save_fit_then_render_at_other_sizes(tmp_path, photo):
    fit = tmp_path / "fit.pt"
    report = fit_linr_files([ObserveSpec("auto", str(photo))], str(tmp_path / "o.png"), opts(save_fit=str(fit)))
    assert report["rows"][0]["fit"] == str(fit) and fit.stat().st_size > 0
    big = render_fit_file(str(fit), str(tmp_path / "big.png"), size=(31, 7), device="cpu", precision="fp32", threads=1)
    assert ihdr(tmp_path / "big.png") == (31, 7, 8, 2)
    assert big["command"] == "fit-linr render" and big["rows"][0]["output_size"] == [31, 7]
    assert big["rows"][0]["fitted_canvas"] == [16, 12]  # [W, H] like output_size
    same = render_fit_file(str(fit), str(tmp_path / "same.png"), device="cpu", precision="fp32", threads=1)
    np.testing.assert_array_equal(np.asarray(PILImage.open(tmp_path / "same.png")),
                                  np.asarray(PILImage.open(tmp_path / "o.png")))  # the fit's own rendering again
    assert same["rows"][0]["output_size"] == [16, 12]
    render_fit_file(str(fit), str(tmp_path / "x2.png"), scale=2.0, bit_depth="16", device="cpu", precision="fp32", threads=1)
    assert ihdr(tmp_path / "x2.png") == (32, 24, 16, 2)
    with pytest.raises(UsageError, match="--size and --scale conflict"):
        render_fit_file(str(fit), str(tmp_path / "c.png"), size=(4, 4), scale=2.0)
    with pytest.raises(UsageError, match="--bit-depth of a render is 8, 16 or 32"):
        render_fit_file(str(fit), str(tmp_path / "c.png"), bit_depth="keep")
    with pytest.raises(UsageError, match="exists; use --overwrite"):
        render_fit_file(str(fit), str(tmp_path / "big.png"), size=(4, 4))
    with pytest.raises(UsageError, match="is one of the inputs"):
        render_fit_file(str(fit), str(fit), overwrite=True)
    assert not (tmp_path / "c.png").exists()


def test_refuses_to_overwrite_inputs_and_existing_outputs(tmp_path, photo):
    before = photo.read_bytes()
    with pytest.raises(UsageError, match="is one of the inputs; srcli never overwrites an input"):
        fit_linr_files([ObserveSpec("auto", str(photo))], str(photo), opts(overwrite=True))
    (tmp_path / "low.png").write_bytes(b"not read")
    with pytest.raises(UsageError, match="is one of the inputs"):
        fit_linr_files([ObserveSpec("auto", str(photo)), ObserveSpec("sr", str(tmp_path / "low.png"))],
                       str(tmp_path / "sub" / ".." / "low.png"), opts(scale=2.0, overwrite=True))
    (tmp_path / "taken.png").write_bytes(b"old")
    with pytest.raises(UsageError, match="taken.png exists; use --overwrite to replace it"):
        fit_linr_files([ObserveSpec("auto", str(photo))], str(tmp_path / "taken.png"), opts())
    with pytest.raises(UsageError, match="--save-fit file .*taken.png exists"):
        fit_linr_files([ObserveSpec("auto", str(photo))], str(tmp_path / "new.png"),
                       opts(save_fit=str(tmp_path / "taken.png")))
    with pytest.raises(UsageError, match="is a folder"):
        fit_linr_files([ObserveSpec("auto", str(photo))], str(tmp_path), opts())
    with pytest.raises(UsageError, match="nothing to fit"):
        fit_linr_files([], str(tmp_path / "new.png"), opts())
    assert photo.read_bytes() == before and (tmp_path / "taken.png").read_bytes() == b"old"
    assert not (tmp_path / "new.png").exists()
    fit_linr_files([ObserveSpec("auto", str(photo))], str(tmp_path / "taken.png"), opts(overwrite=True))
    assert ihdr(tmp_path / "taken.png") == (16, 12, 8, 2)
