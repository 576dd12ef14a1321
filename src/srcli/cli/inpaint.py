"""``srcli inpaint``: parse, call :func:`srcli.tasks.inpaint.inpaint_files`, print."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from srcli.cli.common import (
    DeviceOpt, JsonOpt, OverwriteOpt, PrecisionOpt, Progress, QuietOpt, ReportOpt, SkipOpt, ThreadsOpt,
    emit_report, error, handles_errors,
)

MISSING = "Missing pixels (give one; default: alpha == 0)"
METHOD_HELP = ("auto (isp when its weights ship or --weights is given, else linear), isp (points network), "
               "linear, cubic, nearest, rbf (through the known pixels as points), linr (SIREN fitted to them).")


@handles_errors
def inpaint_command(
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders, glob patterns, or - for stdin.", metavar="IMAGE...", show_default=False)],
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Output file (one input), folder, or - for stdout. Default: next to each input.", rich_help_panel="Output")] = None,
    mask: Annotated[Optional[str], typer.Option("--mask", help="Mask image of the same size: WHITE (bright) = MISSING, to be filled; black = known. A pixel is missing where the mask's largest colour value exceeds half of the mask's maximum (0/255 and 0/1 masks both work).", rich_help_panel=MISSING)] = None,
    invert_mask: Annotated[bool, typer.Option("--invert-mask", help="Read --mask the other way: white = known.", rich_help_panel=MISSING)] = False,
    missing_value: Annotated[Optional[str], typer.Option("--missing-value", help="Pixels whose colour equals V are missing: one value or one per channel, in the image's scale (0-255 for 8-bit, 0-65535 for 16-bit), e.g. 0 or 255,0,255.", rich_help_panel=MISSING)] = None,
    drop: Annotated[Optional[float], typer.Option("--drop", help="Evaluate: drop this fraction of the pixels at random; the input is the ground truth and PSNR/SSIM are reported.", rich_help_panel=MISSING)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of --drop (and of the linr fit).", rich_help_panel=MISSING)] = 0,
    scale: Annotated[float, typer.Option("--scale", "-s", help="Output side = floor(scale * side + 0.5): super-resolution of an incomplete image. At 1 the known pixels are kept exactly.")] = 1.0,
    method: Annotated[str, typer.Option("--method", help=METHOD_HELP)] = "auto",
    weights: Annotated[Optional[str], typer.Option("--weights", help="Checkpoint of the isp-points network (implies --method isp under auto).")] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", help="Adam steps of --method linr (default 500).")] = None,
    reference: Annotated[Optional[str], typer.Option("--reference", help="Ground-truth image of the output's size: adds PSNR and SSIM (colour channels, peak 1) of the output as stored.", rich_help_panel="Output")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into folders and mirror the tree under -o.")] = False,
    suffix: Annotated[str, typer.Option("--suffix", help="Added to output names.", rich_help_panel="Output")] = "_inpainted",
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="Output encoding: png, jpeg, webp, bmp, tiff (default: the input's).", rich_help_panel="Output")] = None,
    bit_depth: Annotated[str, typer.Option("--bit-depth", help="keep, 8, 16 or 32 (float TIFF).", rich_help_panel="Output")] = "keep",
    overwrite: OverwriteOpt = False,
    skip_existing: SkipOpt = False,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    report: ReportOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> int:
    """Fill missing pixels (and optionally upscale) through the known pixels as scattered points.

    Examples:

      srcli inpaint damaged.png --mask holes.png -o fixed.png

      srcli inpaint scan.png --missing-value 0 --method cubic

      srcli inpaint photo.png --drop 0.8 --seed 1 --json      # evaluation: PSNR/SSIM against the input
    """
    from srcli.io.reports import check_report_path
    from srcli.tasks.inpaint import InpaintOptions, inpaint_files

    if report:
        check_report_path(report)
    if as_json and output == "-":
        error("--json and -o - both use stdout; write the image to a file or use --report")
        return 2
    opts = InpaintOptions(mask=mask, invert_mask=invert_mask, missing_value=missing_value, drop=drop, seed=seed,
                          scale=scale, method=method, weights=weights, steps=steps, reference=reference, suffix=suffix,
                          fmt=fmt, bit_depth=bit_depth, recursive=recursive, overwrite=overwrite,
                          skip_existing=skip_existing, device=device, precision=precision, threads=threads,
                          report=report)
    bars: list[Progress] = []

    def progress_factory(total: int) -> Progress:
        bars.append(Progress("inpaint", total, quiet=quiet or total < 2))
        return bars[-1]

    try:
        result_report, result = inpaint_files(inputs, output, opts, report_error=error, progress_factory=progress_factory)
    finally:
        for bar in bars:
            bar.close()
    emit_report(result_report, report_path=report, as_json=as_json)
    if result.interrupted:
        error("interrupted; finished outputs are complete, none is partial")
    return result.exit_code()
