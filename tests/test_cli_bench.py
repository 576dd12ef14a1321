"""CLI tests for `srcli bench` (quality, speed, crops) through the bench Typer sub-app."""

from __future__ import annotations

import json
import shlex
import sys

import pytest
from typer.testing import CliRunner

from conftest import write_png
from srcli.cli.bench import bench_app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(bench_app, [str(a) for a in args])


@pytest.fixture()
def sets(tmp_path):
    a, b = tmp_path / "sa", tmp_path / "sb"
    a.mkdir()
    b.mkdir()
    write_png(a / "x.png", 26, 30, seed=1)
    write_png(a / "y.png", 24, 24, seed=2)
    write_png(b / "z.png", 28, 25, seed=3)
    return a, b


def test_quality_json_tables_and_reports(sets, tmp_path):
    a, b = sets
    result = invoke("quality", a, b, "--model", "bicubic,nearest", "--scale", "2,3", "--metrics", "psnr,lr-psnr",
                    "--device", "cpu", "--json", "--report", tmp_path / "q.md")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    images = [r for r in data["rows"] if r["kind"] == "image"]
    assert len(images) == 3 * 2 * 2 and len(data["rows"]) - len(images) == 2 * 2 * 2
    assert {"psnr", "lr_psnr", "gain_db"} <= set(images[0]) and "ssim" not in images[0]
    assert "means per dataset" in result.stderr and "mean PSNR gain over bicubic" in result.stderr
    assert "dataset ranking" in result.stderr and (tmp_path / "q.md").read_text().startswith("# srcli bench quality")
    for suffix in ("json", "csv"):
        again = invoke("quality", a, "--scale", "2", "--device", "cpu", "--report", tmp_path / f"q.{suffix}")
        assert again.exit_code == 0 and (tmp_path / f"q.{suffix}").stat().st_size > 0


def test_bench_reports_through_the_root_command_carry_argv(sets, tmp_path):
    from srcli.cli.app import app

    args = ["bench", "quality", str(sets[0]), "--scale", "2", "--device", "cpu", "--report", str(tmp_path / "q.json")]
    assert runner.invoke(app, args).exit_code == 0
    assert json.loads((tmp_path / "q.json").read_text())["argv"] == shlex.join(["srcli", *args])


def test_quality_rgb_no_quantize_and_opt(sets):
    a, _ = sets
    base = json.loads(invoke("quality", a, "--scale", "2", "--device", "cpu", "--json").stdout)["rows"][0]["psnr"]
    rgb = json.loads(invoke("quality", a, "--scale", "2", "--device", "cpu", "--json", "--rgb").stdout)["rows"][0]["psnr"]
    raw = invoke("quality", a, "--scale", "2", "--device", "cpu", "--json", "--no-quantize", "--opt", "clamp=false")
    assert raw.exit_code == 0, raw.stderr
    assert len({base, rgb, json.loads(raw.stdout)["rows"][0]["psnr"]}) == 3
    assert "protocol" in json.loads(raw.stdout) and "not rounded" in json.loads(raw.stdout)["protocol"]


@pytest.mark.parametrize("task, expected", [
    ("upscale", {"bicubic"}),
    ("points", {"nearest", "linear", "cubic", "rbf"}),
    ("inpaint", {"nearest", "linear", "cubic", "rbf"}),
])
def test_quality_default_methods_follow_the_task(sets, task, expected):
    a, _ = sets
    result = invoke("quality", a, "--task", task, "--max-images", "1", "--device", "cpu", "--json")
    assert result.exit_code == 0, result.stderr
    assert {r["model"] for r in json.loads(result.stdout)["rows"]} == expected


def test_quality_plot(sets, tmp_path):
    pytest.importorskip("matplotlib")
    a, b = sets
    result = invoke("quality", a, b, "--scale", "2,3", "--device", "cpu", "--plot", tmp_path / "charts", "--max-images", "1")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == ["sa_psnr.png", "sb_psnr.png"]


