"""The file pipelines of ``srcli from-points`` and ``srcli sample-points``.

The rendering itself is :mod:`srcli.tasks.from_points`; point files are :mod:`srcli.io.points`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from srcli.errors import UsageError
from srcli.geometry import check_output_pixels
from srcli.io.paths import STDIO, Job, check_report_apart, plan_jobs
from srcli.tasks.batch import BatchResult, run_batch
from srcli.tasks.outputs import (
    BIT_DEPTHS, check_common, check_one_stdin, check_output_formats, exact_pixels, output_format, reference_metrics, stored_values, summarise, write_output,
)

if TYPE_CHECKING:
    import torch

    from srcli.device import Runtime

#: methods of ``inpaint``; ``from-points`` takes all but ``linr``
METHODS = ("auto", "isp", "linear", "cubic", "nearest", "rbf", "linr")

POINT_SUFFIXES = {".csv", ".tsv", ".txt", ".npy"}


@dataclass
class FromPointsOptions:
    """Everything ``srcli from-points`` asks for besides inputs and output (see the CLI help).

    ``size`` and ``source_size`` are ``(W, H)``, as on the command line; ``extent`` is the
    text ``x0,y0,x1,y1``.
    """

    size: tuple[int, int] | None = None
    scale: float | None = None
    extent: str | None = None
    source_size: tuple[int, int] | None = None
    method: str = "auto"
    weights: str | None = None
    value_range: str = "auto"
    drop_outside: bool = False
    reference: str | None = None
    fmt: str | None = None
    bit_depth: str = "auto"
    overwrite: bool = False
    skip_existing: bool = False
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    report: str | None = None


def parse_extent(text: str) -> tuple[float, float, float, float]:
    """``"x0,y0,x1,y1"`` -> four finite floats with x1 > x0 and y1 > y0 (UsageError otherwise)."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values) or values[2] <= values[0] or values[3] <= values[1]:
        raise UsageError(f"--extent takes x0,y0,x1,y1 with x1 > x0 and y1 > y0 (e.g. -0.5,-0.5,639.5,479.5), got {text!r}")
    return values  # type: ignore[return-value]


def points_output_size(size: tuple[int, int] | None, scale: float | None,
                       extent: tuple[float, float, float, float]) -> tuple[int, int] | None:
    """Output ``(H, W)``: ``size`` (W, H) as is, or ``floor(scale * extent side + 0.5)``; None: the default."""
    if size is not None and scale is not None:
        raise UsageError("--size and --scale conflict: give only one of them")
    if size is not None:
        hw = size[1], size[0]
    elif scale is None:
        return None
    else:
        x0, y0, x1, y1 = extent
        hw = max(1, math.floor(scale * (y1 - y0) + 0.5)), max(1, math.floor(scale * (x1 - x0) + 0.5))
    check_output_pixels(hw, hint="check --size and --scale")
    return hw


def _points_one(job: Job, opts: FromPointsOptions, method: str, model: Any, runtime: Runtime,
                reference: np.ndarray | None) -> dict[str, Any]:
    from srcli.io.images import Image
    from srcli.io.points import read_points, resolve_extent
    from srcli.tasks.from_points import from_points

    points = read_points(job.source, value_range=opts.value_range)
    extent = resolve_extent(points, parse_extent(opts.extent) if opts.extent else None, opts.source_size)
    result = from_points(points, size=points_output_size(opts.size, opts.scale, extent), extent=extent, method=method,
                         model=model, drop_outside=opts.drop_outside, runtime=runtime)
    depth = BIT_DEPTHS[opts.bit_depth] or ("uint16" if points.value_range == "0-65535" else "uint8")
    h, w, c = result.image.shape
    row: dict[str, Any] = {"points": result.points_used, "channels": c, "value_range": points.value_range,
                           "extent": [round(v, 6) for v in result.extent], "output_size": [w, h], "method": method,
                           "seconds": round(result.seconds, 4)}
    if reference is not None:
        row.update(reference_metrics(stored_values(result.image, depth, output_format(job.dest, opts.fmt)), reference))
    write_output(job.dest, Image(result.image, depth), opts.fmt, opts.overwrite)
    return row


def _plan_points(inputs: list[str], output: str | None, opts: FromPointsOptions) -> list[Job]:
    """The jobs of :func:`from_points_files`, after the checks of the options that need no file read."""
    from srcli.io.points import VALUE_RANGES

    check_common(opts.overwrite, opts.skip_existing, opts.bit_depth, opts.scale)
    points_output_size(opts.size, opts.scale, (0, 0, 1, 1))
    if opts.extent is not None:
        parse_extent(opts.extent)
        if opts.source_size is not None:
            raise UsageError("--extent and --source-size conflict: give only one of them")
    if opts.value_range != "auto" and opts.value_range not in VALUE_RANGES:
        raise UsageError(f"unknown --value-range {opts.value_range!r}; use auto, {', '.join(VALUE_RANGES)}")
    jobs = plan_jobs(inputs, output, suffix="", fmt=opts.fmt or "png", suffixes=POINT_SUFFIXES, report=opts.report,
                     reads={"--reference": opts.reference, "--weights": opts.weights}, overwrite=opts.overwrite)
    check_output_formats(jobs, opts.fmt, opts.bit_depth)
    check_one_stdin(jobs, {"--reference": opts.reference})
    if opts.reference is not None and len(jobs) > 1:
        raise UsageError("--reference compares one output: give one point file")
    return jobs


