"""CLI tests for `srcli fit-linr` (fit, the default sub-command, and render) through srcli's app."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from srcli.cli.app import app

runner = CliRunner()
CPU = ["--threads", "1", "--device", "cpu", "--precision", "fp32"]
TINY = ["--steps", "2", "--width", "16", "--depth", "1", *CPU]


def invoke(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def smooth(h: int = 12, w: int = 16) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.clip(np.stack([xx * 12, yy * 13, 100 + 4 * (xx - yy)], -1), 0, 255).astype(np.uint8)


@pytest.fixture()
def photo(tmp_path):
    Image.fromarray(smooth()).save(tmp_path / "photo.png")
    return tmp_path / "photo.png"


@pytest.fixture()
def noisy(tmp_path):
    noise = np.random.default_rng(3).integers(-25, 26, (12, 16, 3))
    Image.fromarray(np.clip(smooth().astype(int) + noise, 0, 255).astype(np.uint8)).save(tmp_path / "noisy.png")
    return tmp_path / "noisy.png"


def size_of(path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


def test_denoise_default_name_json_keys(tmp_path, noisy):
    result = invoke("fit-linr", noisy, *TINY, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    out = tmp_path / "noisy_linr.png"
    assert size_of(out) == (16, 12) and Image.open(out).mode == "RGB"
    assert report["command"] == "fit-linr" and report["device"] == "cpu" and report["threads"] == 1
    row = report["rows"][0]
    assert {"inputs", "output", "output_size", "canvas", "steps", "seconds", "stop_reason", "best_step", "best_psnr",
            "noise_sigma", "final_loss", "curve"} <= set(row)
    assert row["inputs"][0]["task"] == "denoise" and row["output"] == str(out) and row["steps"] == 2
    assert [e["step"] for e in row["curve"]] == [0, 2] and row["final_loss"] == row["curve"][-1]["loss"]
    assert set(report["summary"]) == {"steps", "seconds", "stop_reason", "best_step", "psnr", "ssim"}
    assert result.stderr == ""  # no bar when stderr is not a terminal


def test_explicit_fit_subcommand_is_the_same(tmp_path, photo):
    a = invoke("fit-linr", "fit", photo, *TINY, "-o", tmp_path / "a.png")
    b = invoke("fit-linr", photo, *TINY, "-o", tmp_path / "b.png")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()  # same seed, same fit


@pytest.mark.parametrize("scale", [2.0, 1.7, 0.6])
def test_sr_scale_gives_the_rounded_size(tmp_path, photo, scale):
    result = invoke("fit-linr", photo, "--scale", scale, *TINY, "-o", tmp_path / "sr.png", "--json")
    assert result.exit_code == 0, result.output
    expected = (math.floor(scale * 16 + 0.5), math.floor(scale * 12 + 0.5))
    assert size_of(tmp_path / "sr.png") == expected
    row = json.loads(result.stdout)["rows"][0]
    assert row["inputs"][0]["task"] == "sr" and row["output_size"] == list(expected) == row["canvas"]


def test_size_option_renders_at_w_by_h(tmp_path, photo):
    result = invoke("fit-linr", photo, "--size", "23x9", *TINY, "-o", tmp_path / "s.png", "--json")
    assert result.exit_code == 0, result.output
    assert size_of(tmp_path / "s.png") == (23, 9)
    row = json.loads(result.stdout)["rows"][0]
    assert row["output_size"] == [23, 9] and row["canvas"] == [16, 12]


def test_joint_observe_and_report_file(tmp_path, noisy):
    Image.fromarray(smooth()[::2, ::2].copy()).save(tmp_path / "low.png")
    report = tmp_path / "r.json"
    result = invoke("fit-linr", "--observe", f"sr:{tmp_path / 'low.png'}", "--observe", f"denoise:{noisy}:0.3",
                    "--scale", "2", *TINY, "-o", tmp_path / "j.png", "--report", report)
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and size_of(tmp_path / "j.png") == (16, 12)
    data = json.loads(report.read_text())
    assert [(i["task"], i["size"], i["weight"]) for i in data["rows"][0]["inputs"]] == [
        ("sr", [8, 6], 1.0), ("denoise", [16, 12], 0.3)]
    main = invoke("fit-linr", noisy, "--task", "denoise", "--observe", f"sr:{tmp_path / 'low.png'}", "--scale", "2",
                  *TINY, "--report", tmp_path / "r.md")
    assert main.exit_code == 0, main.output
    assert (tmp_path / "noisy_linr.png").exists() and (tmp_path / "r.md").read_text().startswith("# srcli fit-linr")


def test_noise_level_stop_takes_sigma_on_the_255_scale(tmp_path, noisy):
    result = invoke("fit-linr", noisy, "--stop", "noise-level", "--noise-sigma", "255", *TINY, "-o", tmp_path / "n.png",
                    "--json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["rows"][0]
    assert row["noise_sigma"] == pytest.approx(1.0) and row["steps"] == 0 and "reached" in row["stop_reason"]
    never = invoke("fit-linr", noisy, "--stop", "noise-level", "--noise-sigma", "0", *TINY, "-o", tmp_path / "m.png",
                   "--json")
    row = json.loads(never.stdout)["rows"][0]
    assert row["noise_sigma"] == 0 and row["steps"] == 2 and "not reached" in row["stop_reason"]


def test_crop_fits_random_windows_and_reports_them(tmp_path, photo):
    result = invoke("fit-linr", photo, "--kernel", "gauss:3:1", "--crop", "6", *TINY, "-o", tmp_path / "d.png", "--json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["rows"][0]
    assert row["crop"] == 6 and row["pixels_per_step"] is None and size_of(tmp_path / "d.png") == (16, 12)
    whole = invoke("fit-linr", photo, "--kernel", "gauss:3:1", *TINY, "-o", tmp_path / "w.png", "--json")
    assert json.loads(whole.stdout)["rows"][0]["pixels_per_step"] == 12 * 16
    assert json.loads(whole.stdout)["rows"][0]["compiled"] is False  # auto: too small to pay for compiling
    assert (tmp_path / "d.png").read_bytes() != (tmp_path / "w.png").read_bytes()


def test_stdout_image(tmp_path, photo):
    result = invoke("fit-linr", photo, *TINY, "-o", "-")
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_render_subcommand(tmp_path, photo):
    fit = tmp_path / "fit.pt"
    assert invoke("fit-linr", photo, *TINY, "-o", tmp_path / "o.png", "--save-fit", fit).exit_code == 0
    result = invoke("fit-linr", "render", fit, "--size", "40x30", "-o", tmp_path / "big.png", *CPU, "--json")
    assert result.exit_code == 0, result.output
    assert size_of(tmp_path / "big.png") == (40, 30)
    row = json.loads(result.stdout)["rows"][0]
    assert row["output_size"] == [40, 30] and row["fitted_canvas"] == [16, 12] and row["fit"] == str(fit)
    scaled = invoke("fit-linr", "render", fit, "--scale", "0.5", "-o", tmp_path / "half.png", *CPU)
    assert scaled.exit_code == 0 and size_of(tmp_path / "half.png") == (8, 6)
    again = invoke("fit-linr", "render", fit, "--size", "4x4", "-o", tmp_path / "big.png")
    assert again.exit_code == 2 and "exists; use --overwrite" in again.stderr and size_of(tmp_path / "big.png") == (40, 30)
    both = invoke("fit-linr", "render", fit, "--size", "4x4", "--scale", "2", "-o", tmp_path / "c.png")
    assert both.exit_code == 2 and "--size and --scale conflict" in both.stderr and not (tmp_path / "c.png").exists()


def test_render_refuses_files_that_are_not_fits_and_bad_formats_before_rendering(tmp_path, photo):
    state = tmp_path / "fit.state"
    assert invoke("fit-linr", photo, *TINY, "-o", tmp_path / "o.png", "--checkpoint", state).exit_code == 0
    cases = [(photo, "o1.png", "is not a srcli checkpoint (PyTorch cannot read it as plain weights)"),
             (state, "o2.png", "is a srcli-linr-state/1 file, not a srcli checkpoint (a model or a --save-fit file)")]
    for fit, name, message in cases:
        result = invoke("fit-linr", "render", fit, "-o", tmp_path / name, *CPU)
        assert result.exit_code == 2 and message in result.stderr and len(result.stderr.splitlines()) == 1
    fit = tmp_path / "fit.pt"
    assert invoke("fit-linr", photo, *TINY, "-o", tmp_path / "o3.png", "--save-fit", fit).exit_code == 0
    result = invoke("fit-linr", "render", fit, "-o", tmp_path / "big.xyz", *CPU)
    assert result.exit_code == 2 and "unsupported image format '.xyz'" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.pt", "fit.state", "o.png", "o3.png", "photo.png"]


def test_a_report_never_replaces_a_file_the_fit_reads(tmp_path, photo):
    kernel = tmp_path / "k.csv"
    kernel.write_text("1,2,1\n2,4,2\n1,2,1\n")
    result = invoke("fit-linr", photo, "--kernel", kernel, *TINY, "-o", tmp_path / "o.png", "--report", kernel)
    assert result.exit_code == 2 and f"--report {kernel} is also input {kernel}" in result.stderr
    assert kernel.read_text() == "1,2,1\n2,4,2\n1,2,1\n" and not (tmp_path / "o.png").exists()


def test_an_all_transparent_image_names_its_alpha_channel(tmp_path):
    Image.fromarray(np.zeros((6, 7, 4), np.uint8), "RGBA").save(tmp_path / "clear.png")
    result = invoke("fit-linr", tmp_path / "clear.png", *TINY, "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and "the alpha channel (0) marks every pixel missing" in result.stderr


def test_help_texts():
    expected = {("fit-linr", "--help"): "render", ("fit-linr", "render", "--help"): "--size",
                ("fit-linr", "fit", "--help"): "--observe"}
    for args, word in expected.items():
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.stdout and word in result.stdout


@pytest.mark.parametrize("args, fragment", [
    (["{tmp}/missing.png"], "cannot read {tmp}/missing.png"),
    (["{photo}", "--observe", "sr"], "--observe takes TASK:PATH[:WEIGHT]"),
    (["{photo}", "--observe", "blur:{photo}"], "got 'blur:{photo}'"),
    (["{photo}", "--observe", "denoise:{photo}:-2"], "--observe weight must be a finite number >= 0"),
    (["{photo}", "--task", "upscale"], "unknown --task 'upscale'; use one of auto, denoise, sr, inpaint, deblur"),
    (["{photo}", "--scale", "2", "--stop", "noise-level"], "--stop noise-level needs a denoise observation"),
    (["{photo}", "--stop", "best-reference"], "--stop best-reference needs --reference"),
    (["{photo}", "--stop", "early"], "unknown stop rule 'early'"),
    (["{photo}", "--json", "-o", "-"], "--json and -o - both use stdout"),
    (["{photo}", "--kernel", "gauss:5"], "is neither gauss:SIZE:SIGMA, box:SIZE nor an existing file"),
    (["{photo}", "--kernel", "gauss:x:1"], "bad blur kernel 'gauss:x:1' (invalid literal"),  # ":x:" is no emoji
    (["{photo}", "--kernel", "gauss:5:0"], "sigma must be positive"),
    (["{photo}", "--task", "sr"], "an sr observation needs --scale"),
    (["{photo}", "--task", "inpaint"], "nothing marks the missing pixels"),
    (["{photo}", "--scale", "-1"], "--scale must be a positive number"),
    (["{photo}", "--size", "20"], "--size: size must look like WIDTHxHEIGHT"),
    (["{photo}", "--reference", "{small}"], "the reference is 8x5 with 1 channel(s); it must match the output, 16x12 with 3 channel(s)"),
    (["{photo}", "--mask", "{small}"], "the mask is 8x5, the image 16x12"),
    (["{photo}", "--report", "{tmp}/r.txt"], "must end in .json, .csv or .md"),
    (["--observe", "sr:{photo}"], "an sr observation needs --scale"),
    (["{photo}", "--scale", "2", "--crop", "8"], "random crops work for denoise, inpaint and deblur"),
    (["{photo}", "--crop", "8", "--batch", "20"], "--batch and --crop conflict"),
    (["{photo}", "--crop", "0"], "--crop must be at least 1, got 0"),
    (["{photo}", "--eval-every", "0"], "--eval-every must be at least 1, got 0"),
    (["{photo}", "--lr", "0"], "--lr must be a positive number"),
    # outputs that would fail or clash only after the fit are refused before it
    (["{photo}", "--save-fit", "{tmp}/out.png"], "-o and --save-fit name the same file"),
    (["{photo}", "--save-fit", "{tmp}/r.json", "--report", "{tmp}/r.json"], "--save-fit and --report name the same file"),
    (["{photo}", "--save-fit", "-"], "--save-fit needs a file, not -"),
    (["{photo}", "--save-fit", "{tmp}/nodir/fit.pt"], "--save-fit {tmp}/nodir/fit.pt: folder {tmp}/nodir does not exist"),
    (["{photo}", "-o", "{tmp}/out.xyz"], "unsupported image format '.xyz'"),
    (["{photo}", "--format", "gif"], "unsupported image format 'gif'"),
    (["{photo}", "--size", "99999x99999"], "the output would be 99999x99999 pixels, over the limit of 200,000,000"),
    (["{photo}", "--scale", "1e6"], "the fitted canvas would be 16000000x12000000 pixels"),
    # corruption options no observation takes
    (["--observe", "denoise:{photo}", "--kernel", "gauss:5:1"], "--kernel applies to deblur observations"),
    (["{photo}", "--scale", "2", "--mask", "{small}"], "--mask applies to inpaint observations"),
    (["--observe", "denoise:{photo}", "--scale", "2"], "--scale applies to sr observations"),
    (["{photo}", "--noise-sigma", "25"], "--noise-sigma sets the level of --stop noise-level"),
    (["{photo}", "--stop", "noise-level", "--noise-sigma", "-5"], "--noise-sigma must be a number >= 0 on the 0-255 scale, got -5"),
    (["{photo}", "--kernel", "box:0"], "kernel size must be an integer from 1 to 1023, got 0"),
    (["{photo}", "--kernel", "box:99999"], "kernel size must be an integer from 1 to 1023, got 99999"),
    (["{photo}", "--compile", "maybe"], "unknown compile mode 'maybe'; use one of auto, on, off"),
])
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, photo, args, fragment):
    Image.fromarray(np.zeros((5, 8), np.uint8)).save(tmp_path / "small.png")
    subs = {"tmp": tmp_path, "photo": photo, "small": tmp_path / "small.png"}
    output = [] if "-o" in args else ["-o", tmp_path / "out.png"]
    result = invoke("fit-linr", *[a.format(**subs) for a in args], *TINY, *output)
    assert result.exit_code == 2, result.output
    assert fragment.format(**subs) in result.stderr and "Traceback" not in result.output
    assert result.stderr.startswith("srcli: error: ") and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png", "small.png"]


def test_existing_output_and_input_as_output(tmp_path, photo):
    (tmp_path / "o.png").write_bytes(b"old")
    result = invoke("fit-linr", photo, *TINY, "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and "exists; use --overwrite to replace it" in result.stderr
    assert (tmp_path / "o.png").read_bytes() == b"old"
    same = invoke("fit-linr", photo, *TINY, "-o", photo, "--overwrite")
    assert same.exit_code == 2 and "srcli never overwrites an input" in same.stderr
    replaced = invoke("fit-linr", photo, *TINY, "-o", tmp_path / "o.png", "--overwrite")
    assert replaced.exit_code == 0 and size_of(tmp_path / "o.png") == (16, 12)


@pytest.mark.parametrize("option", ["--mask", "--reference"])
def test_overwrite_never_replaces_side_inputs(tmp_path, photo, option):
    side = tmp_path / "side.png"
    Image.fromarray(np.zeros((12, 16), np.uint8)).save(side)
    before = side.read_bytes()
    result = invoke("fit-linr", photo, *TINY, option, side, "-o", side, "--overwrite")
    assert result.exit_code == 2 and "srcli never overwrites an input" in result.stderr
    assert side.read_bytes() == before


def test_inpaint_without_mask_names_fit_linr_options(tmp_path, photo):
    result = invoke("fit-linr", photo, *TINY, "--task", "inpaint", "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and "give --mask or --missing-value" in result.stderr
    assert "--drop" not in result.stderr


def test_checkpoint_makes_a_rerun_return_the_finished_fit(tmp_path, noisy):
    state, out = tmp_path / "fit.state", tmp_path / "out.png"
    first = invoke("fit-linr", noisy, *TINY, "--checkpoint", state, "--checkpoint-every", "1", "-o", out, "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["rows"][0]["checkpoint"] == str(state) and state.is_file()
    pixels = np.asarray(Image.open(out))
    again = invoke("fit-linr", noisy, *TINY, "--checkpoint", state, "-o", out, "--overwrite", "--json")
    assert again.exit_code == 0, again.output
    assert np.array_equal(np.asarray(Image.open(out)), pixels)
    row = json.loads(again.stdout)["rows"][0]
    assert row["seconds"] == json.loads(first.stdout)["rows"][0]["seconds"] and row["reused_state"] is True
    other = invoke("fit-linr", noisy, *TINY, "--seed", "1", "--checkpoint", state, "-o", tmp_path / "o2.png")
    assert other.exit_code == 2 and "holds the state of another fit" in other.stderr
    assert not (tmp_path / "o2.png").exists()


@pytest.mark.parametrize("args,message", [
    (["--checkpoint", "{out}"], "-o and --checkpoint name the same file"),
    (["--checkpoint", "{noisy}"], "is also an input file"),
    (["--checkpoint", "-"], "needs a file or folder"),
    (["--checkpoint", "{tmp}/nowhere/x.state"], "does not exist"),
    (["--checkpoint", "{tmp}/x.state", "--checkpoint-every", "0"], "--checkpoint-every must be at least 1"),
    (["--checkpoint", "{tmp}/newdir/"], "folder {tmp}/newdir does not exist"),
    (["--checkpoint", "{tmp}/r.json", "--report", "{tmp}/r.json"], "--checkpoint and --report name the same file"),
])
def test_bad_checkpoint_options(tmp_path, noisy, args, message):
    out = tmp_path / "out.png"
    filled = [a.format(out=out, noisy=noisy, tmp=tmp_path) for a in args]
    result = invoke("fit-linr", noisy, *TINY, *filled, "-o", out)
    assert result.exit_code == 2 and message.format(tmp=tmp_path) in result.stderr and "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize("chunk,expected", [("auto", None), ("0", None), ("40", 40)])
def test_chunk_option(tmp_path, noisy, chunk, expected):
    result = invoke("fit-linr", noisy, *TINY, "--chunk", chunk, "-o", tmp_path / "out.png", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"][0]["chunk"] == expected


@pytest.mark.parametrize("chunk", ["-5", "many", "\u00b2", "1.5"])
def test_bad_chunk_option(tmp_path, noisy, chunk):
    result = invoke("fit-linr", noisy, *TINY, "--chunk", chunk, "-o", tmp_path / "out.png")
    assert result.exit_code == 2 and "--chunk takes auto, 0" in result.stderr and not (tmp_path / "out.png").exists()
