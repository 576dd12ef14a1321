"""CLI tests for `srcli train`: bad usage (exit 2, one line), a tiny run, --resume, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from srcli.cli.train import train_command

app = typer.Typer()
app.command("train")(train_command)


@app.callback()
def _root() -> None:
    """Test app holding only `train` (the real app registers it in cli/app.py)."""


runner = CliRunner()
TINY = ["--model-args", '{"encoder_args": {"n_feats": 8, "n_blocks": 1}, "hidden_dims": [16]}', "--lr-size", "8",
        "--queries", "16", "--batch-size", "2", "--scale-max", "3", "--workers", "0", "--precision", "fp32",
        "--threads", "1", "--log-every", "1"]


def invoke(*args):
    return runner.invoke(app, ["train", *[str(a) for a in args]])


@pytest.fixture()
def data(tmp_path):
    (tmp_path / "train").mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(30, 40), (36, 28)]):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / "train" / f"{i}.png")
    return tmp_path / "train"


def assert_usage_error(result, text):
    assert result.exit_code == 2, result.output
    assert text in result.output and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if "error" in line]
    assert len(lines) == 1, result.output


def test_missing_and_empty_data_folders(tmp_path):
    assert_usage_error(invoke(tmp_path / "nope", "--out", tmp_path / "run"), "training folder not found")
    (tmp_path / "empty").mkdir()
    assert_usage_error(invoke(tmp_path / "empty", "--out", tmp_path / "run"), "no images in training folder")
    assert_usage_error(invoke("--out", tmp_path / "run"), "at least one training image folder")
    assert not (tmp_path / "run").exists()


def test_unknown_and_untrainable_models(data, tmp_path):
    assert_usage_error(invoke(data, "--out", tmp_path / "r", "--model", "nope"), "unknown model 'nope'")
    assert_usage_error(invoke(data, "--out", tmp_path / "r", "--model", "bicubic"), "cannot be trained")
    assert_usage_error(invoke(data, "--out", tmp_path / "r", "--model-args", "[1]"), "--model-args must be a JSON object")
    assert_usage_error(invoke(data, "--out", tmp_path / "r", "--model-args", '{"hidden_dims": []}'), "bad --model-args for liif")
    assert_usage_error(invoke(data, "--out", tmp_path / "r", "--model-args", '{"width": 3}'), "bad --model-args for liif")
    assert_usage_error(invoke(data, "--out", tmp_path / "r", "--model", "bicubic"), "'bicubic' cannot be trained: it has nothing to learn")
    assert not (tmp_path / "r").exists()  # nothing refused leaves a run folder behind


def test_images_smaller_than_the_lr_patch_are_refused_before_the_run_folder(data, tmp_path):
    Image.fromarray(np.zeros((7, 20, 3), np.uint8)).save(data / "thin.png")
    assert_usage_error(invoke(data, "--out", tmp_path / "r", "--steps", "1", *TINY),
                       "thin.png is 20x7; every image needs at least --lr-size 8 pixels on each side")
    assert not (tmp_path / "r").exists()
    (data / "thin.png").write_text("not an image")
    result = invoke(data, "--out", tmp_path / "r", "--steps", "1", *TINY)
    assert result.exit_code == 2 and result.output.count("thin.png") == 1 and not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "--steps must be at least 1"),
    (["--batch-size", "-3"], "--batch-size must be at least 1"),
    (["--scale-min", "0.5"], "--scale-min must be at least 1"),
    (["--scale-min", "3", "--scale-max", "2"], "--scale-max must be at least --scale-min"),
    (["--queries", "5000"], "exceeds the smallest HR crop"),
    (["--lr", "0"], "--lr must be positive"),
    (["--sampler", "hard"], "unknown sampler 'hard'"),
    (["--sampler-mix", "1.5"], "--sampler-mix must be in [0, 1]"),
    (["--val-scales", "2,x"], "--val-scales must be positive integers"),
    (["--workers", "-1"], "--workers must be at least 0"),
    (["--precision", "fp64"], "unknown precision"),
])
def test_bad_numbers_and_names(data, tmp_path, args, message):
    assert_usage_error(invoke(data, "--out", tmp_path / "r", *args), message)


def test_non_numbers_are_usage_errors(data, tmp_path):
    result = invoke(data, "--out", tmp_path / "r", "--steps", "many")
    assert result.exit_code == 2 and "Invalid value for '--steps'" in result.output


def test_missing_out_and_bad_resume(data, tmp_path):
    assert_usage_error(invoke(data), "give --out RUN_DIR")
    assert_usage_error(invoke("--resume", tmp_path), "nothing to resume")
    (tmp_path / "a.png").write_bytes(b"x")
    assert_usage_error(invoke("--resume", tmp_path / "a.png"), "a.png is a file; resume a run folder")


def test_tiny_run_then_resume_longer(data, tmp_path):
    run = tmp_path / "run"
    result = invoke(data, "--out", run, "--steps", "2", "--json", *TINY)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["command"] == "train"  # and "argv" when run as srcli (a root-app call records it)
    assert summary["step"] == 2 and summary["interrupted"] is None and summary["runtime"]["precision"] == "fp32"
    assert {p.name for p in run.iterdir()} == {"best.pt", "last.pt", "state.pt", "log.jsonl"}
    assert "trained to step 2" in result.stderr
    assert_usage_error(invoke(data, "--out", run, *TINY), "already holds a training run")
    assert_usage_error(invoke("--resume", run, "--batch-size", "4"), "--batch-size cannot change")
    result = invoke("--resume", run, "--steps", "3", "--json", "--threads", "1")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["step"] == 3
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [(r["kind"], r["step"]) for r in log] == [("start", 0), ("train", 1), ("train", 2), ("start", 2), ("train", 3)]


def test_init_starts_a_run_from_a_checkpoints_matching_tensors(data, tmp_path):
    """A trained LIIF's encoder starts a DIINN run; the card says so, and a resumed run keeps it."""
    import torch

    from srcli.registry import read_checkpoint

    assert invoke(data, "--out", tmp_path / "liif", "--steps", "1", *TINY).exit_code == 0
    liif = tmp_path / "liif" / "last.pt"
    diinn_args = ["--model-args", '{"encoder_args": {"n_feats": 8, "n_blocks": 1}}']
    tiny = [a for a in TINY[2:]]
    result = invoke(data, "--model", "diinn", *diinn_args, "--init", liif, "--out", tmp_path / "d", "--steps", "1", *tiny)
    assert result.exit_code == 0, result.output
    card = read_checkpoint(tmp_path / "d" / "last.pt")["card"]
    assert card["initialised_from"]["model"] == "liif" and card["initialised_from"]["steps"] == 1
    encoder = [k for k in read_checkpoint(liif)["state_dict"] if k.startswith("encoder.")]
    assert card["initialised_from"]["loaded"] == len(encoder)
    state = torch.load(tmp_path / "d" / "state.pt", weights_only=True)
    assert state["init"]["loaded"] == len(encoder)
    liif.unlink()  # a resumed run does not need the --init file any more
    assert invoke("--resume", tmp_path / "d", "--steps", "2").exit_code == 0
    assert read_checkpoint(tmp_path / "d" / "last.pt")["card"]["initialised_from"]["loaded"] == len(encoder)
    assert_usage_error(invoke(data, "--init", tmp_path / "none.pt", "--out", tmp_path / "x", *TINY), "--init: checkpoint not found")
    assert not (tmp_path / "x").exists()  # refused before the run folder is made


