"""The training loop: bit-exact resume after a signal, logs, checkpoints, validation PSNR, gains."""

from __future__ import annotations

import json
import math
import os
import signal

import numpy as np
import pytest
import torch
from PIL import Image
from test_validation import NearestUpsampler

from srcli.device import make_runtime
from srcli.registry import load_checkpoint
from srcli.tasks.train import TrainOptions, train
from srcli.training.datasets import ImageCache
from srcli.training.distributed import DistContext
from srcli.training.loop import l1_loss, measure_gains
from srcli.training.samplers import PatchGeometry, PsnrGainSampler

TINY_LIIF = {"encoder_args": {"n_feats": 8, "n_blocks": 1}, "hidden_dims": [16]}


def make_folder(path, sizes, seed=0):
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path / f"{i}.png")
    return path


def options(tmp_path, out, **changes):
    base = dict(data=[str(tmp_path / "train")], out=str(tmp_path / out), model="liif", model_args=TINY_LIIF, steps=6,
                batch_size=4, lr_size=8, scale_min=1.0, scale_max=3.0, queries=16, lr=1e-3, log_every=1, ckpt_every=100,
                workers=0, precision="fp32", threads=1)
    base.update(changes)
    return TrainOptions(**base)


@pytest.fixture()
def data(tmp_path):
    make_folder(tmp_path / "train", [(40, 48), (30, 36), (52, 40)])
    make_folder(tmp_path / "val", [(26, 26)], seed=5)
    return tmp_path


def weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def records(path, kind):
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["kind"] == kind]


def test_resume_after_a_signal_is_bit_exact(data):
    common = dict(sampler="psnr-gain", sampler_every=2, sampler_queries=8, sampler_mix=1.0, lr_decay_every=3)
    straight = train(options(data, "a", **common))
    assert straight.step == 6 and straight.interrupted is None

    def kill_at_3(step, total, info):
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C would, in the middle of the run

    cut = train(options(data, "b", **common), progress=kill_at_3)
    assert cut.interrupted == "SIGINT" and cut.step == 3
    resumed = train(options(data, "b", **common), resume=True)
    assert resumed.step == 6 and resumed.interrupted is None
    for name in ("last.pt", "best.pt"):
        a, b = weights(data / "a" / name), weights(data / "b" / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
    train_a, train_b = records(data / "a" / "log.jsonl", "train"), records(data / "b" / "log.jsonl", "train")
    assert [(r["step"], r["loss"], r["lr"]) for r in train_a] == [(r["step"], r["loss"], r["lr"]) for r in train_b]
    assert [r["step"] for r in records(data / "b" / "log.jsonl", "sampler")] == [2, 4]


def test_existing_run_needs_resume(data):
    from srcli.errors import UsageError

    train(options(data, "r", steps=1))
    with pytest.raises(UsageError, match="--resume"):
        train(options(data, "r", steps=1))


def test_log_checkpoints_and_card(data):
    result = train(options(data, "run", steps=4, log_every=2, val=str(data / "val"), val_scales=[2, 3], val_every=2,
                           val_crop=0, lr_decay_every=2, lr_decay=0.5))
    run = data / "run"
    train_records = records(run / "log.jsonl", "train")
    assert [r["step"] for r in train_records] == [2, 4]
    for r in train_records:
        assert set(r) >= {"step", "loss", "lr", "steps_per_s", "items_per_s", "wall_s"}
        assert r["items_per_s"] == pytest.approx(4 * r["steps_per_s"]) and r["loss"] > 0
    assert [r["lr"] for r in train_records] == [5e-4, 2.5e-4]  # halved every 2 steps
    val_records = records(run / "log.jsonl", "val")
    assert [r["step"] for r in val_records] == [2, 4]
    assert all(math.isfinite(r["psnr_x2"]) and math.isfinite(r["psnr_x3"]) for r in val_records)
    model, card = load_checkpoint(run / "best.pt")
    best = max(val_records, key=lambda r: r["psnr"])
    assert result.best["step"] == best["step"] and card["validation"]["psnr"] == pytest.approx(best["psnr"])
    assert card["data"] == [str((data / "train").resolve())] and card["images"] == 3
    assert card["hardware"]["device"] == "cpu" and card["hardware"]["precision"] == "fp32" and card["wall_time_s"] >= 0
    _, last_card = load_checkpoint(run / "last.pt")
    assert last_card["steps"] == 4 and (run / "state.pt").exists()
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "last.pt", "log.jsonl", "state.pt"]


def test_measure_gains_formula(tmp_path):
    from srcli.resize import resize

    make_folder(tmp_path / "m", [(24, 36)])
    paths = sorted((tmp_path / "m").iterdir())
    sampler = PsnrGainSampler([(24, 36)], PatchGeometry(8, 1.0, 3.0), seed=0, measure_queries=40)
    gains = measure_gains(NearestUpsampler(), sampler, ImageCache(paths), make_runtime("cpu", "fp32"), DistContext())
    assert gains.shape == (2,) and np.isfinite(gains).all()
    image = torch.from_numpy(np.asarray(Image.open(paths[0]), dtype=np.float32) / 255).permute(2, 0, 1)
    for c, (_, top, left, h, w) in enumerate(sampler.cells):
        hr = image[:, top: top + h, left: left + w].double()
        lr = torch.floor(resize(hr[None].float(), (h // 3, w // 3)).clamp(0, 1) * 255 + 0.5) / 255
        bicubic = resize(lr, (h, w))[0].double()
        nearest = lr[0].double().repeat_interleave(3, 1).repeat_interleave(3, 2)
        pick = sampler.measure_pixels(c, h * w)
        rows, cols = pick // w, pick % w
        mse_model = ((nearest[:, rows, cols] - hr[:, rows, cols]) ** 2).mean().item()
        mse_bicubic = ((bicubic[:, rows, cols] - hr[:, rows, cols]) ** 2).mean().item()
        assert gains[c] == pytest.approx(10 * math.log10((mse_bicubic + 1e-10) / (mse_model + 1e-10)), abs=1e-4)


def test_l1_loss():
    assert l1_loss(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]])).item() == pytest.approx(0.5)


@pytest.mark.parametrize("name, args", [
    ("a-liif", {"encoder_args": {"n_feats": 8, "n_blocks": 1}, "n_basis": 2, "basis_hidden_dims": [4],
                "expansion_hidden_dims": [8]}),
    ("diinn", {"encoder_args": {"n_feats": 8, "n_blocks": 1}, "hidden_dims": [8, 8]}),
])
def test_other_implicit_models_train(data, name, args):
    result = train(options(data, name, model=name, model_args=args, steps=2))
    assert result.step == 2 and math.isfinite(result.last_loss)
    model, card = load_checkpoint(data / name / "last.pt")
    assert model.spec["name"] == name and card["steps"] == 2
    saved = torch.load(data / name / "state.pt", weights_only=True)["model"]
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
