"""``srcli bench``: quality tables, speed tables and crop grids (a Typer sub-app).

Tables go to stderr (Rich); ``--json`` prints the report on stdout; ``--report`` writes
JSON, CSV or Markdown. The work is done by :mod:`srcli.tasks.bench`,
:mod:`srcli.tasks.bench_speed` and :mod:`srcli.tasks.bench_plots`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Optional

import typer

from srcli.cli.common import (
    DeviceOpt, JsonOpt, OverwriteOpt, Progress, QuietOpt, ReportOpt, ThreadsOpt, handles_errors, stderr,
)

bench_app = typer.Typer(
    name="bench",
    help="Benchmarks: quality tables (PSNR/SSIM/LR-PSNR), speed tables, crop grids.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

BenchPrecisionOpt = Annotated[str, typer.Option("--precision", help="fp32 (default, reproducible), bf16, fp16 or auto.", rich_help_panel="Compute")]
WeightsOpt = Annotated[Optional[list[str]], typer.Option("--weights", help="NAME=CHECKPOINT for a learned model (repeatable).", show_default=False)]


def parse_pairs(items: list[str] | None, flag: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; anything else is a user error."""
    from srcli.errors import UsageError

    pairs: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UsageError(f"{flag} takes NAME=VALUE, got {item!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def _fmt(value: Any, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}f}"


METRIC_DIGITS = {"psnr": 2, "ssim": 4, "lr_psnr": 2}


def print_means(means: list[dict[str, Any]], setting_name: str, metrics: list[str]) -> None:
    """The mean rows as a Rich table on stderr."""
    from rich import box
    from rich.table import Table

    table = Table(title="bench quality: means per dataset, model and " + setting_name, box=box.SIMPLE_HEAD)
    has_gain = any("gain_db" in r for r in means)
    columns = ["dataset", "model", setting_name, "n", *[m.replace("_", "-") for m in metrics]]
    for column in [*columns, *(["gain"] if has_gain else []), "s/img"]:
        text = column in ("dataset", "model")
        table.add_column(column, justify="left" if text else "right", no_wrap=text)
    for row in means:
        setting = row[setting_name]
        cells = [row["dataset"], row["model"], f"{setting:g}" if isinstance(setting, float) else str(setting), str(row["images"])]
        cells += [_fmt(row.get(m), METRIC_DIGITS.get(m, 4)) for m in metrics]
        cells += [f"{row['gain_db']:+.2f}" if "gain_db" in row else "-"] if has_gain else []
        table.add_row(*cells, _fmt(row.get("seconds"), 3))
    stderr.print(table)


def print_gains(gains: dict[str, dict[str, float]], baseline: str | None, ranking: list[tuple[str, float]]) -> None:
    """The model-by-dataset gain table and the dataset ranking on stderr."""
    from rich import box
    from rich.table import Table

    datasets = list(next(iter(gains.values())))
    table = Table(title=f"mean PSNR gain over {baseline} (dB), model by dataset", box=box.SIMPLE_HEAD)
    table.add_column("model", no_wrap=True)
    for dataset in datasets:
        table.add_column(dataset, justify="right")
    for model, per in gains.items():
        table.add_row(model, *[f"{per[d]:+.3f}" for d in datasets])
    stderr.print(table)
    stderr.print("dataset ranking (mean gain of the other models): "
                 + " > ".join(f"{name} ({gain:+.3f})" for name, gain in ranking), markup=False)


def _refuse_untaken(ctx: typer.Context, task: str, taken: list[str]) -> None:
    """UsageError for ``--y/--rgb``, ``--quantize``, ``--tile`` or ``--chunk`` given to a task that ignores it."""
    from srcli.cli.common import given_on_command_line, option_name
    from srcli.errors import UsageError

    for name in ("y_channel", "quantize", "tile", "chunk"):
        if name not in taken and given_on_command_line(ctx, name):
            raise UsageError(f"{option_name(ctx, name)} is not an option of --task {task}")


@bench_app.command("quality", no_args_is_help=True)
@handles_errors
def quality_command(
    ctx: typer.Context,
    datasets: Annotated[list[str], typer.Argument(help="Dataset folders of ground-truth images.", show_default=False)],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Comma-separated models, e.g. bicubic,lanczos3,liif. Default: the task's classical methods (upscale: bicubic; points, inpaint: nearest,linear,cubic,rbf; linr: linr,classical).", show_default=False)] = None,
    scale: Annotated[Optional[str], typer.Option("--scale", "--ratio", "--drop", "--case", "--setting", "-s", help="Comma-separated settings of the task: scales (>= 1) for upscale (default 2,3,4), sample ratios for points (default 0.2), missing fractions for inpaint (default 0.5,0.8), cases for linr (default sr:4).", show_default=False)] = None,
    metrics: Annotated[Optional[str], typer.Option("--metrics", help="Comma-separated: psnr, ssim, lr-psnr (default psnr,ssim).")] = None,
    y_channel: Annotated[bool, typer.Option("--y/--rgb", help="Y channel of BT.601 (the protocol) or all RGB channels.")] = True,
    quantize: Annotated[bool, typer.Option("--quantize/--no-quantize", help="Round the LR input to 8 bits, as a stored PNG.")] = True,
    task: Annotated[str, typer.Option("--task", help="Bench task: upscale, points (from scattered samples), inpaint (missing pixels), linr (one SIREN fitted per image).")] = "upscale",
    irregular: Annotated[Optional[bool], typer.Option("--irregular/--regular", help="points: fractional sample positions (values interpolated) or integer pixel positions.", show_default=False)] = None,
    opt: Annotated[Optional[list[str]], typer.Option("--opt", help="Task option KEY=VALUE (repeatable).", show_default=False)] = None,
    weights: WeightsOpt = None,
    max_images: Annotated[Optional[int], typer.Option("--max-images", help="Only the first N images of each folder.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of random degradations.")] = 0,
    plot: Annotated[Optional[str], typer.Option("--plot", help="Folder for PSNR-against-scale charts (needs the plot extra: pip install 'srcli\\[plot]').", rich_help_panel="Output")] = None,
    tile: Annotated[Optional[int], typer.Option("--tile", help="LR tile side for learned models.", rich_help_panel="Compute")] = None,
    chunk: Annotated[Optional[int], typer.Option("--chunk", help="Queries per decoder call.", rich_help_panel="Compute")] = None,
    device: DeviceOpt = "auto",
    precision: BenchPrecisionOpt = "fp32",
    threads: ThreadsOpt = None,
    report: ReportOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> int:
    """PSNR / SSIM / LR-PSNR of models on benchmark folders, under the literature's protocol.

    HR mod-cropped, LR by MATLAB bicubic rounded to 8 bits, Y channel, shave ceil(scale).

    Examples:

      srcli bench quality data/set5 data/set14 --model bicubic,liif --scale 2,3,4 --report q.md

      srcli bench quality data/set5 --model bicubic --scale 2.5,6 --metrics psnr,lr-psnr --plot charts/
    """
    from srcli.cli.common import emit_report, with_invocation
    from srcli.errors import UsageError
    from srcli.io.reports import check_report_path
    from srcli.tasks.bench import bench_quality, get_bench_task
    from srcli.tasks.bench_report import write_bench_report
    from srcli.tasks.bench_plots import check_plot_folder, plot_quality, require_matplotlib

    if report:
        check_report_path(report)
    bench_task = get_bench_task(task)
    _refuse_untaken(ctx, task, [*(k for k in ("y_channel", "quantize") if k in bench_task.options),
                                *(("tile", "chunk") if task == "upscale" else ())])
    options: dict[str, Any] = {k: v for k, v in (("y_channel", y_channel), ("quantize", quantize))
                               if k in bench_task.options}
    if irregular is not None:
        if "irregular" not in bench_task.options:
            raise UsageError(f"--irregular/--regular are options of --task points, not of --task {task}")
        options["irregular"] = irregular
    options.update(parse_pairs(opt, "--opt"))
    if plot:
        require_matplotlib()
        if metrics and "psnr" not in [m.strip().lower() for m in metrics.split(",")]:
            raise UsageError("--plot draws PSNR: add psnr to --metrics")
        check_plot_folder(plot, datasets)
    bars: list[Progress] = []

    def progress_factory(total: int) -> Progress:
        bars.append(Progress("bench", total, quiet=quiet or total < 2))
        return bars[-1]

    try:
        result_report, result, plan = bench_quality(
            datasets, models=model or bench_task.default_methods, settings=scale or bench_task.default_settings, task=task, metrics=metrics, options=options,
            weights=parse_pairs(weights, "--weights"), device=device, precision=precision, threads=threads,
            tile=tile, chunk=chunk, max_images=max_images, seed=seed, progress_factory=progress_factory)
    finally:
        for bar in bars:
            bar.close()
    print_means(result.means, plan.task.setting_name, plan.metrics)
    if result.gains and len(datasets) > 1:
        print_gains(result.gains, plan.task.baseline, result.dataset_ranking(plan.task.baseline))
    if report:
        write_bench_report(report, with_invocation(result_report))
    emit_report(result_report, report_path=None, as_json=as_json)
    if plot:
        for path in plot_quality(result.means, plot, setting_name=plan.task.setting_name):
            stderr.print(f"chart: {path}", markup=False)
    return 0


def _numbers(text: Optional[str], flag: str, kind: type) -> Optional[list[Any]]:
    from srcli.errors import UsageError
    from srcli.tasks.bench import parse_list

    if text is None:
        return None
    values = []
    for item in parse_list(text, flag):
        try:
            values.append(kind(item))
        except ValueError:
            raise UsageError(f"bad {flag} list {text!r}: {item!r} is not a{'n integer' if kind is int else ' number'}") from None
    return values


def _ms(value: float) -> str:
    """Milliseconds with three significant digits or so (0.213, 1.48, 27.5, 504)."""
    return f"{value:.3f}" if value < 1 else f"{value:.3g}" if value < 1000 else f"{value:.0f}"


def print_speed(rows: list[dict[str, Any]]) -> None:
    """The speed rows as a Rich table on stderr."""
    from rich import box
    from rich.table import Table

    title = "bench speed (ms; peak memory in MiB)"
    if rows:
        title += f": {rows[0]['input']} input, {rows[0]['device']}, {rows[0]['threads']} thread(s)"
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for column in ("model", "prec", "output", "median", "IQR", "min", "Mpx/s", "peak"):
        text = column in ("model", "prec")
        table.add_column(column, justify="left" if text else "right", no_wrap=True)
    for r in rows:
        table.add_row(r["model"], r["precision"], r["output"], _ms(r["ms_median"]), f"{_ms(r['ms_q1'])}-{_ms(r['ms_q3'])}",
                      _ms(r["ms_min"]), f"{r['mpix_per_s']:.3g}", _fmt(r["peak_mem_mb"], 1))
    stderr.print(table)


@bench_app.command("speed")
@handles_errors
def speed_command(
    model: Annotated[str, typer.Option("--model", "-m", help="Comma-separated models.")] = "bicubic,lanczos3,bilinear,nearest",
    input_size: Annotated[int, typer.Option("--input", help="Side of the random square input.")] = 48,
    output: Annotated[Optional[str], typer.Option("--output", help="Comma-separated output sides [default: 128,256,512].", show_default=False)] = None,
    scale: Annotated[Optional[str], typer.Option("--scale", "-s", help="Comma-separated scales instead of --output.")] = None,
    precision: Annotated[str, typer.Option("--precision", help="Comma-separated precisions: fp32, bf16, fp16, auto.", rich_help_panel="Compute")] = "fp32",
    repeats: Annotated[int, typer.Option("--repeats", help="Timed runs per configuration.")] = 5,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed runs first.")] = 1,
    isolate: Annotated[bool, typer.Option("--isolate", help="Each configuration in a fresh process (slower; CPU memory independent of the others).")] = False,
    weights: WeightsOpt = None,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = None,
    report: ReportOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> int:
    """Time models: median ms, spread, output Mpx/s and peak memory (DIINN protocol by default).

    Examples:

      srcli bench speed                       # classical kernels, 48x48 -> 128/256/512

      srcli bench speed -m liif,diinn --device cuda --precision fp32,bf16 --report speed.md
    """
    from srcli.cli.common import emit_report, with_invocation
    from srcli.io.reports import check_report_path
    from srcli.tasks.bench import parse_list
    from srcli.tasks.bench_report import write_bench_report
    from srcli.tasks.bench_speed import bench_speed, plan_speed

    if report:
        check_report_path(report)
    configs = plan_speed(parse_list(model, "--model"), input_size=input_size, outputs=_numbers(output, "--output", int),
                         scales=_numbers(scale, "--scale", float), device=device, precisions=parse_list(precision, "--precision"),
                         repeats=repeats, warmup=warmup, threads=threads, weights=parse_pairs(weights, "--weights"))
    bar = Progress("speed", len(configs), quiet=quiet or len(configs) < 2)
    try:
        result_report = bench_speed(configs, isolate=isolate, progress=bar)
    finally:
        bar.close()
    print_speed(result_report["rows"])
    if report:
        write_bench_report(report, with_invocation(result_report))
    emit_report(result_report, report_path=None, as_json=as_json)
    return 0


@bench_app.command("crops", no_args_is_help=True)
@handles_errors
def crops_command(
    image: Annotated[str, typer.Argument(help="Ground-truth image.", show_default=False)],
    box: Annotated[str, typer.Option("--box", help="Region x,y,w,h in ground-truth pixels.", show_default=False)],
    output: Annotated[str, typer.Option("--output", "-o", help="Grid image to write (PNG).", show_default=False)],
    scale: Annotated[float, typer.Option("--scale", "-s", help="SR factor (>= 1).")] = 4.0,
    model: Annotated[str, typer.Option("--model", "-m", help="Comma-separated models shown after bicubic.")] = "bicubic",
    zoom: Annotated[Optional[int], typer.Option("--zoom", help="Enlargement of each crop [default: about 256 px].", show_default=False)] = None,
    weights: WeightsOpt = None,
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = "auto",
    precision: BenchPrecisionOpt = "fp32",
    as_json: JsonOpt = False,
) -> int:
    """A side-by-side grid of one region: ground truth, bicubic, each model, with crop PSNR.

    Example:

      srcli bench crops data/set14/zebra.png --scale 4 --box 200,120,64,64 -m lanczos3,liif -o zebra_grid.png
    """
    from srcli.cli.common import print_json
    from srcli.tasks.bench import parse_list
    from srcli.tasks.bench_plots import crops_grid, parse_box

    info = crops_grid(image, output, scale=scale, box=parse_box(box), models=parse_list(model, "--model"),
                      weights=parse_pairs(weights, "--weights"), zoom=zoom, device=device, precision=precision,
                      overwrite=overwrite)
    stderr.print(f"grid: {output} (" + ", ".join(f"{p['label']} {_fmt(p['psnr'], 2)} dB" for p in info["panels"][1:]) + ")",
                 markup=False)
    if as_json:
        print_json("bench crops", info)
    return 0
