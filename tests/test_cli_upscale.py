"""CLI tests for `srcli upscale`: sizes, batches, streams, reports and bad input."""

from __future__ import annotations

import json
import os
import shlex

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import write_png
from srcli.cli.app import app

runner = CliRunner()


def invoke(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def test_scale_and_size_give_exact_sizes(tmp_path, png):
    result = invoke("upscale", png, "--scale", "2.5", "-o", tmp_path / "a.png", "--model", "bicubic")
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "a.png").size == (40, 30)
    result = invoke("upscale", png, "--size", "33x21", "-o", tmp_path / "b.png", "--model", "bicubic")
    assert result.exit_code == 0 and Image.open(tmp_path / "b.png").size == (33, 21)
    result = invoke("upscale", png, "--width", "24", "-o", tmp_path / "c.png", "--model", "bicubic")
    assert Image.open(tmp_path / "c.png").size == (24, 18)


def test_bicubic_output_matches_library(tmp_path, png):
    import torch

    from srcli.resize import resize

    invoke("upscale", png, "--scale", "2", "-o", tmp_path / "o.png", "--model", "bicubic")
    src = torch.from_numpy(np.asarray(Image.open(png), dtype=np.float32) / 255).permute(2, 0, 1)[None]
    expected = (resize(src.double(), (24, 32), kernel="bicubic").clamp(0, 1) * 255).round()[0].permute(1, 2, 0).numpy()
    got = np.asarray(Image.open(tmp_path / "o.png"), dtype=np.float64)
    assert np.abs(got - expected).max() <= 1