POINTS_TINY = ["--model", "isp-points", "--model-args", '{"encoder_blocks": 1, "encoder_width": 8, "decoder_hidden": 16, '
               '"decoder_layers": 1, "point_features": 8, "point_hidden": 8, "grid_hidden": 8}', "--lr-size", "6",
               "--queries", "16", "--batch-size", "2", "--workers", "0", "--precision", "fp32", "--threads", "1"]


def test_points_model_trains_validates_and_resumes(data, tmp_path):
    from srcli.registry import read_checkpoint

    run = tmp_path / "pts"
    result = invoke(data, "--out", run, "--steps", "2", "--val", data, "--val-every", "1", "--val-crop", "20",
                    "--val-ratios", "0.2,0.5", "--ratio-min", "0.2", "--ratio-max", "0.6", "--json", *POINTS_TINY)
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["best"]) == {"step", "psnr_r0.2", "psnr_r0.5", "psnr"}
    card = read_checkpoint(run / "best.pt")["card"]
    assert card["protocol"]["ratio_min"] == 0.2 and "scale_min" not in card["protocol"]
    assert card["validation"]["ratios"] == [0.2, 0.5]
    assert invoke("--resume", run, "--steps", "3").exit_code == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["kind"] == "val"] == [1, 2, 3]


