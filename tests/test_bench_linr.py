"""Bench task `linr` (srcli.tasks.bench_linr) and the setting aliases of `srcli bench quality`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from srcli.cli.app import app
from srcli.errors import UsageError
from srcli.tasks.bench import bench_quality, get_bench_task, image_seed
from srcli.tasks.bench_linr import parse_case

runner = CliRunner()
CPU = ["--device", "cpu", "--threads", "1"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def smooth(h: int = 12, w: int = 16) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.clip(np.stack([xx * 12, yy * 13, 100 + 4 * (xx - yy)], -1), 0, 255).astype(np.uint8)


def bench_noisy_pair(folder, sigma: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Image a.png and its noisy observation, as the bench draws it for case denoise:SIGMA."""
    gt = gt_tensor(folder / "a.png")
    gen = torch.Generator().manual_seed(image_seed(0, "tiny", "a.png", f"denoise:{sigma}"))
    return gt, gt + torch.randn(gt.shape, generator=gen) * (sigma / 255)


@pytest.fixture()
def folder(tmp_path):
    data = tmp_path / "tiny"
    data.mkdir()
    Image.fromarray(smooth()).save(data / "a.png")
    return data


def gt_tensor(path) -> torch.Tensor:
    pixels = np.asarray(Image.open(path), dtype=np.float32) / 255
    return torch.from_numpy(pixels.transpose(2, 0, 1).copy())[None]


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1 / float((a.double().clamp(0, 1) - b.double()).square().mean()))


@pytest.mark.parametrize("text, expected", [
    ("sr:4", ("sr", 4.0, 0.0)),
    (" SR:2.5 ", ("sr", 2.5, 0.0)),
    ("sr:1", ("sr", 1.0, 0.0)),
    ("denoise:25", ("denoise", 25.0, 0.0)),
    ("denoise:0", ("denoise", 0.0, 0.0)),
    ("inpaint:0.9", ("inpaint", 0.9, 0.0)),
    ("inpaint:0", ("inpaint", 0.0, 0.0)),
    ("deblur", ("deblur", 25.0, 1.6)),  # the paper's blur
    ("deblur:7:2", ("deblur", 7.0, 2.0)),
])

def test_parse_case_good(text, expected):
    assert parse_case(text) == expected


@pytest.mark.parametrize("text, fragment", [
    ("sr", "sr takes a scale >= 1"),
    ("sr:0.5", "sr takes a scale >= 1"),
    ("sr:2:3", "sr takes a scale >= 1"),
    ("sr:x", "values after the task must be numbers"),
    ("sr:inf", "values must be finite"),
    ("denoise:nan", "values must be finite"),
    ("denoise:-1", "denoise takes a noise sigma >= 0"),
    ("inpaint:1", "inpaint takes a missing fraction in [0, 1)"),
    ("inpaint:-0.1", "missing fraction"),
    ("deblur:5", "use deblur or deblur:SIZE:SIGMA"),
    ("deblur:2.5:1", "integer SIZE >= 1"),
    ("deblur:0:1", "integer SIZE >= 1"),
    ("deblur:5:0", "SIGMA > 0"),
    ("blur:2", "the task must be sr:S, denoise:SIGMA, inpaint:DROP or deblur[:SIZE:SIGMA]"),
    ("", "the task must be"),
])
def test_parse_case_bad(text, fragment):
    with pytest.raises(ValueError) as info:
        parse_case(text)
    assert fragment in str(info.value) and repr(text) in str(info.value)


def test_task_registration():
    task = get_bench_task("linr")
    assert task.setting_name == "case" and task.baseline == "classical" and task.default_settings == "sr:4"
    assert task.options == {"steps": 0, "fit_seed": 0, "stop": "fixed", "crop": 0, "batch": 0, "compile": "auto",
                            "chunk": "auto", "resume_dir": ""} and task.default_metrics == ("psnr", "ssim")


def test_library_run_both_methods_match_an_independent_replay(folder):
    from srcli.tasks.fit_linr import Observation, fit_linr

    report, result, plan = bench_quality([str(folder)], models="linr,classical", settings="denoise:20", task="linr",
                                         options={"steps": "2"}, device="cpu", threads=1)
    assert plan.options == {"steps": 2, "fit_seed": 0, "stop": "fixed", "crop": 0, "batch": 0, "compile": "auto",
                            "chunk": "auto", "resume_dir": ""} and "'steps': 2" in report["protocol"]
    rows = {r["model"]: r for r in result.rows}
    assert set(rows) == {"linr", "classical"} and all(r["case"] == "denoise:20" for r in rows.values())
    assert all(math.isfinite(r["psnr"]) and 0 < r["ssim"] < 1 for r in rows.values())
    assert rows["linr"]["size"] == rows["linr"]["observed_size"] == [16, 12]
    gt, noisy = bench_noisy_pair(folder, 20)
    assert rows["classical"]["psnr"] == pytest.approx(psnr(noisy, gt), abs=1e-6)  # the noisy image itself
    fitted = fit_linr([Observation("denoise", noisy)], out_size=(12, 16), steps=2, seed=0, device="cpu")
    assert rows["linr"]["psnr"] == pytest.approx(psnr(fitted.image, gt), abs=1e-5)  # 2 steps, not the default 500
    assert rows["linr"]["gain_db"] == pytest.approx(rows["linr"]["psnr"] - rows["classical"]["psnr"])
    assert {(m["model"], m["images"]) for m in result.means} == {("linr", 1), ("classical", 1)}