def test_plot_without_matplotlib_exits_2(sets, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = invoke("quality", sets[0], "--scale", "2", "--device", "cpu", "--plot", tmp_path / "c")
    assert result.exit_code == 2 and "pip install srcli[plot]" in result.stderr


@pytest.mark.parametrize("args, fragment", [
    (["quality", "{missing}"], "dataset folder not found"),
    (["quality", "{empty}"], "holds no images"),
    (["quality", "{a}", "--model", "nope"], "unknown model 'nope'"),
    (["quality", "{a}", "--scale", "2,x"], "bad --scale list '2,x': 'x' is not a number"),
    (["quality", "{a}", "--metrics", "psnr,lpips"], "unknown metric 'lpips'"),
    (["quality", "{a}", "--model", "liif"], "no shipped weights; pass --weights liif="),
    (["quality", "{a}", "--weights", "liif"], "--weights takes NAME=VALUE"),
    (["quality", "{a}", "--report", "{tmp}/r.txt"], "must end in .json, .csv or .md"),
    (["speed", "--output", "64,x"], "'x' is not an integer"),
    (["speed", "--output", "64", "--scale", "2"], "conflict"),
    (["crops", "{a}/x.png", "--box", "0,0,99,4", "-o", "{tmp}/g.png"], "leaves the"),
])
def test_bad_input_is_one_line_exit_2(sets, tmp_path, args, fragment, no_shipped_weights):
    (tmp_path / "empty").mkdir()
    subs = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "a": sets[0], "tmp": tmp_path}
    result = invoke(*[arg.format(**subs) for arg in args], "--device", "cpu")
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


def test_speed_json(tmp_path):
    result = invoke("speed", "--model", "bicubic,nearest", "--input", "8", "--output", "16,24", "--repeats", "2",
                    "--warmup", "0", "--device", "cpu", "--threads", "1", "--json", "--report", tmp_path / "s.csv")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert [(r["model"], r["output"]) for r in rows] == [("bicubic", "16x16"), ("bicubic", "24x24"), ("nearest", "16x16"), ("nearest", "24x24")]
    assert {"ms_median", "ms_q1", "ms_q3", "ms_min", "ms_max", "mpix_per_s", "peak_mem_mb", "precision"} <= set(rows[0])
    assert "bench speed" in result.stderr and (tmp_path / "s.csv").read_text().count("\n") == 5


def test_crops_writes_a_grid(sets, tmp_path):
    result = invoke("crops", sets[0] / "x.png", "--scale", "2", "--box", "2,2,12,10", "-m", "nearest", "-o",
                    tmp_path / "g.png", "--device", "cpu", "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert [p["label"] for p in info["panels"]] == ["ground truth", "bicubic", "nearest"]
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "grid:" in result.stderr
    assert info["command"] == "bench crops"
    from srcli.cli.app import app

    args = ["bench", "crops", str(sets[0] / "x.png"), "--scale", "2", "--box", "2,2,12,10", "-m", "nearest", "-o",
            str(tmp_path / "g2.png"), "--device", "cpu", "--json"]
    assert json.loads(runner.invoke(app, args).stdout)["argv"] == shlex.join(["srcli", *args])


def test_an_image_too_small_for_a_scale_is_named(tmp_path):
    folder = tmp_path / "small"
    folder.mkdir()
    write_png(folder / "s.png", 4, 4, seed=1)
    result = invoke("quality", folder, "--scale", "2", "--model", "bicubic", "--device", "cpu")
    assert result.exit_code == 2 and f"{folder / 's.png'} at scale 2" in result.stderr
    assert "a 4x4 image is too small for scale 2" in result.stderr


@pytest.mark.parametrize("task, args, flag", [
    ("linr", ["--case", "sr:2", "--no-quantize"], "--quantize/--no-quantize"),
    ("linr", ["--case", "sr:2", "--chunk", "64"], "--chunk"),
    ("points", ["--rgb"], "--y/--rgb"),
    ("inpaint", ["--tile", "8"], "--tile"),
])
def test_options_a_task_ignores_are_refused(sets, task, args, flag):
    result = invoke("quality", sets[0], "--task", task, *args, "--device", "cpu")
    assert result.exit_code == 2 and f"{flag} is not an option of --task {task}" in result.stderr