def from_points_files(inputs: list[str], output: str | None, opts: FromPointsOptions, *,
                      report_error: Callable[[str], None] = lambda m: None,
                      progress_factory: Callable[[int], Any] | None = None) -> tuple[dict[str, Any], BatchResult]:
    """Render point files as images (``srcli from-points``); outputs default to ``<stem>.png``.

    Returns:
        ``(report dict, batch result)``.

    Raises:
        UsageError, ImageError, RegistryError, DeviceError: bad options or reference, before any work.
    """
    from srcli.device import make_runtime
    from srcli.errors import user_error_types
    from srcli.io.images import read_image
    from srcli.io.reports import make_report

    jobs = _plan_points(inputs, output, opts)
    method = resolve_method(opts.method, opts.weights, allowed=METHODS[:-1])
    model = load_points_model(method, opts.weights)
    runtime = make_runtime(opts.device, opts.precision, opts.threads)
    reference = exact_pixels(read_image(opts.reference)) if opts.reference is not None else None
    progress = progress_factory(len(jobs)) if progress_factory else None
    result = run_batch(jobs, lambda job: _points_one(job, opts, method, model, runtime, reference),
                       overwrite=opts.overwrite, skip_existing=opts.skip_existing, report_error=report_error,
                       progress=progress, user_errors=user_error_types())
    return make_report("from-points", result.rows, runtime=runtime.describe(), summary=summarise(result),
                       method=method), result


def sample_points_file(image: str, output: str, *, ratio: float, irregular: bool = False, seed: int = 0,
                       value_range: str = "0-1", overwrite: bool = False, report: str | None = None) -> dict[str, Any]:
    """Sample an image file into a point file (``srcli sample-points``).

    ``.npy`` writes an ``(N, 2 + C)`` array, ``.tsv`` tab-separated text, ``.csv``/``.txt``
    and ``-`` (stdout) CSV with a ``# source-size: WxH`` line. Missing folders of
    ``output`` are created.

    Returns:
        The report row.

    Raises:
        UsageError, ImageError, PointsError: bad output name, existing output, a ``report``
        path that is the image or the output, bad image or ratio.
    """
    from srcli.io.images import read_image
    from srcli.io.points import VALUE_RANGES, sample_points, write_points

    if value_range not in VALUE_RANGES:
        raise UsageError(f"unknown --value-range {value_range!r}; use {', '.join(VALUE_RANGES)}")
    check_report_apart(report, [(f"input {image}", image), (f"output {output}", output)])
    if output != STDIO:
        if Path(output).suffix.lower() not in POINT_SUFFIXES:
            raise UsageError(f"point files end in {', '.join(sorted(POINT_SUFFIXES))} (or use -o - for CSV on stdout); got {output}")
        if Path(output).is_dir():
            raise UsageError(f"output {output} is a folder; give a file name such as {Path(output) / 'points.csv'}")
        if Path(output).exists() and not overwrite:
            raise UsageError(f"output {output} exists; use --overwrite to replace it")
    src = read_image(image)
    if src.channels == 2:
        raise UsageError(f"{image} is grey + alpha; point files hold 1 (grey), 3 (RGB) or 4 (RGBA) channels")
    if src.bit_depth == "float32" and not (0 <= float(src.pixels.min()) and float(src.pixels.max()) <= 1):
        raise UsageError(f"{image} holds float values outside [0, 1]; point values must lie in [0, 1]")
    points = sample_points(src.pixels, ratio, irregular=irregular, seed=seed)
    if output != STDIO:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
    write_points(output, points, value_range=value_range)
    return {"input": image, "output": output, "input_size": list(src.size), "points": len(points),
            "channels": points.channels, "ratio": ratio, "irregular": irregular, "seed": seed,
            "value_range": value_range}


def resolve_method(method: str, weights: str | None, *, allowed: tuple[str, ...] = METHODS) -> str:
    """``auto`` is ``isp`` when ``weights`` are given or the isp-points model ships weights, else ``linear``.

    Raises:
        UsageError: a method not in ``allowed``.
    """
    if method not in allowed:
        raise UsageError(f"unknown --method {method!r}; use one of {', '.join(allowed)}")
    if method != "auto":
        return method
    from srcli.registry import get_entry

    return "isp" if weights is not None or get_entry("isp-points").has_weights else "linear"


def load_points_model(method: str, weights: str | None) -> torch.nn.Module | None:
    """The points network for ``isp`` (None for other methods).

    Raises:
        UsageError: ``isp`` without ``weights`` while no weights ship; weights for a classical method.
        RegistryError: an unreadable checkpoint or one holding another model.
    """
    from srcli.registry import get_entry, load_model

    if method != "isp":
        if weights is not None:
            raise UsageError(f"--weights is for --method isp; method {method!r} has no weights")
        return None
    if weights is None and not get_entry("isp-points").has_weights:
        raise UsageError("method isp needs trained weights and the isp-points model ships none yet: pass "
                         "--weights RUN_DIR/best.pt (from `srcli train`) or use --method linear")
    model, _card = load_model("isp-points", weights)
    return model
