"""``srcli from-points`` and ``srcli sample-points``: parse, call one library function, print.

The work is done by :func:`srcli.tasks.points_files.from_points_files` and
:func:`srcli.tasks.points_files.sample_points_file`.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from srcli.cli.common import (
    DeviceOpt, JsonOpt, OverwriteOpt, PrecisionOpt, Progress, QuietOpt, ReportOpt, SkipOpt, ThreadsOpt,
    emit_report, error, handles_errors, parse_size_option,
)

SIZE = "Size and geometry"
METHOD_HELP = ("auto (isp when its weights ship or --weights is given, else linear), isp (points network), "
               "linear (Delaunay), cubic (Clough-Tocher), nearest, rbf (local thin-plate splines).")


@handles_errors
def from_points_command(
    inputs: Annotated[list[str], typer.Argument(help="Point files (CSV/TSV/TXT/NPY: x, y, then 1, 3 or 4 values per row), globs, or - for stdin.", metavar="PTS...", show_default=False)],
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Output image (one input), folder, or - for PNG on stdout. Default: <stem>.png next to each input.", rich_help_panel="Output")] = None,
    size: Annotated[Optional[str], typer.Option("--size", help="Exact output size WxH.", rich_help_panel=SIZE)] = None,
    scale: Annotated[Optional[float], typer.Option("--scale", "-s", help="Output side = round(scale * extent side).", rich_help_panel=SIZE)] = None,
    extent: Annotated[Optional[str], typer.Option("--extent", help="Outer edges x0,y0,x1,y1 of the output plane (integer coordinates are pixel centres).", rich_help_panel=SIZE)] = None,
    source_size: Annotated[Optional[str], typer.Option("--source-size", help="WxH: the plane of a WxH image, i.e. --extent -0.5,-0.5,W-0.5,H-0.5. Default: the file's '# source-size' line, else the pixels the points cover (exact for files from sample-points).", rich_help_panel=SIZE)] = None,
    method: Annotated[str, typer.Option("--method", help=METHOD_HELP)] = "auto",
    weights: Annotated[Optional[str], typer.Option("--weights", help="Checkpoint of the isp-points network (implies --method isp under auto).")] = None,
    value_range: Annotated[str, typer.Option("--value-range", help="Scale of the values: auto (max <= 1: 0-1, <= 255: 0-255, else 0-65535), 0-1, 0-255 or 0-65535.")] = "auto",
    drop_outside: Annotated[bool, typer.Option("--drop-outside", help="Ignore points outside the extent instead of failing.")] = False,
    reference: Annotated[Optional[str], typer.Option("--reference", help="Ground-truth image: adds PSNR and SSIM (colour channels, peak 1) of the output as stored.", rich_help_panel="Output")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="Output encoding: png (default), tiff, webp, jpeg, bmp.", rich_help_panel="Output")] = None,
    bit_depth: Annotated[str, typer.Option("--bit-depth", help="auto (16 for 0-65535 values, else 8), 8, 16 or 32 (float TIFF).", rich_help_panel="Output")] = "auto",
    overwrite: OverwriteOpt = False,
    skip_existing: SkipOpt = False,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    report: ReportOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> int:
    """Render an image from scattered points (x, y, values), at any size.

    Examples:

      srcli from-points pts.csv --size 640x480 -o out.png

      srcli sample-points photo.png --ratio 0.2 -o pts.npy && srcli from-points pts.npy --scale 2 --method cubic

      cat pts.csv | srcli from-points - --source-size 640x480 -o out.png --reference photo.png --json
    """
    from srcli.io.reports import check_report_path
    from srcli.tasks.points_files import FromPointsOptions, from_points_files

    if report:
        check_report_path(report)
    if as_json and output == "-":
        error("--json and -o - both use stdout; write the image to a file or use --report")
        return 2
    opts = FromPointsOptions(size=parse_size_option(size), scale=scale, extent=extent,
                             source_size=parse_size_option(source_size), method=method, weights=weights,
                             value_range=value_range, drop_outside=drop_outside, reference=reference, fmt=fmt,
                             bit_depth=bit_depth, overwrite=overwrite, skip_existing=skip_existing, device=device,
                             precision=precision, threads=threads, report=report)
    bars: list[Progress] = []

    def progress_factory(total: int) -> Progress:
        bars.append(Progress("from-points", total, quiet=quiet or total < 2))
        return bars[-1]

    try:
        result_report, result = from_points_files(inputs, output, opts, report_error=error, progress_factory=progress_factory)
    finally:
        for bar in bars:
            bar.close()
    emit_report(result_report, report_path=report, as_json=as_json)
    if result.interrupted:
        error("interrupted; finished outputs are complete, none is partial")
    return result.exit_code()


@handles_errors
def sample_points_command(
    image: Annotated[str, typer.Argument(help="Image to sample, or - for stdin.", metavar="IMAGE", show_default=False)],
    ratio: Annotated[float, typer.Option("--ratio", help="Samples per pixel: (0, 1] on pixel centres; any > 0 with --irregular.", show_default=False)],
    output: Annotated[str, typer.Option("--output", "-o", help="Point file: .npy (array), .csv/.txt, .tsv, or - for CSV on stdout.", show_default=False)],
    irregular: Annotated[bool, typer.Option("--irregular", help="Uniform random positions with bicubic values instead of distinct pixel centres.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sampler; equal seeds give equal samples.")] = 0,
    value_range: Annotated[str, typer.Option("--value-range", help="Scale of the written values: 0-1, 0-255 or 0-65535.")] = "0-1",
    overwrite: OverwriteOpt = False,
    report: ReportOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Sample an image into a point file (for from-points, tests and benchmarks).

    The four corner pixels are always sampled, so from-points restores the image's size
    and geometry from the points alone.

    Examples:

      srcli sample-points photo.png --ratio 0.2 --seed 1 -o pts.npy

      srcli sample-points photo.png --ratio 0.4 --irregular -o - | srcli from-points - -o back.png
    """
    from srcli.io.reports import check_report_path, make_report
    from srcli.tasks.points_files import sample_points_file

    if report:
        check_report_path(report)
    if as_json and output == "-":
        error("--json and -o - both use stdout; write the points to a file or use --report")
        return 2
    row = sample_points_file(image, output, ratio=ratio, irregular=irregular, seed=seed, value_range=value_range,
                             overwrite=overwrite, report=report)
    emit_report(make_report("sample-points", [row], summary={"points": row["points"]}), report_path=report, as_json=as_json)
    return 0
