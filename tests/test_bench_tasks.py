"""Tests for srcli.tasks.bench_tasks: task options, and a new task plugged into the runner."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from srcli.device import make_runtime
from srcli.errors import UsageError
from srcli.tasks.bench import find_datasets, image_seed, load_methods, plan_quality, run_quality
from srcli.tasks.bench_tasks import BenchContext, BenchTask, merge_options, register_bench_task


def test_options_are_converted_and_checked():
    plan = plan_quality("upscale", "bicubic", "2")
    assert merge_options(plan.task, {"quantize": "false"})["quantize"] is False
    with pytest.raises(UsageError, match="true or false"):
        merge_options(plan.task, {"clamp": "maybe"})
    with pytest.raises(UsageError, match="has no option 'foo'"):
        merge_options(plan.task, {"foo": "1"})


def test_a_new_task_plugs_in(folders):
    """A toy denoising task: seeded noise, two methods, its own option and metric."""

    def degrade(gt, sigma, seed, options):
        g = torch.Generator().manual_seed(seed)
        return {"noisy": gt + torch.randn(gt.shape, generator=g) * sigma / 255}

    def restore(obs, method, sigma, ctx, options):
        return method(obs["noisy"])

    def mse(restored, gt, obs, sigma, options):
        return float(((restored.double() - gt.double()) ** 2).mean() * options["gain"])

    register_bench_task(BenchTask(
        name="toy-denoise", description="test", setting_name="sigma", parse_setting=float,
        prepare=lambda gt, s, o: gt, degrade=degrade, restore=restore,
        load_method=lambda name, weights: {"identity": lambda x: x, "clip": lambda x: x.clamp(0, 1)}[name],
        metrics={"mse": mse}, default_metrics=("mse",), options={"gain": 1.0}))
    plan = plan_quality("toy-denoise", "identity,clip", "10,30", options={"gain": "2"})
    datasets = find_datasets(folders)
    ctx = BenchContext(make_runtime("cpu", "fp32"))
    first = run_quality(datasets, plan, load_methods(plan), ctx)
    again = run_quality(datasets, plan, load_methods(plan), ctx)
    assert len(first.rows) == 4 * 2 * 2 and [r["mse"] for r in first.rows] == [r["mse"] for r in again.rows]
    identity = [r["mse"] for r in first.rows if r["model"] == "identity" and r["sigma"] == 30]
    assert np.mean(identity) == pytest.approx(2 * (30 / 255) ** 2, rel=0.3)  # noise variance times the option
    assert first.gains is None and image_seed(0, "a", "x.png", 2.0) != image_seed(0, "a", "y.png", 2.0)
