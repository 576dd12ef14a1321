"""CLI tests for `srcli inpaint` (a throwaway Typer app holds the command)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from srcli.cli.inpaint import inpaint_command

app = typer.Typer()
app.command("inpaint")(inpaint_command)


@app.callback()
def _group() -> None:
    """A group, as in srcli's app: `inpaint` is a sub-command."""
runner = CliRunner()


def invoke(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def smooth(h: int = 20, w: int = 24) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.clip(np.stack([xx * 9, yy * 11, 128 + 3 * (xx - yy)], -1), 0, 255).astype(np.uint8)


@pytest.fixture()
def photo(tmp_path):
    Image.fromarray(smooth()).save(tmp_path / "photo.png")
    return tmp_path / "photo.png"


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.float64)


def np_psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * math.log10(255.0**2 / np.mean((a - b) ** 2))


def holes() -> np.ndarray:
    missing = np.zeros((20, 24), bool)
    missing[5:9, 6:12] = True
    missing[14, 3] = True
    return missing


def test_mask_file_white_is_missing_and_known_pixels_are_kept(tmp_path, photo):
    damaged = smooth()
    damaged[holes()] = 0
    Image.fromarray(damaged).save(tmp_path / "damaged.png")
    Image.fromarray((holes() * 255).astype(np.uint8)).save(tmp_path / "mask.png")
    noise = np.random.default_rng(1).integers(-9, 9, (20, 24, 3))
    Image.fromarray(np.clip(smooth() + noise, 0, 255).astype(np.uint8)).save(tmp_path / "ref.png")
    result = invoke("inpaint", tmp_path / "damaged.png", "--mask", tmp_path / "mask.png", "--method", "linear",
                    "--reference", tmp_path / "ref.png", "--json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["rows"][0]
    out = pixels(tmp_path / "damaged_inpainted.png")  # default name
    assert row["known_from"] == "mask" and row["missing"] == 25 and row["known"] == 480 - 25
    np.testing.assert_array_equal(out[~holes()], smooth()[~holes()])
    assert np.abs(out[holes()] - smooth()[holes()]).max() <= 1  # a linear ramp is filled exactly (rounding)
    assert row["psnr"] == pytest.approx(np_psnr(out, pixels(tmp_path / "ref.png")), abs=1e-9)
    inverted = invoke("inpaint", tmp_path / "damaged.png", "--mask", tmp_path / "mask.png", "--invert-mask",
                      "-o", tmp_path / "inv.png", "--json")
    assert inverted.exit_code == 0 and json.loads(inverted.stdout)["rows"][0]["known"] == 25


def test_alpha_zero_is_missing_and_the_output_has_no_alpha(tmp_path):
    alpha = np.where(holes(), 0, 255).astype(np.uint8)
    Image.fromarray(np.dstack([smooth(), alpha]), "RGBA").save(tmp_path / "a.png")
    result = invoke("inpaint", tmp_path / "a.png", "-o", tmp_path / "o.png", "--method", "nearest", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"][0]["known_from"] == "alpha"
    out = Image.open(tmp_path / "o.png")
    assert out.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(out)[~holes()], smooth()[~holes()])


def test_missing_value_marks_pixels(tmp_path):
    damaged = smooth()
    damaged[holes()] = (255, 0, 255)
    Image.fromarray(damaged).save(tmp_path / "d.png")
    result = invoke("inpaint", tmp_path / "d.png", "--missing-value", "255,0,255", "--method", "cubic", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"][0]["missing"] == 25
    out = pixels(tmp_path / "d_inpainted.png")
    np.testing.assert_array_equal(out[~holes()], smooth()[~holes()])
    assert np.abs(out[holes()] - smooth()[holes()]).max() <= 2


def test_drop_reports_metrics_against_the_input(tmp_path):
    rng = np.random.default_rng(0)
    noisy = np.clip(smooth().astype(int) + rng.integers(-30, 30, (20, 24, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(tmp_path / "n.png")
    result = invoke("inpaint", tmp_path / "n.png", "--drop", "0.5", "--seed", "7", "--method", "linear", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    row = report["rows"][0]
    out = pixels(tmp_path / "n_inpainted.png")
    assert row["reference"] == "input" and row["missing"] == 240
    assert row["psnr"] == pytest.approx(np_psnr(out, noisy.astype(np.float64)), abs=1e-9) and 0 < row["ssim"] < 1
    assert report["summary"]["mean_psnr"] == pytest.approx(row["psnr"])
    assert int((out == noisy).all(axis=2).sum()) >= 240  # the kept half is exact
    again = invoke("inpaint", tmp_path / "n.png", "--drop", "0.5", "--seed", "7", "--method", "linear", "--json",
                   "-o", tmp_path / "again.png")
    assert json.loads(again.stdout)["rows"][0]["psnr"] == row["psnr"]


def test_scale_linr_and_folder_batch(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(np.dstack([smooth(), np.where(holes(), 0, 255).astype(np.uint8)]), "RGBA").save(folder / name)
    result = invoke("inpaint", folder, "-o", tmp_path / "out", "--scale", "1.5", "--method", "linear", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_inpainted.png", "b_inpainted.png"]
    assert Image.open(tmp_path / "out" / "a_inpainted.png").size == (36, 30)
    linr = invoke("inpaint", folder / "a.png", "--method", "linr", "--steps", "2", "-o", tmp_path / "l.png", "--json")
    assert linr.exit_code == 0, linr.output
    assert json.loads(linr.stdout)["method"] == "linr"
    np.testing.assert_array_equal(pixels(tmp_path / "l.png")[~holes()], smooth()[~holes()])


@pytest.mark.parametrize("args, fragment", [
    (["--mask", "small.png"], "the mask is 10x8, the image 24x20"),
    ([], "nothing marks the missing pixels"),
    (["--drop", "0.5", "--missing-value", "0"], "--missing-value and --drop conflict"),
    (["--drop", "1.0"], "--drop is the fraction of pixels to drop"),
    (["--drop", "0.5", "--method", "magic"], "unknown --method 'magic'"),
    (["--drop", "0.5", "--method", "linear", "--steps", "5"], "--steps is the fit length of --method linr"),
    (["--missing-value", "red"], "--missing-value takes one number"),
    (["--invert-mask"], "--invert-mask needs --mask"),
    (["--drop", "0.5", "--reference", "small.png"], "the reference is 10x8"),
    (["--drop", "0.5", "--scale", "0"], "--scale must be a positive"),
    (["--mask", "small.png", "--drop", "0.2"], "--mask and --drop conflict"),
])
def test_bad_input_exit_2_without_output(tmp_path, photo, args, fragment):
    Image.fromarray(np.zeros((8, 10), np.uint8)).save(tmp_path / "small.png")
    args = [tmp_path / a if a == "small.png" else a for a in args]
    result = invoke("inpaint", photo, "-o", tmp_path / "o.png", *args)
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "o.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png", "small.png"]


def test_no_output_replaces_a_file_the_run_reads(tmp_path, photo):
    mask = tmp_path / "mask.png"
    Image.fromarray(np.where(holes(), 255, 0).astype(np.uint8)).save(mask)
    before = mask.read_bytes()
    clash = invoke("inpaint", photo, "--mask", mask, "-o", mask, "--overwrite", "--method", "linear")
    assert clash.exit_code == 2 and f"output {mask} is the --mask file; srcli never overwrites an input" in clash.stderr
    assert mask.read_bytes() == before
    stdin_twice = invoke("inpaint", "-", "--mask", "-", "-o", tmp_path / "o.png", input=photo.read_bytes())
    assert stdin_twice.exit_code == 2 and "--mask and an input both read stdin (-)" in stdin_twice.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.png", "photo.png"]


def test_unknown_output_formats_and_huge_outputs_are_refused_without_running(tmp_path, photo):
    bad = invoke("inpaint", photo, "--drop", "0.5", "--method", "linr", "--steps", "2", "-o", tmp_path / "new" / "o.xyz")
    assert bad.exit_code == 2 and "unsupported image format '.xyz'" in bad.stderr and "seconds" not in bad.output
    huge = invoke("inpaint", photo, "--drop", "0.5", "--scale", "100000", "--method", "linear", "-o", tmp_path / "b.png")
    assert huge.exit_code == 2 and "would be 2400000x2000000 pixels, over the limit of 200,000,000" in huge.stderr
    assert "MemoryError" not in huge.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]  # no folder made for the refused output


def test_isp_without_shipped_weights_asks_for_weights(tmp_path, photo, no_shipped_weights):
    result = invoke("inpaint", photo, "-o", tmp_path / "o.png", "--drop", "0.5", "--method", "isp")
    assert result.exit_code == 2 and "isp-points model ships none yet" in result.stderr
    assert "--weights" in result.stderr and not (tmp_path / "o.png").exists()


def test_too_few_known_pixels(tmp_path, photo):
    Image.fromarray(np.full((20, 24), 255, np.uint8)).save(tmp_path / "all.png")
    result = invoke("inpaint", photo, "--mask", tmp_path / "all.png", "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and "only 0 known pixel(s)" in result.stderr
    assert not (tmp_path / "o.png").exists()
