"""Atomic files, RNG states, training states, stop signals and the JSONL log."""

from __future__ import annotations

import json
import os
import random
import signal

import numpy as np
import pytest
import torch

from srcli.training.checkpointing import (
    JsonlLog, StateError, StopSignals, atomic_torch_save, atomic_write, capture_rng_state, load_training_state,
    restore_rng_state, save_training_state,
)


def test_interrupted_save_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "state.pt"
    atomic_torch_save({"v": torch.arange(5)}, path)
    before = path.read_bytes()

    def half_then_interrupt(obj, fh, *args, **kwargs):
        fh.write(b"PK\x03\x04 partial zip")  # a few bytes of a new file, then Ctrl-C mid-save
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_torch_save({"v": torch.arange(1000)}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pt"]  # no temporary left behind
    monkeypatch.undo()
    assert torch.equal(torch.load(path, weights_only=True)["v"], torch.arange(5))


def test_atomic_write_creates_and_replaces(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write(path, lambda fh: fh.write(b"one"))
    atomic_write(path, lambda fh: fh.write(b"two"))
    assert path.read_bytes() == b"two" and len(list(tmp_path.iterdir())) == 1


def test_rng_state_roundtrip_through_a_file(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    state = capture_rng_state()
    atomic_torch_save(state, tmp_path / "rng.pt")
    first = (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist())
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist()) == first


def test_training_state_roundtrip(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    model(torch.ones(4, 3)).sum().backward()
    optimizer.step()
    scheduler.step()
    save_training_state(tmp_path / "state.pt", model=model, optimizer=optimizer, scheduler=scheduler,
                        sampler_state={"name": "uniform"}, step=7, extra={"best": {"psnr": 30.5}, "options": {"seed": 1}})
    state = load_training_state(tmp_path / "state.pt")
    assert state["step"] == 7 and state["best"] == {"psnr": 30.5} and state["sampler"] == {"name": "uniform"}
    torch.testing.assert_close(state["model"]["weight"], model.weight.detach())
    fresh = torch.optim.Adam(torch.nn.Linear(3, 2).parameters(), lr=0.1)
    fresh.load_state_dict(state["optimizer"])
    torch.testing.assert_close(fresh.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
    assert state["scheduler"]["last_epoch"] == 1


def test_load_training_state_errors(tmp_path):
    with pytest.raises(StateError, match="nothing to resume"):
        load_training_state(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(StateError, match="cannot read"):
        load_training_state(tmp_path / "junk.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(StateError, match="not a srcli training state"):
        load_training_state(tmp_path / "other.pt")


def test_stop_signals_turn_signals_into_a_flag():
    previous = signal.getsignal(signal.SIGTERM)
    with StopSignals() as stop:
        assert stop.requested is None
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):  # a second signal stops hard
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) == previous


def test_jsonl_log_appends_and_truncates(tmp_path):
    log = JsonlLog(tmp_path / "log.jsonl")
    for step in (10, 20, 30):
        log.write({"kind": "train", "step": step, "loss": 0.5})
    with open(tmp_path / "log.jsonl", "a") as fh:
        fh.write('{"kind": "train", "st')  # a line cut by a crash
    log.truncate_after(20)
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [10, 20]
    JsonlLog(tmp_path / "other.jsonl", enabled=False).write({"step": 1})
    assert not (tmp_path / "other.jsonl").exists()
    log.write({"kind": "val", "step": 40, "psnr": float("inf"), "loss": float("nan")})
    assert json.loads((tmp_path / "log.jsonl").read_text().splitlines()[-1]) == {
        "kind": "val", "step": 40, "psnr": None, "loss": None}  # strict JSON: no NaN/Infinity tokens
