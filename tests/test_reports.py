"""Tests for srcli.io.reports: JSON, CSV and Markdown renderings of one report."""

import csv
import io
import json

import pytest

from srcli.errors import UsageError
from srcli.io.reports import make_report, render_report, write_report

ROWS = [{"input": "a.png", "psnr": float("inf"), "output_size": [4, 6]}, {"input": "b.png", "psnr": 31.25, "extra": "x"}]


def test_json_is_strict_and_complete():
    report = make_report("upscale", ROWS, runtime={"device": "cpu", "precision": "fp32"}, summary={"images": 2})
    data = json.loads(render_report(report, "json"))
    assert data["command"] == "upscale" and data["device"] == "cpu" and data["rows"][0]["psnr"] == "inf"
    assert data["summary"] == {"images": 2} and "version" in data


def test_csv_has_union_of_columns():
    text = render_report(make_report("x", ROWS), "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["input", "psnr", "output_size", "extra"]
    assert rows[0]["output_size"] == "4x6" and rows[1]["psnr"] == "31.2500" and rows[0]["extra"] == ""


def test_csv_rows_carry_device_and_precision():
    report = make_report("x", ROWS + [{"input": "c", "device": "cuda:1"}],
                         runtime={"device": "cpu", "precision": "bf16", "threads": 2})
    rows = list(csv.DictReader(io.StringIO(render_report(report, "csv"))))
    assert [(r["device"], r["precision"]) for r in rows] == [("cpu", "bf16"), ("cpu", "bf16"), ("cuda:1", "bf16")]
    assert "threads" not in rows[0]


def test_markdown_table():
    text = render_report(make_report("x", ROWS, summary={"mean": 1.5}), "md")
    assert "| input | psnr | output_size | extra |" in text and "- mean: 1.5000" in text


def test_write_by_suffix_and_bad_suffix(tmp_path):
    write_report(str(tmp_path / "r.md"), make_report("x", ROWS))
    assert (tmp_path / "r.md").read_text().startswith("# srcli x")
    with pytest.raises(UsageError, match=r"\.json, \.csv or \.md"):
        write_report(str(tmp_path / "r.txt"), make_report("x", ROWS))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.md"]


def test_write_text_atomic_replaces_whole_files_and_leaves_no_temporary(tmp_path, monkeypatch):
    from srcli.io import reports

    target = tmp_path / "r.md"
    reports.write_text_atomic(str(target), "old é")
    reports.write_text_atomic(str(target), "new")
    assert target.read_text(encoding="utf-8") == "new"

    def fail(*_args):
        raise OSError("disk full")

    monkeypatch.setattr("srcli.io.atomic.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        reports.write_text_atomic(str(target), "partial")
    assert target.read_text(encoding="utf-8") == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["r.md"]


def test_a_report_makes_its_folder(tmp_path):
    from srcli.io.reports import make_report, write_report

    write_report(str(tmp_path / "new" / "deeper" / "r.json"), make_report("x", [{"a": 1}]))
    assert json.loads((tmp_path / "new" / "deeper" / "r.json").read_text())["rows"] == [{"a": 1}]
