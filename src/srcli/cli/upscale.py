"""``srcli upscale``: parse, call :func:`srcli.tasks.upscale.upscale_files`, print."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from srcli.cli.common import (
    DeviceOpt, JsonOpt, OverwriteOpt, PrecisionOpt, Progress, QuietOpt, ReportOpt, SkipOpt, ThreadsOpt,
    emit_report, error, handles_errors, parse_size_option,
)

SIZE = "Size (give one)"


@handles_errors
def upscale_command(
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders, glob patterns, or - for stdin.", metavar="INPUT...", show_default=False)],
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Output file (one input), folder, or - for stdout. Default: next to each input.", rich_help_panel="Output")] = None,
    scale: Annotated[Optional[float], typer.Option("--scale", "-s", help="Scale factor; output side = floor(scale*side + 0.5).", rich_help_panel=SIZE)] = None,
    size: Annotated[Optional[str], typer.Option("--size", help="Exact output size WxH.", rich_help_panel=SIZE)] = None,
    width: Annotated[Optional[int], typer.Option("--width", help="Output width; height keeps the aspect.", rich_help_panel=SIZE)] = None,
    height: Annotated[Optional[int], typer.Option("--height", help="Output height; width keeps the aspect.", rich_help_panel=SIZE)] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Model name (see `srcli models`) or checkpoint path. Default: the best shipped model.")] = "default",
    weights: Annotated[Optional[str], typer.Option("--weights", help="Checkpoint to load instead of the shipped weights; alone, it also picks the model.")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into folders and mirror the tree under -o.")] = False,
    suffix: Annotated[Optional[str], typer.Option("--suffix", help="Added to output names (default _x<scale> or _<W>x<H>).", rich_help_panel="Output")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="Output encoding: png, jpeg, webp, bmp, tiff (default: the input's).", rich_help_panel="Output")] = None,
    bit_depth: Annotated[str, typer.Option("--bit-depth", help="keep (or auto), 8, 16 or 32 (float TIFF).", rich_help_panel="Output")] = "keep",
    overwrite: OverwriteOpt = False,
    skip_existing: SkipOpt = False,
    max_pixels: Annotated[int, typer.Option("--max-pixels", help="Refuse inputs and outputs larger than this.")] = 200_000_000,
    tile: Annotated[Optional[int], typer.Option("--tile", help="LR tile side for learned models (default: from free memory).", rich_help_panel="Compute")] = None,
    chunk: Annotated[Optional[int], typer.Option("--chunk", help="Queries per decoder call (default: from free memory; at most 2048 on the CPU, cache-sized).", rich_help_panel="Compute")] = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    report: ReportOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> int:
    """Upscale images to any scale or size (LIIF family or classical kernels).

    Examples:

      srcli upscale photo.png --scale 2.5 -o photo_x2.5.png

      srcli upscale shots/ -r -o big/ --size 1920x1080 --model bicubic

      cat in.png | srcli upscale - -o - --format png --scale 2 > out.png
    """
    from srcli.io.reports import check_report_path
    from srcli.tasks.upscale import UpscaleOptions, upscale_files

    if report:
        check_report_path(report)
    if as_json and output == "-":
        error("--json and -o - both use stdout; write the image to a file or use --report")
        return 2
    opts = UpscaleOptions(scale=scale, size=parse_size_option(size), width=width, height=height, model=model,
                          weights=weights, suffix=suffix, fmt=fmt, recursive=recursive, overwrite=overwrite,
                          skip_existing=skip_existing, max_pixels=max_pixels, bit_depth=bit_depth, device=device,
                          precision=precision, threads=threads, tile=tile, chunk=chunk, report=report)
    bars: list[Progress] = []

    def progress_factory(total: int) -> Progress:
        bars.append(Progress("upscale", total, quiet=quiet or total < 2))
        return bars[-1]

    try:
        result_report, result = upscale_files(inputs, output, opts, report_error=error, progress_factory=progress_factory)
    finally:
        for bar in bars:
            bar.close()
    emit_report(result_report, report_path=report, as_json=as_json)
    if result.interrupted:
        error("interrupted; finished outputs are complete, none is partial")
    return result.exit_code()