def test_a_liif_checkpoint_starts_a_points_run(data, tmp_path):
    """LIIF's encoder and decoder, renamed (srcli.training.transfer), start the points network."""
    from srcli.registry import read_checkpoint

    liif_args = '{"encoder_args": {"n_feats": 8, "n_blocks": 1}, "hidden_dims": [16]}'
    assert invoke(data, "--out", tmp_path / "liif", "--steps", "1", "--model-args", liif_args, "--lr-size", "8",
                  "--queries", "16", "--batch-size", "2", "--workers", "0", "--precision", "fp32").exit_code == 0
    liif = read_checkpoint(tmp_path / "liif" / "last.pt")["state_dict"]
    result = invoke(data, "--out", tmp_path / "pts", "--steps", "1", "--init", tmp_path / "liif" / "last.pt", *POINTS_TINY)
    assert result.exit_code == 0, result.output
    assert read_checkpoint(tmp_path / "pts" / "last.pt")["card"]["initialised_from"]["loaded"] == len(liif)


@pytest.mark.parametrize("args, message", [
    (["--sampler", "psnr-gain"], "points models train with uniform"),
    (["--ratio-min", "0.6", "--ratio-max", "0.3"], "--ratio-min and --ratio-max must satisfy"),
    (["--irregular", "1.5"], "--irregular is a probability"),
    (["--val-ratios", "0.2,2"], "--val-ratios must be sampling ratios in (0, 1]"),
    (["--lr-size", "2", "--queries", "4"], "--lr-size is the points grid side for isp-points; it needs at least 3, got 2"),
])
def test_points_training_bad_options(data, tmp_path, args, message):
    assert_usage_error(invoke(data, "--out", tmp_path / "r", *POINTS_TINY, *args), message)


@pytest.mark.parametrize("args, message", [
    (["--ratio-min", "0.2"], "--ratio-min applies to points models only; liif is an upscale model"),
    (["--val-ratios", "0.2", "--val", "."], "--val-ratios applies to points models only; liif is an upscale model"),
    (["--sampler-every", "10"], "--sampler-every applies to --sampler psnr-gain only"),
    (["--val-crop", "64"], "--val-crop applies with --val only"),
])
def test_options_a_run_would_not_read_are_refused(data, tmp_path, args, message):
    assert_usage_error(invoke(data, "--out", tmp_path / "r", *TINY, *args), message)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, message", [
    (["--scale-max", "2"], "--scale-max applies to upscale models only; isp-points is a points model"),
    (["--lr-float"], "--lr-8bit/--lr-float applies to upscale models only"),
    (["--val-scales", "2", "--val", "."], "--val-scales applies to upscale models only"),
    (["--query-path", "reference"], "--query-path applies to upscale models only"),
])
def test_upscale_options_are_refused_for_a_points_run(data, tmp_path, args, message):
    assert_usage_error(invoke(data, "--out", tmp_path / "r", *POINTS_TINY, *args), message)
    assert not (tmp_path / "r").exists()


def test_an_untrainable_model_is_named_before_its_unused_options(data, tmp_path):
    assert_usage_error(invoke(data, "--out", tmp_path / "r", "--model", "bicubic", "--ratio-min", "0.2"),
                       "cannot be trained")


def test_unused_options_lists_only_what_the_user_gave() -> None:
    from srcli.tasks.train_options import TrainOptions, unused_options

    liif = TrainOptions(data=["d"], out="r")
    assert unused_options(liif, "upscale", []) == {}
    assert list(unused_options(liif, "upscale", ["steps", "val_every", "irregular", "sampler_mix"])) == [
        "val_every", "irregular", "sampler_mix"]
    gain = TrainOptions(data=["d"], out="r", sampler="psnr-gain", val="v")
    assert unused_options(gain, "upscale", ["sampler_mix", "val_every", "val_scales", "scale_min"]) == {}
    assert set(unused_options(gain, "points", ["scale_min", "val_scales", "ratio_min"])) == {"scale_min", "val_scales"}


APP_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_cli_train import app
app(["train", *sys.argv[1:]], prog_name="srcli")
"""


@pytest.mark.slow
def test_ctrl_c_saves_state_and_exits_130(data, tmp_path):
    run = tmp_path / "run"
    script = APP_SCRIPT.format(tests=str(Path(__file__).parent))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"), "OMP_NUM_THREADS": "1"}
    args = [str(data), "--out", str(run), "--steps", "100000", *TINY[:-4], "--workers", "2", "--log-every", "1"]
    proc = subprocess.Popen([sys.executable, "-c", script, *args], env=env, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not ((run / "log.jsonl").exists() and (run / "log.jsonl").read_text().count("\n") >= 3):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole group, data workers included
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "state saved" in err and "--resume" in err and "Traceback" not in err
    import torch

    state = torch.load(run / "state.pt", weights_only=True)
    assert state["step"] >= 2 and (run / "last.pt").exists()