def test_noise_level_stop_replays_fit_linr_and_leaves_other_cases_fixed(folder):
    from srcli.tasks.fit_linr import Observation, fit_linr

    _, result, _ = bench_quality([str(folder)], models="linr", settings="denoise:30,sr:2", task="linr",
                                 options={"steps": "40", "stop": "noise-level"}, device="cpu", threads=1)
    rows = {r["case"]: r for r in result.rows if r["model"] == "linr"}
    gt, noisy = bench_noisy_pair(folder, 30)
    stopped = fit_linr([Observation("denoise", noisy)], out_size=(12, 16), steps=40, seed=0, device="cpu",
                       stop="noise-level")
    fixed = fit_linr([Observation("denoise", noisy)], out_size=(12, 16), steps=40, seed=0, device="cpu")
    assert rows["denoise:30"]["psnr"] == pytest.approx(psnr(stopped.image, gt), abs=1e-5)
    assert rows["denoise:30"]["psnr"] != pytest.approx(psnr(fixed.image, gt), abs=1e-5)  # the rule did stop earlier
    assert (rows["denoise:30"]["steps"], rows["denoise:30"]["stop_reason"]) == (stopped.steps, stopped.stop_reason)
    assert rows["denoise:30"]["steps"] < 40 and (rows["sr:2"]["steps"], rows["sr:2"]["stop_reason"]) == (40, "fixed: 40 steps")
    lr = gt[..., :12, :16]
    from srcli.resize import resize

    lr = (resize(lr, (6, 8), "bicubic").clamp(0, 1) * 255).round() / 255
    sr = fit_linr([Observation("sr", lr, scale=2.0)], out_size=(12, 16), steps=40, seed=0, device="cpu")
    assert rows["sr:2"]["psnr"] == pytest.approx(psnr(sr.image, gt), abs=1e-5)  # sr ignores the rule


