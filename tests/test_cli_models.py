"""`srcli models`: the registry as a table or JSON, with each shipped model's card."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from srcli.cli.app import app
from srcli.cli.models import card_summary
from srcli.registry import WEIGHTS_DIR

runner = CliRunner()


def test_card_summary_names_training_data_validation_and_benchmarks() -> None:
    card = {"steps": 9000, "wall_time_s": 7200, "hardware": {"device": "cpu", "precision": "bf16", "threads": 2},
            "data": ["wiki", "t91"], "images": 530, "validation": {"data": "val", "psnr_x4": 26.451, "psnr": 28.2},
            "quality": {"rows": [{"dataset": "b100", "scale": 4.0, "psnr": 26.997, "bicubic_psnr": 25.964},
                                 {"dataset": "b100", "scale": 2.0, "psnr": 31.4}, {"dataset": "b100", "scale": 8.0, "psnr": 24.4}]},
            "initialised_from": {"model": "liif", "from": "best.pt", "steps": 9000}}
    assert card_summary(card).splitlines() == [
        "9000 steps, 2.0 h wall on cpu bf16 x2 threads", "data: wiki, t91 (530 images)", "validation PSNR x4 26.45",
        "b100 x4: 27.00 dB (bicubic 25.96)", "also x2, x8 (--json)",
        "started from liif at step 9000 (best.pt; the steps above are its own)"]
    assert card_summary({}) == ""


def test_card_summary_shows_points_rows_with_their_baselines() -> None:
    rows = [{"task": "points", "dataset": "kodak24", "ratio": 0.2, "psnr": 27.404, "options": {"irregular": True},
             "baselines": {"cubic": 26.134, "linear": 26.351}},
            {"task": "inpaint", "dataset": "b100", "drop": 0.8, "psnr": 26.0, "options": {}, "baselines": {}}]
    assert card_summary({"steps": 10, "quality": {"rows": rows}}).splitlines()[1:] == [
        "kodak24 points ratio 0.2 irregular: 27.40 dB (cubic 26.13, linear 26.35)", "b100 inpaint drop 0.8: 26.00 dB"]


def test_models_table_and_json_show_the_shipped_cards() -> None:
    shipped = sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt"))
    rows = {row["name"]: row for row in json.loads(runner.invoke(app, ["models", "--json"]).stdout)}
    assert {"bicubic", "lanczos3", "bilinear", "nearest", "liif", "a-liif", "diinn", "isp-points", "siren"} <= set(rows)
    for name, row in rows.items():
        assert (row["weights"] == "shipped") == (name in shipped) and bool(row["card"]) == (name in shipped)
    table = runner.invoke(app, ["models", "*liif*"], env={"COLUMNS": "200"})
    names = [line.split("│")[1].strip() for line in table.stdout.splitlines() if line.startswith("│")]
    assert table.exit_code == 0 and {n for n in names if n} == {"liif", "a-liif"}  # the pattern filters
    for name in shipped:
        if name in ("liif", "a-liif"):
            assert f"{rows[name]['card']['steps']} steps" in table.stdout


def test_filters_unknown_task_and_no_match() -> None:
    bad = runner.invoke(app, ["models", "--task", "bogus"])
    assert bad.exit_code == 2 and "unknown --task 'bogus'; use one of fit, points, upscale" in bad.stderr
    none = runner.invoke(app, ["models", "nosuch*", "--json"])
    assert none.exit_code == 0 and json.loads(none.stdout) == [] and "no model matches nosuch*" in none.stderr
    assert {r["task"] for r in json.loads(runner.invoke(app, ["models", "--task", "points", "--json"]).stdout)} == {"points"}
