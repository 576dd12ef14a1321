"""``srcli models``: list registered models with their cards."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Optional

import typer

from srcli.cli.common import handles_errors


def model_rows(pattern: Optional[str] = None, task: Optional[str] = None) -> list[dict[str, Any]]:
    """One dict per registered model: name, task, family, parameters, weights, card."""
    from srcli.registry import create, list_models, read_checkpoint

    rows = []
    for entry in list_models(pattern, task=task):
        params = sum(p.numel() for p in create(entry.name).parameters())
        card: dict[str, Any] = {}
        if entry.trainable and entry.weights_path.is_file():
            card = read_checkpoint(entry.weights_path).get("card", {})
        rows.append({"name": entry.name, "task": entry.task, "family": entry.family, "parameters": params,
                     "weights": "shipped" if entry.trainable and entry.has_weights else ("none needed" if not entry.trainable else "none"),
                     "description": entry.description, "card": card})
    return rows


#: the scale whose benchmark rows the table shows (the literature's headline)
HEADLINE_SCALE = 4.0


def card_summary(card: dict[str, Any]) -> str:
    """A model card in a few lines: training, data, validation, x4 benchmark rows (``--json`` has all)."""
    if not card:
        return ""
    hardware = card.get("hardware") or {}
    lines = [f"{card.get('steps', '?')} steps, {float(card.get('wall_time_s', 0)) / 3600:.1f} h wall on "
             f"{hardware.get('device', '?')} {hardware.get('precision', '')} x{hardware.get('threads', '?')} threads"]
    if card.get("data"):
        lines.append(f"data: {', '.join(map(str, card['data']))} ({card.get('images', '?')} images)")
    validation = card.get("validation") or {}
    scores = {k.removeprefix("psnr_"): v for k, v in validation.items() if k.startswith("psnr_")}
    if scores:
        lines.append("validation PSNR " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
    rows = (card.get("quality") or {}).get("rows", [])
    headline = [row for row in rows if row.get("scale", HEADLINE_SCALE) == HEADLINE_SCALE] or rows
    lines += [quality_line(row) for row in headline]
    other_scales = sorted({row["scale"] for row in rows if "scale" in row} - {row.get("scale") for row in headline})
    if other_scales:
        lines.append("also x" + ", x".join(f"{s:g}" for s in other_scales) + " (--json)")
    init = card.get("initialised_from")
    if init:
        at_step = f" at step {init['steps']}" if init.get("steps") is not None else ""
        lines.append(f"started from {init.get('model')}{at_step} ({init.get('from')}; the steps above are its own)")
    return "\n".join(lines)


def quality_line(row: dict[str, Any]) -> str:
    """One benchmark row of a card: ``set5 x4: 30.85 dB (bicubic 28.43)`` or, for the points
    tasks, ``kodak24 points ratio 0.2 irregular: 27.28 dB (nearest 24.64, linear 26.35, ...)``."""
    if "scale" in row:
        bicubic = f" (bicubic {row['bicubic_psnr']:.2f})" if "bicubic_psnr" in row else ""
        return f"{row['dataset']} x{row['scale']:g}: {row['psnr']:.2f} dB{bicubic}"
    setting = next((f"{key} {row[key]:g}" for key in ("ratio", "drop") if key in row), "")
    irregular = " irregular" if (row.get("options") or {}).get("irregular") else ""
    baselines = ", ".join(f"{name} {psnr:.2f}" for name, psnr in (row.get("baselines") or {}).items())
    return (f"{row['dataset']} {row.get('task', '')} {setting}{irregular}: {row['psnr']:.2f} dB"
            + (f" ({baselines})" if baselines else ""))


@handles_errors
def models_command(
    pattern: Annotated[Optional[str], typer.Argument(help="Glob filter on names, e.g. '*liif*'.")] = None,
    task: Annotated[Optional[str], typer.Option("--task", help="Only models for this task: upscale, points, fit.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> int:
    """List the models srcli knows, with parameters, shipped weights and model cards."""
    from srcli.cli.common import stderr
    from srcli.errors import UsageError
    from srcli.registry import list_models

    tasks = sorted({entry.task for entry in list_models()})
    if task is not None and task not in tasks:
        raise UsageError(f"unknown --task {task!r}; use one of {', '.join(tasks)}")
    rows = model_rows(pattern, task)
    if not rows:
        stderr.print(f"no model matches {pattern or '*'}" + (f" with --task {task}" if task else ""), markup=False)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="srcli models")
    for column in ("name", "task", "family", "params", "weights", "card / description"):
        table.add_column(column, justify="right" if column == "params" else "left")
    for row in rows:
        card = row["card"]
        summary = f"{row['description']}\n{card_summary(card)}".strip()
        table.add_row(row["name"], row["task"], row["family"], f"{row['parameters'] / 1e6:.2f} M" if row["parameters"] else "-",
                      row["weights"], summary)
    Console().print(table)
    return 0