def test_cli_sr_case_rows_for_both_methods(folder):
    result = invoke("bench", "quality", folder, "--task", "linr", "--case", "sr:3", "--model", "linr,classical",
                    "--opt", "steps=2", *CPU, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    images = [r for r in data["rows"] if r["kind"] == "image"]
    assert [r["model"] for r in images] == ["linr", "classical"] and data["task"] == "linr"
    for row in images:
        assert row["case"] == "sr:3" and math.isfinite(row["psnr"]) and math.isfinite(row["ssim"])
        assert row["size"] == [15, 12] and row["observed_size"] == [5, 4]  # mod-cropped to multiples of 3
    assert images[0]["steps"] == 2 and images[0]["stop_reason"] == "fixed: 2 steps" and "steps" not in images[1]
    assert "means per dataset, model and case" in result.stderr


@pytest.mark.parametrize("flag, case, observed", [
    ("--ratio", "denoise:10", [16, 12]),
    ("--drop", "inpaint:0.5", [16, 12]),
    ("--setting", "deblur:5:1", [16, 12]),
    ("--scale", "sr:2", [8, 6]),
    ("-s", "sr:4", [4, 3]),
])
def test_setting_aliases_reach_the_case(folder, flag, case, observed):
    result = invoke("bench", "quality", folder, "--task", "linr", flag, case, "--model", "classical", *CPU, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert [r["case"] for r in rows] == [case, case] and rows[0]["observed_size"] == observed
    assert math.isfinite(rows[0]["psnr"])


def test_irregular_belongs_to_points_only(folder):
    for task, flag in (("linr", "--irregular"), ("linr", "--regular"), ("upscale", "--irregular")):
        result = invoke("bench", "quality", folder, "--task", task, flag, *CPU)
        assert result.exit_code == 2, result.output
        assert result.stderr.strip() == f"srcli: error: --irregular/--regular are options of --task points, not of --task {task}"
        assert result.stdout == "" and "Traceback" not in result.output
    ok = invoke("bench", "quality", folder, "--task", "points", "--irregular", "--ratio", "0.5", "--model", "nearest",
                *CPU, "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["rows"][0]["ratio"] == 0.5


@pytest.mark.parametrize("args, fragment", [
    (["--case", "blur:2"], "bad --case list 'blur:2': 'blur:2': the task must be"),
    (["--case", "sr:9", "--model", "classical"], "a 16x12 image is too small for sr:9"),
    (["--case", "sr:2", "--model", "classical,nope"], "unknown method 'nope' for --task linr; use linr, classical"),
    (["--model", "linr", "--weights", "linr=w.pt"], "--weights does not apply to --task linr"),
    (["--opt", "steps=x"], "option steps takes a int, got 'x'"),
    (["--opt", "width=8"], "task linr has no option 'width'; its options: batch, chunk, compile, crop, fit_seed, resume_dir, steps, stop"),
    (["--opt", "stop=early"], "--opt stop=early: use fixed or noise-level"),
    (["--metrics", "lr-psnr"], "unknown metric 'lr-psnr' for task linr"),
])
def test_bad_requests_exit_2(folder, args, fragment):
    result = invoke("bench", "quality", folder, "--task", "linr", *args, *CPU)
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


def test_library_bad_case_is_a_usage_error(folder):
    with pytest.raises(UsageError, match="bad --case list 'inpaint:1'"):
        bench_quality([str(folder)], models="classical", settings="inpaint:1", task="linr", device="cpu")


def test_crop_option_replays_fit_linr_crops_and_leaves_sr_whole(folder):
    from srcli.tasks.fit_linr import Observation, fit_linr

    _, result, _ = bench_quality([str(folder)], models="linr", settings="deblur:3:1,sr:2", task="linr",
                                 options={"steps": "6", "crop": "5"}, device="cpu", threads=1)
    rows = {r["case"]: r for r in result.rows if r["model"] == "linr"}
    gt = gt_tensor(folder / "a.png")
    from srcli.tasks.forward_models import Blur, parse_blur_kernel

    kernel = parse_blur_kernel("gauss:3:1")
    blurred = Blur(kernel)(gt, tuple(gt.shape[-2:]))
    obs = [Observation("deblur", blurred, kernel=kernel)]
    cropped = fit_linr(obs, out_size=(12, 16), steps=6, seed=0, crop=5, device="cpu")
    whole = fit_linr(obs, out_size=(12, 16), steps=6, seed=0, device="cpu")
    assert rows["deblur:3:1"]["psnr"] == pytest.approx(psnr(cropped.image, gt), abs=1e-5)
    assert rows["deblur:3:1"]["psnr"] != pytest.approx(psnr(whole.image, gt), abs=1e-5)
    assert math.isfinite(rows["sr:2"]["psnr"])  # sr ignores the crop instead of failing


def test_batch_option_replays_fit_linr_batches_in_pointwise_cases_only(folder):
    from srcli.tasks.fit_linr import Observation, fit_linr

    _, result, _ = bench_quality([str(folder)], models="linr", settings="denoise:30,deblur:3:1", task="linr",
                                 options={"steps": "5", "batch": "40"}, device="cpu", threads=1)
    rows = {r["case"]: r for r in result.rows if r["model"] == "linr"}
    gt, noisy = bench_noisy_pair(folder, 30)
    batched = fit_linr([Observation("denoise", noisy)], out_size=(12, 16), steps=5, seed=0, batch=40, device="cpu")
    assert rows["denoise:30"]["psnr"] == pytest.approx(psnr(batched.image, gt), abs=1e-5)
    assert math.isfinite(rows["deblur:3:1"]["psnr"])  # a blur needs whole images: no batch, no failure


def test_resume_dir_keeps_each_fit_and_a_rerun_reuses_them(folder, tmp_path, monkeypatch):
    import srcli.tasks.linr_loop as fit_module

    states = tmp_path / "states" / "deep"  # created on demand
    opts = {"steps": "3", "resume_dir": str(states)}
    _, first, _ = bench_quality([str(folder)], models="linr", settings="denoise:20,deblur:3:1", task="linr",
                                options=opts, device="cpu", threads=1)
    assert len(list(states.glob("linr-*.pt"))) == 2  # one state per fit
    monkeypatch.setattr(fit_module, "full_loss", lambda *a: pytest.fail("a finished fit must not run again"))
    _, again, _ = bench_quality([str(folder)], models="linr", settings="denoise:20,deblur:3:1", task="linr",
                                options=opts, device="cpu", threads=1)
    for a, b in zip(first.rows, again.rows, strict=True):
        assert (a["case"], a["psnr"], a["ssim"], a["fit_seconds"]) == (b["case"], b["psnr"], b["ssim"], b["fit_seconds"])
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not a folder"):
        bench_quality([str(folder)], models="linr", settings="denoise:20", task="linr",
                      options={"resume_dir": str(tmp_path / "file")}, device="cpu", threads=1)


def test_chunk_option_reaches_the_fit(folder):
    _, result, _ = bench_quality([str(folder)], models="linr", settings="denoise:20", task="linr",
                                 options={"steps": "2", "chunk": "50"}, device="cpu", threads=1)
    _, one_pass, _ = bench_quality([str(folder)], models="linr", settings="denoise:20", task="linr",
                                   options={"steps": "2", "chunk": "0"}, device="cpu", threads=1)
    assert (result.rows[0]["chunk"], one_pass.rows[0]["chunk"]) == (50, None)
    assert result.rows[0]["psnr"] == pytest.approx(one_pass.rows[0]["psnr"], abs=1e-4)  # rounding apart
    with pytest.raises(UsageError, match="--opt chunk=lots: use auto, 0"):
        bench_quality([str(folder)], models="linr", settings="denoise:20", task="linr", options={"chunk": "lots"},
                      device="cpu", threads=1)
