"""Tests for srcli.tasks.bench_report: mean rows, the gain table and the Markdown report."""

from __future__ import annotations

import json

import pytest

from srcli.tasks.bench_report import gain_markdown, gain_table, mean_rows, write_bench_report


def image_row(dataset: str, model: str, scale: float, psnr: float, gain: float | None = None) -> dict:
    row = {"kind": "image", "dataset": dataset, "image": "x.png", "model": model, "scale": scale, "psnr": psnr}
    if gain is not None:
        row["gain_db"] = gain
    return row


def test_mean_rows_average_each_group_and_skip_columns_some_rows_lack():
    rows = [image_row("a", "m", 2, 30.0, 1.0), image_row("a", "m", 2, 32.0, 3.0), image_row("a", "m", 3, 25.0),
            image_row("b", "m", 2, 20.0, 0.5)]
    means = mean_rows(rows, "scale", ["psnr", "gain_db", "ssim"])
    by_key = {(m["dataset"], m["scale"]): m for m in means}
    assert [(m["dataset"], m["scale"]) for m in means] == [("a", 2), ("a", 3), ("b", 2)]  # first-seen order
    assert by_key[("a", 2)]["psnr"] == 31.0 and by_key[("a", 2)]["gain_db"] == 2.0 and by_key[("a", 2)]["images"] == 2
    assert "gain_db" not in by_key[("a", 3)] and "ssim" not in by_key[("a", 2)]
    assert by_key[("b", 2)] == {"kind": "mean", "dataset": "b", "image": "(mean)", "model": "m", "scale": 2,
                                "images": 1, "psnr": 20.0, "gain_db": 0.5}


def test_gain_table_is_the_mean_over_settings_per_model_and_dataset():
    means = [{"model": "liif", "dataset": "set5", "gain_db": 2.0}, {"model": "liif", "dataset": "set5", "gain_db": 1.0},
             {"model": "liif", "dataset": "b100", "gain_db": 0.25}, {"model": "bicubic", "dataset": "set5", "gain_db": 0.0},
             {"model": "nearest", "dataset": "set5"}]
    assert gain_table(means) == {"liif": {"set5": 1.5, "b100": 0.25}, "bicubic": {"set5": 0.0}}
    assert gain_table([{"model": "x", "dataset": "d"}]) is None


def test_gain_markdown_has_one_row_per_model_with_signed_gains():
    text = gain_markdown({"liif": {"set5": 1.5, "b100": -0.25}}, "bicubic")
    assert text.splitlines() == ["## Mean PSNR gain over bicubic (dB)", "", "| model | set5 | b100 |", "|---|---|---|",
                                 "| liif | +1.500 | -0.250 |"]


def test_write_bench_report_flattens_lists_and_adds_the_gain_table(tmp_path):
    report = {"command": "bench quality", "summary": {"datasets": ["a", "b"], "scale": [2.0, 2.5],
                                                      "psnr_gain_over_bicubic": {"liif": {"a": 1.0}}},
              "rows": [image_row("a", "liif", 2.0, 30.0, 1.0)]}
    write_bench_report(str(tmp_path / "r.md"), report)
    md = (tmp_path / "r.md").read_text()
    assert "- datasets: a, b" in md and "- scale: 2, 2.5" in md and "| liif | +1.000 |" in md
    write_bench_report(str(tmp_path / "r.json"), report)
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["psnr_gain_over_bicubic"] == {"liif": {"a": 1.0}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.md"]  # no temporary files left


def test_write_bench_report_rejects_an_unknown_suffix(tmp_path):
    from srcli.errors import UsageError

    with pytest.raises(UsageError):
        write_bench_report(str(tmp_path / "r.txt"), {"summary": {}, "rows": []})
    assert list(tmp_path.iterdir()) == []
