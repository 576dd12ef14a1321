"""Tests for srcli.tasks.bench: the quality runner, datasets, reports (the registry: test_bench_tasks.py)."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from srcli.errors import UsageError
from srcli.tasks.bench import bench_quality, find_datasets, load_methods, plan_quality
from srcli.tasks.bench_report import write_bench_report


def run(folders, models, scales, metrics=None, **kw):
    report, result, _plan = bench_quality(folders, models=models, settings=scales, metrics=metrics, device="cpu", **kw)
    return report, result


# --- tests ------------------------------------------------------------------------


def test_row_counts_and_means_are_means_of_rows(folders):
    report, result = run(folders, "bicubic,nearest", "2,3", "psnr,ssim,lr-psnr")
    assert len(result.rows) == (3 + 1) * 2 * 2
    assert len(result.means) == 2 * 2 * 2
    assert len(report["rows"]) == len(result.rows) + len(result.means)
    for mean in result.means:
        members = [r for r in result.rows if (r["dataset"], r["model"], r["scale"]) == (mean["dataset"], mean["model"], mean["scale"])]
        assert mean["images"] == len(members) == (3 if mean["dataset"] == "alpha" else 1)
        for key in ("psnr", "ssim", "lr_psnr", "gain_db"):
            assert mean[key] == pytest.approx(np.mean([m[key] for m in members]), rel=1e-12)
    assert all(0 < r["ssim"] < 1 and r["lr_psnr"] > r["psnr"] for r in result.rows)


def test_gain_table_and_dataset_ranking(folders):
    _report, result = run(folders, "bicubic,nearest", "2,3")
    for row in result.rows:
        base = next(r for r in result.rows if r["model"] == "bicubic" and (r["image"], r["scale"]) == (row["image"], row["scale"]))
        assert row["gain_db"] == pytest.approx(row["psnr"] - base["psnr"], abs=1e-12)
    for dataset in ("alpha", "beta"):
        per_scale = [np.mean([r["gain_db"] for r in result.rows if (r["dataset"], r["model"], r["scale"]) == (dataset, "nearest", s)])
                     for s in (2.0, 3.0)]
        assert result.gains["nearest"][dataset] == pytest.approx(np.mean(per_scale), abs=1e-12)
        assert result.gains["bicubic"][dataset] == 0
    ranking = result.dataset_ranking("bicubic")
    assert [name for name, _ in ranking] == sorted(["alpha", "beta"], key=lambda d: -result.gains["nearest"][d])


def test_baseline_run_silently_for_the_ranking(folders):
    _report, alone = run(folders, "nearest", "2")
    _report, both = run(folders, "bicubic,nearest", "2")
    assert {r["model"] for r in alone.rows} == {"nearest"}
    assert alone.gains["nearest"] == pytest.approx(both.gains["nearest"], abs=1e-9)
    _report, single = run(folders[:1], "nearest", "2")
    assert single.gains is None and "gain_db" not in single.rows[0]


def test_reports_in_three_formats(folders, tmp_path):
    report, result = run(folders, "bicubic,nearest", "2")
    for suffix in ("json", "csv", "md"):
        write_bench_report(str(tmp_path / f"r.{suffix}"), report)
    data = json.loads((tmp_path / "r.json").read_text())
    assert len(data["rows"]) == 8 + 4
    assert data["summary"]["psnr_gain_over_bicubic"]["nearest"]["beta"] == pytest.approx(result.gains["nearest"]["beta"])
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert len(rows) == 12 and {r["kind"] for r in rows} == {"image", "mean"}
    md = (tmp_path / "r.md").read_text()
    assert "## Mean PSNR gain over bicubic (dB)" in md and "| nearest |" in md and "- datasets: alpha, beta" in md


def test_plan_errors(no_shipped_weights):
    with pytest.raises(UsageError, match="'x' is not a number"):
        plan_quality("upscale", "bicubic", "2,x")
    with pytest.raises(UsageError, match="bad --scale list"):
        plan_quality("upscale", "bicubic", "2,,3")
    with pytest.raises(UsageError, match="not a scale >= 1"):
        plan_quality("upscale", "bicubic", "0.5")
    with pytest.raises(UsageError, match="unknown metric 'lpips'"):
        plan_quality("upscale", "bicubic", "2", "psnr,lpips")
    with pytest.raises(UsageError, match="unknown bench task"):
        plan_quality("nope", "bicubic", "2")
    plan = plan_quality("upscale", "bicubic", "2")
    with pytest.raises(UsageError, match="not among --model"):
        load_methods(plan, {"liif": "x.pt"})
    with pytest.raises(UsageError, match="no shipped weights; pass --weights liif=PATH"):
        load_methods(plan_quality("upscale", "liif", "2"))


def test_dataset_errors(tmp_path, folders):
    with pytest.raises(UsageError, match="not found"):
        find_datasets([str(tmp_path / "missing")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="holds no images"):
        find_datasets([str(tmp_path / "empty")])
    with pytest.raises(UsageError, match="is not a folder"):
        find_datasets([f"{folders[0]}/one.png"])
    found = find_datasets([folders[0], folders[0]], max_images=2)
    assert [d.name for d in found] == ["alpha", "alpha-2"] and len(found[0].images) == 2
