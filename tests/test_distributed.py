"""Data parallel training: batch shards, and 2 gloo processes matching 1 process on the same global batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srcli.errors import UsageError
from srcli.registry import create
from srcli.tasks.train import TrainOptions, train
from srcli.training.distributed import DistContext, any_rank, init_from_env, shard, sum_tensor, wrap

SRC = str(Path(__file__).resolve().parents[1] / "src")
RUN = "import json, sys\nfrom srcli.tasks.train import TrainOptions, train\ntrain(TrainOptions(**json.loads(sys.argv[1])))\n"


def test_shards_partition_the_global_batch():
    parts = [shard(12, DistContext(rank, 3)) for rank in range(3)]
    assert parts == [(0, 4), (4, 4), (8, 4)]
    assert shard(5, DistContext()) == (0, 5)
    with pytest.raises(UsageError, match="does not split over 2 processes"):
        shard(5, DistContext(0, 2))


def test_single_process_is_a_no_op(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx, device = init_from_env(torch.device("cpu"))
    assert ctx == DistContext() and not ctx.active and ctx.is_main and device == torch.device("cpu")
    module = torch.nn.Linear(2, 2)
    assert wrap(module, ctx, device) is module
    assert any_rank(True, ctx) and not any_rank(False, ctx)
    values = torch.tensor([1.0, 2.0])
    assert torch.equal(sum_tensor(values, ctx), values)
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(UsageError, match="WORLD_SIZE must be an integer"):
        init_from_env(torch.device("cpu"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    (tmp_path / "train").mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(40, 48), (30, 36), (52, 40)]):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / "train" / f"{i}.png")
    base = dict(data=[str(tmp_path / "train")], model="liif", steps=3, batch_size=4, lr_size=8, scale_max=3.0,
                queries=16, log_every=1, workers=0, precision="fp32", threads=1, device="cpu",
                model_args={"encoder_args": {"n_feats": 8, "n_blocks": 1}, "hidden_dims": [16]})
    port = free_port()
    procs = []
    for rank in range(2):
        env = {**os.environ, "PYTHONPATH": SRC, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2",
               "RANK": str(rank), "LOCAL_RANK": str(rank), "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen([sys.executable, "-c", RUN, json.dumps({**base, "out": str(tmp_path / "ddp")})],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    train(TrainOptions(**base, out=str(tmp_path / "one")))  # meanwhile, the same global batch in one process
    for proc in procs:
        output, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0, output[-3000:]
    one = torch.load(tmp_path / "one" / "last.pt", weights_only=True)
    two = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    assert one["card"]["hardware"]["processes"] == 1 and two["card"]["hardware"]["processes"] == 2
    for key, value in one["state_dict"].items():
        torch.testing.assert_close(two["state_dict"][key], value, rtol=0, atol=1e-5)
    torch.manual_seed(0)  # the run's seed: its initial weights
    initial = create({"name": "liif", "args": base["model_args"]}).state_dict()
    moved = max((one["state_dict"][k] - initial[k]).abs().max().item() for k in initial)
    assert moved > 1e-4  # three Adam steps of 1e-4 moved the weights: the match above is not trivial
    log = [json.loads(line) for line in (tmp_path / "ddp" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["kind"] == "train"] == [1, 2, 3]  # rank 0 alone writes the log
    one_log = [json.loads(line) for line in (tmp_path / "one" / "log.jsonl").read_text().splitlines()]
    np.testing.assert_allclose([r["loss"] for r in log if r["kind"] == "train"],
                               [r["loss"] for r in one_log if r["kind"] == "train"], rtol=1e-5)
    assert [r["processes"] for r in log if r["kind"] == "start"] == [2]
