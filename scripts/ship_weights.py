"""Ship a trained checkpoint inside the package: fp16 weights with a model card.

Reads a run's ``best.pt`` (or ``last.pt``), keeps its card (data, steps, wall time,
hardware, protocol, validation PSNR), replaces machine paths by folder names, adds the
quality figures of ``srcli bench quality`` JSON reports (mean PSNR/SSIM per dataset and
setting: upscale scales with bicubic's PSNR beside, points ratios and inpaint drops with
the classical methods' PSNR beside) and a free-text note, and writes
``src/srcli/weights/NAME.pt`` with fp16 tensors (``srcli models`` shows the card; the
commands load it by name).

Usage::

    python scripts/ship_weights.py runs/liif/best.pt --name liif \\
        --bench reports/liif_quality.json --note "wall time includes ..."
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))  # the source tree's srcli, installed or not


#: settings a card can show (the bench tasks upscale, points, inpaint)
SETTING_COLUMNS = ("scale", "ratio", "drop")
#: the name a model's rows carry in bench reports, where it differs (``--model isp`` of the points tasks)
BENCH_METHOD = {"isp-points": "isp"}


def quality_table(reports: list[Path], model: str) -> list[dict[str, Any]]:
    """Mean PSNR/SSIM of ``model`` per report, dataset and setting, with the baselines' PSNR.

    Upscale rows keep the shape of the SR cards (``scale``, ``bicubic_psnr``); points and
    inpaint rows name their ``task``, setting (``ratio`` or ``drop``), the report's task
    ``options`` and ``baselines`` (PSNR of each classical method the report holds).
    """
    return [row for path in reports for row in _report_quality(json.loads(path.read_text()), model)]


def _report_quality(report: dict[str, Any], model: str) -> list[dict[str, Any]]:
    from srcli.tasks.bench_report import mean_rows
    from srcli.tasks.bench_tasks import get_bench_task

    task = report.get("task", "upscale")
    bench_task = get_bench_task(task)
    setting = bench_task.setting_name
    baseline_methods = bench_task.default_methods.split(",")  # the task's classical comparison set
    rows = [r for r in report["rows"] if r.get("kind") == "image"]
    if setting not in SETTING_COLUMNS:
        raise SystemExit(f"a {task} report without a {'/'.join(SETTING_COLUMNS)} column cannot go on a card")
    if task != "upscale" and "options" not in report:
        raise SystemExit(f"the {task} report names no task options; run srcli bench quality again")
    means = {(m["dataset"], m["model"], m[setting]): m for m in mean_rows(rows, setting, ["psnr", "ssim"])}
    table = []
    for (dataset, name, value), mean in sorted(means.items()):
        if name not in (model, BENCH_METHOD.get(model)):
            continue
        entry = {"dataset": dataset, setting: value, "images": mean["images"], "psnr": round(mean["psnr"], 3),
                 "ssim": round(mean["ssim"], 4), "precision": report.get("precision", "fp32")}
        baselines = {b: round(means[(dataset, b, value)]["psnr"], 3) for b in baseline_methods
                     if (dataset, b, value) in means}
        if task == "upscale":
            if "bicubic" in baselines:
                entry["bicubic_psnr"] = baselines["bicubic"]
        else:
            entry = {"task": task, **entry, "options": report["options"], "baselines": baselines}
        table.append(entry)
    return table


def shipped_card(card: dict[str, Any], quality: list[dict[str, Any]], note: str | None) -> dict[str, Any]:
    """The run's card with folder names instead of machine paths, plus quality figures and a note."""
    shipped = dict(card)
    shipped["data"] = [Path(d).name for d in card.get("data", [])]
    validation = dict(card.get("validation") or {})
    if validation.get("data"):
        validation["data"] = Path(validation["data"]).name
    shipped["validation"] = validation or None
    if "initialised_from" in card:
        shipped["initialised_from"] = {**card["initialised_from"], "from": Path(card["initialised_from"]["from"]).name}
    if quality:
        upscale_rows = sum("task" not in row for row in quality)
        if 0 < upscale_rows < len(quality):
            raise SystemExit("upscale and points/inpaint reports go on different models' cards, not one")
        protocol = ("srcli bench quality: Y PSNR/SSIM, MATLAB bicubic LR, shave ceil(scale)" if upscale_rows else
                    "srcli bench quality --task points/inpaint: RGB PSNR/SSIM, peak 1, whole image")
        shipped["quality"] = {"protocol": protocol + "; each row's precision", "rows": quality}
    if note:
        shipped["note"] = note
    return shipped


def main() -> None:
    """Parse the arguments, build the card, write the fp16 checkpoint."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--name", required=True, help="registered model name; the file is weights/NAME.pt")
    parser.add_argument("--bench", type=Path, nargs="*", default=[], help="bench quality JSON reports")
    parser.add_argument("--note", default=None)
    args = parser.parse_args()

    from srcli.registry import load_checkpoint, save_checkpoint

    model, card = load_checkpoint(args.checkpoint)
    if model.spec["name"] != args.name:  # type: ignore[attr-defined]
        raise SystemExit(f"{args.checkpoint} holds {model.spec['name']!r}, not {args.name!r}")  # type: ignore[attr-defined]
    target = ROOT / "src" / "srcli" / "weights" / f"{args.name}.pt"
    target.parent.mkdir(exist_ok=True)
    save_checkpoint(target, model, shipped_card(card, quality_table(args.bench, args.name), args.note), half=True)
    print(f"wrote {target} ({target.stat().st_size / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main()