def test_folder_batch_with_report_and_json(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.png", "b.png", "sub/c.png"):
        write_png(folder / name)
    result = invoke("upscale", folder, "-r", "-o", tmp_path / "out", "--scale", "2", "--model", "bicubic",
                    "--report", tmp_path / "r.csv", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["done"] == 3 and data["precision"] == "fp32" and data["device"] == "cpu"  # bicubic: fp32
    assert {r["output_size"][0] for r in data["rows"]} == {32}
    assert (tmp_path / "out" / "sub" / "c_x2.png").is_file()
    assert (tmp_path / "r.csv").read_text().count("\n") == 4


def test_reports_carry_the_exact_command_line(tmp_path, png):
    from srcli.cli.common import with_invocation

    args = ["upscale", str(png), "-s", "2", "-m", "bicubic", "-o", str(tmp_path / "o.png"), "--report",
            str(tmp_path / "r.json"), "--json"]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    on_disk = json.loads((tmp_path / "r.json").read_text())
    assert on_disk["argv"] == json.loads(result.stdout)["argv"] == shlex.join(["srcli", *args])
    assert list(on_disk)[:2] == ["command", "argv"]
    assert with_invocation({"command": "x"}) == {"command": "x"}  # forgotten once the call returns
    args[-3:] = ["--report", str(tmp_path / "r.md"), "--overwrite"]
    assert invoke(*args).exit_code == 0
    assert f"- argv: {shlex.join(['srcli', *args])}" in (tmp_path / "r.md").read_text().splitlines()


def test_weights_alone_pick_their_model_and_other_tasks_are_refused(tmp_path, png):
    import torch

    from srcli.registry import create, save_checkpoint

    torch.manual_seed(0)
    liif = create("liif", encoder_args={"n_feats": 8, "n_blocks": 1}, hidden_dims=[16])
    save_checkpoint(tmp_path / "liif.pt", liif, {})
    result = invoke("upscale", png, "-s", "2", "--weights", tmp_path / "liif.pt", "-o", tmp_path / "o.png", "--json",
                    "--device", "cpu", "--threads", "1")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == "liif"
    save_checkpoint(tmp_path / "siren.pt", create("siren", width=8, depth=1), {})
    for args in (["--model", "isp-points"], ["--model", tmp_path / "siren.pt"]):
        other = invoke("upscale", png, "-s", "2", *args, "-o", tmp_path / "x.png", "--device", "cpu")
        assert other.exit_code == 2 and "model, not an upscaler; see `srcli models --task upscale`" in other.stderr
    assert not (tmp_path / "x.png").exists()


def test_batch_goes_on_after_a_bad_file(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_png(folder / "a.png")
    (folder / "b.png").write_bytes(b"garbage")
    write_png(folder / "c.png")
    result = invoke("upscale", folder, "-o", tmp_path / "out", "--scale", "2", "--model", "bicubic")
    assert result.exit_code == 1
    assert "b.png" in result.stderr and "Traceback" not in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_x2.png", "c_x2.png"]


def test_skip_existing_and_overwrite(tmp_path, png):
    out = tmp_path / "o.png"
    out.write_bytes(b"old")
    assert invoke("upscale", png, "-s", "2", "-o", out, "-m", "bicubic", "--skip-existing").exit_code == 0
    assert out.read_bytes() == b"old"
    assert invoke("upscale", png, "-s", "2", "-o", out, "-m", "bicubic", "--overwrite").exit_code == 0
    assert Image.open(out).size == (32, 24)


def test_stdin_to_stdout(tmp_path, png):
    result = runner.invoke(app, ["upscale", "-", "-o", "-", "--format", "png", "-s", "2", "-m", "bicubic"],
                           input=png.read_bytes())
    assert result.exit_code == 0, result.stderr
    (tmp_path / "piped.png").write_bytes(result.stdout_bytes)
    assert Image.open(tmp_path / "piped.png").size == (32, 24)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA"])
def test_channels_are_kept(tmp_path, mode):
    src = write_png(tmp_path / f"{mode}.png", mode=mode)
    assert invoke("upscale", src, "-s", "1.5", "-o", tmp_path / "o.png", "-m", "bicubic").exit_code == 0
    assert Image.open(tmp_path / "o.png").mode == mode


def test_version():
    from srcli import __version__

    assert invoke("--version").stdout.strip() == f"srcli {__version__}"


def _bad_cases(tmp_path, png):
    """(args, expected exit code, message fragment) for bad input; the output is tmp_path/out*."""
    out = tmp_path / "out.png"
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(png.read_bytes()[:60])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "text.png"
    text.write_text("hello")
    gif = tmp_path / "anim.xyz"
    gif.write_bytes(b"GIF89a")
    afile = tmp_path / "afile"
    afile.write_text("x")
    folder = tmp_path / "folder"
    folder.mkdir()
    write_png(folder / "a.png")
    nofolder = tmp_path / "noimages"
    nofolder.mkdir()
    exists = tmp_path / "exists.png"
    exists.write_bytes(b"keep")
    badckpt = tmp_path / "bad.pt"
    badckpt.write_bytes(b"nope")
    big = write_png(tmp_path / "big.png", height=40, width=40)
    return [
        ([tmp_path / "missing.png", "-s", "2", "-o", out], 2, "input not found"),
        ([png, "-s", "0", "-o", out], 2, "positive"),
        ([png, "-s", "-1", "-o", out], 2, "positive"),
        ([png, "-s", "abc", "-o", out], 2, "'--scale'"),
        ([png, "-s", "nan", "-o", out], 2, "positive"),
        ([png, "-s", "2", "--size", "10x10", "-o", out], 2, "conflict"),
        ([png, "-o", out], 2, "give one of"),
        ([png, "--size", "100", "-o", out], 2, "WIDTHxHEIGHT"),
        ([png, "--size", "0x5", "-o", out], 2, "positive"),
        ([png, "--width", "0", "-o", out], 2, "positive"),
        ([folder, "-s", "2", "-o", afile], 2, "is a file"),
        ([trunc, "-s", "2", "-o", out], 2, "trunc.png"),
        ([empty, "-s", "2", "-o", out], 2, "empty.png"),
        ([text, "-s", "2", "-o", out], 2, "text.png"),
        ([gif, "-s", "2", "-o", out], 2, "anim.xyz"),
        ([png, "-s", "2", "-o", exists], 2, "--overwrite"),
        ([png, "-s", "2", "-o", out, "--overwrite", "--skip-existing"], 2, "conflict"),
        ([png, "-s", "100", "-o", out, "--max-pixels", "10000"], 2, "--max-pixels"),
        ([big, "-s", "1", "-o", out, "--max-pixels", "1000"], 2, "raise --max-pixels if you trust it"),
        ([png, "-s", "2", "-o", out, "-m", "nosuchmodel"], 2, "unknown model"),
        ([png, "-s", "2", "-o", out, "-m", "liif"], 2, "--weights"),
        ([png, "-s", "2", "-o", out, "--device", "gpu"], 2, "unknown device"),
        ([png, "-s", "2", "-o", out, "--precision", "fp16", "--device", "cpu"], 2, "fp16"),
        ([png, "-s", "2", "-o", out, "--format", "gif"], 2, "--format"),
        ([png, "-s", "2", "-o", out, "--bit-depth", "12"], 2, "--bit-depth"),
        ([png, "-s", "2", "-o", out, "--bit-depth", "32"], 2, "32 (float) needs TIFF"),
        ([png, "-s", "2", "-o", out, "--report", tmp_path / "r.txt"], 2, ".json, .csv or .md"),
        ([png, "-s", "2", "-o", tmp_path / "newdir" / "o.xyz"], 2, "unsupported image format '.xyz'"),
        ([png, "-s", "2", "-o", "-"], 2, "--format"),
        (["-", "-s", "2"], 2, "needs -o"),
        ([png, "-s", "2", "-o", out, "--weights", badckpt], 2, "bad.pt"),
        ([png, "-s", "2", "-o", png], 2, "input itself"),
        ([nofolder, "-s", "2", "-o", tmp_path / "outdir"], 2, "no supported input"),
        ([png, "-s", "2", "-o", out, "--tile", "0"], 2, "--tile"),
        ([png, "-s", "2", "-o", "-", "--format", "png", "--json"], 2, "stdout"),
    ]


def test_bad_input_cases(tmp_path, png, no_shipped_weights):
    cases = _bad_cases(tmp_path, png)
    assert len(cases) >= 20
    before = set(os.listdir(tmp_path))
    for args, code, fragment in cases:
        result = invoke("upscale", *args)
        shown = result.output
        assert result.exit_code == code, (args, shown)
        assert fragment in shown, (args, shown)
        assert "Traceback" not in shown, (args, shown)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
        assert set(os.listdir(tmp_path)) == before, (args, set(os.listdir(tmp_path)) - before)
    assert (tmp_path / "exists.png").read_bytes() == b"keep"
