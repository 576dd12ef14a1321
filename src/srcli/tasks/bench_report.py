"""Quality bench results: mean rows, the gain table, and the report (JSON, CSV, Markdown).

Plain functions over the row dicts of :func:`srcli.tasks.bench.run_quality`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from srcli.tasks.bench import Dataset, QualityPlan, QualityResult


def mean_rows(rows: list[dict[str, Any]], setting_name: str, columns: list[str]) -> list[dict[str, Any]]:
    """One row per (dataset, model, setting) with the plain mean of ``columns`` over its image rows."""
    groups: dict[tuple[str, str, Any], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["model"], row[setting_name]), []).append(row)
    means = []
    for (dataset, model, setting), members in groups.items():
        mean = {"kind": "mean", "dataset": dataset, "image": "(mean)", "model": model, setting_name: setting,
                "images": len(members)}
        for column in columns:
            if all(column in m for m in members):
                mean[column] = sum(m[column] for m in members) / len(members)
        means.append(mean)
    return means


def gain_table(means: list[dict[str, Any]]) -> dict[str, dict[str, float]] | None:
    """Mean PSNR gain over the baseline, method by dataset: the mean over settings of the mean gains."""
    cells: dict[str, dict[str, list[float]]] = {}
    for row in means:
        if "gain_db" in row:
            cells.setdefault(row["model"], {}).setdefault(row["dataset"], []).append(row["gain_db"])
    if not cells:
        return None
    return {model: {d: sum(v) / len(v) for d, v in per.items()} for model, per in cells.items()}


def protocol_text(plan: QualityPlan) -> str:
    """One line naming the protocol actually used (goes into the report header)."""
    if plan.task.name != "upscale":
        described = f"{plan.task.protocol}; " if plan.task.protocol else ""
        return f"{described}task {plan.task.name}, options {plan.options}"
    o = plan.options
    channels = "Y BT.601 (grey images: grey values), 255 peak" if o["y_channel"] else "all channels, peak 1"
    lr = "MATLAB bicubic LR rounded to 8 bits" if o["quantize"] else "MATLAB bicubic LR, not rounded"
    return f"{lr}; SR {'clamped to [0,1]' if o['clamp'] else 'as is'}; {channels}; shave ceil(scale); float64"


def quality_report(result: QualityResult, plan: QualityPlan, datasets: list[Dataset],
                   runtime: dict[str, Any]) -> dict[str, Any]:
    """The report dict: image rows then mean rows; summary with the gain table and dataset ranking."""
    from srcli.io.reports import make_report

    summary: dict[str, Any] = {
        "datasets": [d.name for d in datasets], "images": sum(len(d.images) for d in datasets),
        "models": plan.methods, plan.task.setting_name: plan.settings, "metrics": plan.metrics,
    }
    if result.gains:
        summary[f"psnr_gain_over_{plan.task.baseline}"] = result.gains
        summary["dataset_ranking"] = [name for name, _ in result.dataset_ranking(plan.task.baseline)]
    return make_report("bench quality", [*result.rows, *result.means], runtime=runtime, summary=summary,
                       task=plan.task.name, protocol=protocol_text(plan), options=dict(plan.options))


def gain_markdown(gains: dict[str, dict[str, float]], baseline: str | None) -> str:
    """The gain table as Markdown: one row per method, one column per dataset (dB)."""
    datasets = list(next(iter(gains.values())))
    lines = [f"## Mean PSNR gain over {baseline} (dB)", "", "| model | " + " | ".join(datasets) + " |",
             "|---|" + "---|" * len(datasets)]
    lines += [f"| {m} | " + " | ".join(f"{per[d]:+.3f}" for d in datasets) + " |" for m, per in gains.items()]
    return "\n".join(lines) + "\n"


def write_bench_report(path: str, report: dict[str, Any]) -> None:
    """Write a bench report: JSON and CSV as :func:`srcli.io.reports.write_report`; Markdown with
    summary lists comma-separated and the gain table (a nested summary entry) as its own table."""
    from srcli.io.reports import (
        check_report_path,
        render_report,
        write_report,
        write_text_atomic,
    )

    if check_report_path(path) != "md":
        write_report(path, report)
        return
    flat = {k: ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v) if isinstance(v, list) else v
            for k, v in report["summary"].items() if not isinstance(v, dict)}
    text = render_report({**report, "summary": flat}, "md")
    for key, value in report["summary"].items():
        if isinstance(value, dict) and key.startswith("psnr_gain_over_"):
            text += "\n" + gain_markdown(value, key.removeprefix("psnr_gain_over_"))
    write_text_atomic(path, text)
