"""Tests for srcli.tasks.bench_speed: configurations, statistics, memory figures, report rows."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from srcli.errors import UsageError
from srcli.geometry import SizeError
from srcli.tasks.bench_speed import (
    SpeedConfig, bench_speed, cpu_peak_increase_mb, measure_config, plan_speed, reset_cpu_peak, timing_stats,
)

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc memory figures are Linux-only")


def test_timing_stats_match_numpy():
    ms = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0]
    stats = timing_stats(ms)
    assert stats["ms_median"] == np.median(ms)
    assert stats["ms_q1"] == pytest.approx(np.percentile(ms, 25)) and stats["ms_q3"] == pytest.approx(np.percentile(ms, 75))
    assert (stats["ms_min"], stats["ms_max"]) == (1.0, 9.0)
    assert timing_stats([4.0]) == {"ms_median": 4.0, "ms_q1": 4.0, "ms_q3": 4.0, "ms_min": 4.0, "ms_max": 4.0}


def test_plan_lists_every_configuration():
    configs = plan_speed(["bicubic", "nearest"], input_size=8, outputs=[16, 24, 32], device="cpu",
                         precisions=["fp32", "bf16"], repeats=2, warmup=0)
    assert len(configs) == 2 * 2 * 3
    assert {c.output_hw for c in configs} == {(16, 16), (24, 24), (32, 32)} and {c.precision for c in configs} == {"fp32", "bf16"}
    default = plan_speed(["bicubic"], device="cpu")
    assert [c.output_hw[0] for c in default] == [128, 256, 512] and default[0].input_hw == (48, 48)
    by_scale = plan_speed(["bicubic"], input_size=10, scales=[2.5, 3], device="cpu")
    assert [c.output_hw for c in by_scale] == [(25, 25), (30, 30)]


def test_plan_errors(no_shipped_weights):
    with pytest.raises(UsageError, match="conflict"):
        plan_speed(["bicubic"], outputs=[16], scales=[2.0], device="cpu")
    with pytest.raises(SizeError, match="a benchmark image would be 200000x200000 pixels, over the limit"):
        plan_speed(["nearest"], input_size=1, outputs=[200000], device="cpu")
    with pytest.raises(UsageError, match="--repeats"):
        plan_speed(["bicubic"], repeats=0, device="cpu")
    with pytest.raises(UsageError, match="no shipped weights"):
        plan_speed(["liif"], device="cpu")
    with pytest.raises(Exception, match="unknown model"):
        plan_speed(["nope"], device="cpu")


@linux
def test_cpu_peak_sees_an_allocation():
    before = reset_cpu_peak()
    block = np.ones(40 * 2**20 // 8)  # 40 MiB, touched
    assert cpu_peak_increase_mb(before) >= 35
    del block


def test_measured_row_fields_are_consistent():
    cfg = SpeedConfig("bicubic", None, "cpu", "fp32", (8, 8), (20, 20), repeats=4, warmup=1, threads=1)
    row = measure_config(cfg)
    assert (row["model"], row["input"], row["output"], row["repeats"], row["device"]) == ("bicubic", "8x8", "20x20", 4, "cpu")
    assert 0 < row["ms_min"] <= row["ms_q1"] <= row["ms_median"] <= row["ms_q3"] <= row["ms_max"]
    assert row["mpix_per_s"] == pytest.approx(400 / 1e6 / (row["ms_median"] / 1000), rel=1e-2)
    assert row["scale"] == 2.5
    if sys.platform.startswith("linux"):
        assert row["peak_mem_mb"] is not None and row["peak_mem_mb"] >= 0 and row["memory"] == "RSS peak increase"


@pytest.mark.slow
def test_report_and_isolated_run():
    configs = plan_speed(["nearest"], input_size=8, outputs=[16], device="cpu", repeats=2, warmup=1, threads=1)
    report = bench_speed(configs, isolate=True)
    assert report["command"] == "bench speed" and report["summary"]["configurations"] == 1
    row = report["rows"][0]
    assert row["output"] == "16x16" and row["memory"].endswith("(fresh process)") and row["threads"] == 1
