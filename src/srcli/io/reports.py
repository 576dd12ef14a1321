"""Reports: one dict ``{command, version, runtime, rows, summary}`` rendered as JSON, CSV or Markdown."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from srcli.errors import UsageError
from srcli.io.atomic import atomic_write

REPORT_SUFFIXES = (".json", ".csv", ".md")
#: run-level settings repeated on every CSV line (a CSV file has no place for them otherwise)
CSV_RUN_COLUMNS = ("device", "precision")


def make_report(command: str, rows: list[dict[str, Any]], *, runtime: dict[str, Any] | None = None,
                summary: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """Assemble a report dict (JSON-ready)."""
    from srcli import __version__

    return {"command": command, "version": __version__, **(runtime or {}), **extra, "rows": rows, "summary": summary or {}}


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def to_json(report: dict[str, Any]) -> str:
    """JSON text (non-finite floats as strings, so the output is strict JSON)."""
    return json.dumps(_clean(report), indent=2, default=_json_default) + "\n"


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    return columns


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):  # sizes [W, H] read as WxH, other lists comma-separated
        is_size = len(value) == 2 and all(isinstance(v, int) for v in value)
        return ("x" if is_size else ", ").join(_cell(v) for v in value)
    return "" if value is None else str(value)


def to_csv(report: dict[str, Any]) -> str:
    """One CSV line per row, columns in order of first appearance, then the run's device and precision."""
    run = {k: report[k] for k in CSV_RUN_COLUMNS if k in report}
    rows = [{**row, **{k: v for k, v in run.items() if k not in row}} for row in report["rows"]]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = _columns(rows)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def to_markdown(report: dict[str, Any]) -> str:
    """A Markdown table of the rows, with the run's settings and summary above."""
    lines = [f"# srcli {report['command']}", ""]
    for key, value in report.items():
        if key not in {"rows", "summary", "command"}:
            lines.append(f"- {key}: {_cell(value)}")
    for key, value in report.get("summary", {}).items():
        lines.append(f"- {key}: {_cell(value)}")
    columns = _columns(report["rows"])
    if columns:
        lines += ["", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in report["rows"]]
    return "\n".join(lines) + "\n"


def render_report(report: dict[str, Any], fmt: str) -> str:
    """Render ``report`` as ``json``, ``csv`` or ``md``."""
    return {"json": to_json, "csv": to_csv, "md": to_markdown}[fmt](report)


def check_report_path(path: str) -> str:
    """Return the report format for ``path`` from its suffix.

    Raises:
        UsageError: unknown suffix, a folder, or a parent that is a file.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in REPORT_SUFFIXES:
        raise UsageError(f"report file {path} must end in .json, .csv or .md")
    if Path(path).is_dir():
        raise UsageError(f"report path {path} is a folder; give a file name")
    if Path(path).parent.exists() and not Path(path).parent.is_dir():
        raise UsageError(f"report {path}: {Path(path).parent} is a file, not a folder")
    return suffix[1:]


def write_text_atomic(path: str, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` through a temporary file (missing folders created):
    readers see the old file or the new one."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda fh: fh.write(text), text=True)


def write_report(path: str, report: dict[str, Any]) -> None:
    """Write ``report`` to ``path`` atomically, format from the suffix."""
    write_text_atomic(path, render_report(report, check_report_path(path)))
