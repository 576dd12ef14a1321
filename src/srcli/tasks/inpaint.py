"""Inpainting through scattered points (``srcli inpaint``), and the file pipelines of
``srcli from-points`` and ``srcli sample-points`` (:func:`from_points_files`,
:func:`sample_points_file`; the rendering itself is :mod:`srcli.tasks.from_points`).

Which pixels are missing comes from exactly one source (:func:`known_pixels`):

* ``mask``: a mask image of the image's size. A pixel is **missing where the mask is
  bright**: its largest colour value is above half of the mask's largest value, so 0/255,
  0/65535 and 0/1-valued masks all work and JPEG noise near black is ignored. This is the
  convention of OpenCV's ``inpaint`` and of image editors (paint the holes white).
  ``invert_mask`` flips it (white = known, as the kept-pixel masks of LINR/ISP2HRNet).
* ``missing_value``: pixels whose colour channels all equal ``V`` (one value for every
  channel, or one per channel) in the image's own scale: 0-255 for 8-bit images, 0-65535
  for 16-bit images, the stored value for float TIFFs.
* ``drop``: ``round(drop * H * W)`` pixels drawn at random (NumPy ``default_rng(seed)``)
  from a complete image, for evaluation; the input is then the ground truth.
* otherwise the alpha channel: alpha == 0 is missing, and the output has no alpha.

With ``mask``, ``missing_value`` or ``drop`` an alpha channel is restored like a colour.
Methods: ``isp`` (the points network), ``nearest``, ``linear``, ``cubic``, ``rbf`` (see
:mod:`srcli.tasks.from_points`) and ``linr`` (a SIREN fitted to the known pixels,
:func:`srcli.tasks.fit_linr.fit_linr` with a mask forward model). At scale 1 the known
pixels are copied into the output unchanged. ``auto`` is ``isp`` when its weights ship
or are given, else ``linear`` (as ``upscale`` picks the best shipped model).

Metrics against a reference (PSNR and SSIM of the colour channels, peak 1, whole image,
float64, :mod:`srcli.metrics`) use the output as its file stores it (rounded to the bit
depth; lossy JPEG/WebP coding not included) and integer references as exact ``k / 255``
or ``k / 65535``, so any tool comparing the two files finds the same figures.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from srcli.errors import UsageError
from srcli.io.paths import STDIO, Job, plan_jobs
from srcli.tasks.batch import BatchResult, run_batch

if TYPE_CHECKING:
    import torch

    from srcli.device import Runtime
    from srcli.io.images import Image

METHODS = ("auto", "isp", "linear", "cubic", "nearest", "rbf", "linr")
BIT_DEPTHS = {"keep": None, "auto": None, "8": "uint8", "16": "uint16", "32": "float32"}
_EIGHT_BIT_FORMATS = {"JPEG", "WEBP", "BMP"}


def resolve_method(method: str, weights: str | None, *, allowed: tuple[str, ...] = METHODS) -> str:
    """``auto`` is ``isp`` when ``weights`` are given or the isp-points model ships weights, else ``linear``.

    Raises:
        UsageError: a method not in ``allowed``.
    """
    if method not in allowed:
        raise UsageError(f"unknown method {method!r}; use one of {', '.join(allowed)}")
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


def colour(pixels: np.ndarray) -> np.ndarray:
    """The colour channels of ``(H, W, C)`` pixels (alpha of C = 2 or 4 dropped)."""
    return pixels[:, :, :-1] if pixels.shape[2] in (2, 4) else pixels


def stored_values(pixels: np.ndarray, bit_depth: str, fmt: str) -> np.ndarray:
    """``pixels`` as a file of ``fmt`` (``"PNG"``, ...) at ``bit_depth`` holds them (8 bits for JPEG/WebP/BMP)."""
    depth = "uint8" if fmt in _EIGHT_BIT_FORMATS else bit_depth
    if depth == "float32":
        return pixels.astype(np.float32)
    peak = np.float32(255 if depth == "uint8" else 65535)  # float32 products, as the image writer rounds them
    levels = np.rint(np.clip(np.nan_to_num(pixels.astype(np.float32), nan=0.0), 0, 1) * peak)
    return levels.astype(np.float64) / float(peak)


def exact_pixels(image: Image) -> np.ndarray:
    """The pixels of an integer image as exact float64 ``k / 255`` or ``k / 65535`` (float images as stored)."""
    if image.bit_depth == "float32":
        return image.pixels.astype(np.float64)
    peak = 255.0 if image.bit_depth == "uint8" else 65535.0
    return np.rint(image.pixels.astype(np.float64) * peak) / peak


def reference_metrics(output: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """PSNR (dB) and SSIM of the colour channels, peak 1, whole image (SSIM needs sides >= 11).

    Raises:
        UsageError: sizes or colour channel counts that differ.
    """
    import torch

    from srcli.metrics import psnr, ssim

    out, ref = colour(output), colour(reference)
    if out.shape != ref.shape:
        raise UsageError(f"the reference is {ref.shape[1]}x{ref.shape[0]} with {ref.shape[2]} colour channel(s), "
                         f"the output {out.shape[1]}x{out.shape[0]} with {out.shape[2]}; they must agree")

    def tensor(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float64))[None]

    metrics = {"psnr": float(psnr(tensor(out), tensor(ref), peak=1.0)[0])}
    if min(out.shape[:2]) >= 11:
        metrics["ssim"] = float(ssim(tensor(out), tensor(ref), peak=1.0)[0])
    return metrics


def output_format(dest: str, fmt: str | None) -> str:
    """The format name an output gets: ``fmt``, else the suffix of ``dest``, else PNG on stdout."""
    from srcli.io.images import format_for

    return format_for(dest, fmt or ("png" if dest == STDIO else None))


def write_output(dest: str, image: Image, fmt: str | None, overwrite: bool) -> None:
    """Write ``image`` atomically in :func:`output_format` (parent folders created)."""
    from srcli.io.images import write_image

    if dest != STDIO:
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
    write_image(dest, image, format=output_format(dest, fmt), overwrite=overwrite)


# --------------------------------------------------------------------------- masks


def drop_pixels(hw: tuple[int, int], ratio: float, seed: int = 0) -> np.ndarray:
    """A known-pixel mask with ``round(ratio * H * W)`` pixels dropped at random.

    Returns:
        ``(H, W)`` bool, True where the pixel is kept.

    Raises:
        UsageError: a ratio outside [0, 1).
    """
    if not (math.isfinite(ratio) and 0 <= ratio < 1):
        raise UsageError(f"--drop is the fraction of pixels to drop, in [0, 1); got {ratio!r}")
    h, w = hw
    known = np.ones(h * w, dtype=bool)
    known[np.random.default_rng(seed).choice(h * w, math.floor(ratio * h * w + 0.5), replace=False)] = False
    return known.reshape(h, w)


def parse_missing_value(text: str) -> tuple[float, ...]:
    """``"0"`` or ``"0,0,0"`` -> floats (UsageError otherwise)."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--missing-value takes one number or one per channel (e.g. 0 or 255,0,255), got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"--missing-value must be finite, got {text!r}")
    return values


def _mask_missing(mask: Image, size: tuple[int, int], invert: bool) -> np.ndarray:
    if mask.size != size:
        raise UsageError(f"the mask is {mask.size[0]}x{mask.size[1]}, the image {size[0]}x{size[1]}; they must agree")
    value = colour(mask.pixels).max(axis=2)
    bright = value > 0.5 * float(value.max())
    return bright if not invert else ~bright


def _value_missing(image: Image, values: tuple[float, ...]) -> np.ndarray:
    rgb = colour(image.pixels)
    if len(values) not in (1, rgb.shape[2]):
        raise UsageError(f"--missing-value has {len(values)} values; the image has {rgb.shape[2]} colour channel(s)")
    if image.bit_depth != "float32":
        rgb = np.rint(rgb * (255.0 if image.bit_depth == "uint8" else 65535.0))
    return (rgb == np.asarray(values, dtype=rgb.dtype)).all(axis=2)


def check_one_source(mask: Any, missing_value: Any, drop: Any) -> None:
    """UsageError when more than one of mask, missing value and drop is given."""
    given = [n for n, v in (("--mask", mask), ("--missing-value", missing_value), ("--drop", drop)) if v is not None]
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)} conflict: give one way of marking the missing pixels")


def known_pixels(image: Image, *, mask: Image | None = None, invert_mask: bool = False,
                 missing_value: tuple[float, ...] | None = None, drop: float | None = None,
                 seed: int = 0) -> tuple[np.ndarray, str]:
    """Which pixels of ``image`` are known, by the rules of the module doc.

    Returns:
        ``((H, W) bool known mask, source name: "mask", "missing-value", "drop" or "alpha")``.

    Raises:
        UsageError: several sources, none, or a mask of another size.
    """
    check_one_source(mask, missing_value, drop)
    h, w = image.pixels.shape[:2]
    if mask is not None:
        return ~_mask_missing(mask, image.size, invert_mask), "mask"
    if missing_value is not None:
        return ~_value_missing(image, missing_value), "missing-value"
    if drop is not None:
        return drop_pixels((h, w), drop, seed), "drop"
    if image.has_alpha:
        return image.pixels[:, :, -1] > 0, "alpha"
    raise UsageError("nothing marks the missing pixels: give --mask, --missing-value or --drop, "
                     "or an image whose alpha channel is 0 where pixels are missing")


# --------------------------------------------------------------------------- arrays


def inpaint_array(image: np.ndarray, known: np.ndarray, *, scale: float = 1.0, method: str = "linear",
                  model: torch.nn.Module | None = None, runtime: Runtime | None = None,
                  steps: int | None = None, seed: int = 0) -> np.ndarray:
    """Fill the unknown pixels of ``image`` (and rescale it), known pixels kept at scale 1.

    Args:
        image: ``(H, W, C)`` float in [0, 1], C in 1..4 (grey + alpha is done per channel).
        known: ``(H, W)`` bool, True where the pixel is known.
        scale: output side ``floor(scale * side + 0.5)``.
        method: ``isp``, ``nearest``, ``linear``, ``cubic``, ``rbf`` or ``linr``.
        model: the points network for ``isp``.
        runtime: device and precision for ``isp`` and ``linr``.
        steps, seed: ``linr`` fit length (default 500) and seed.

    Returns:
        ``(H', W', C)`` float32 in [0, 1].

    Raises:
        PointsError, UsageError: fewer than 3 known pixels, all on a line, a mask of another size.
    """
    from srcli.tasks.from_points import inpaint_with_points

    image = np.asarray(image, dtype=np.float32)
    known = np.asarray(known, dtype=bool)
    if known.shape != image.shape[:2]:
        raise UsageError(f"the known-pixel mask is {known.shape}, the image {image.shape[:2]}")
    if int(known.sum()) < 3:
        raise UsageError(f"only {int(known.sum())} known pixel(s); at least 3 are needed")
    if method == "linr":
        return _inpaint_linr(image, known, scale, runtime, steps, seed)
    groups = [[0], [1]] if image.shape[2] == 2 else [list(range(image.shape[2]))]
    parts = [inpaint_with_points(image[:, :, g], known, scale=scale, method=method, model=model, runtime=runtime)
             for g in groups]
    return np.concatenate(parts, axis=2)


def _inpaint_linr(image: np.ndarray, known: np.ndarray, scale: float, runtime: Runtime | None,
                  steps: int | None, seed: int) -> np.ndarray:
    import torch

    from srcli.geometry import scaled_length
    from srcli.tasks.fit_linr import Observation, fit_linr

    h, w = known.shape
    observed = torch.from_numpy(np.where(known[..., None], image, 0).transpose(2, 0, 1).copy())[None]
    obs = Observation(task="inpaint", image=observed, mask=torch.from_numpy(known.astype(np.float32)),
                      scale=None if scale == 1 else float(scale))
    out_hw = (scaled_length(h, scale), scaled_length(w, scale))
    device = runtime.device if runtime is not None else None
    dtype = runtime.autocast_dtype if runtime is not None else None
    result = fit_linr([obs], out_size=out_hw, steps=steps, seed=seed, device=device, autocast_dtype=dtype)
    out = np.clip(result.image[0].permute(1, 2, 0).float().cpu().numpy(), 0, 1).astype(np.float32)
    if out_hw == (h, w):
        out[known] = image[known]
    return out


# --------------------------------------------------------------------------- files


@dataclass
class InpaintOptions:
    """Everything ``srcli inpaint`` asks for besides inputs and output (see the CLI help)."""

    mask: str | None = None
    invert_mask: bool = False
    missing_value: str | None = None
    drop: float | None = None
    seed: int = 0
    scale: float = 1.0
    method: str = "auto"
    weights: str | None = None
    steps: int | None = None
    reference: str | None = None
    suffix: str = "_inpainted"
    fmt: str | None = None
    bit_depth: str = "keep"
    recursive: bool = False
    overwrite: bool = False
    skip_existing: bool = False
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None


def check_common(overwrite: bool, skip_existing: bool, bit_depth: str, scale: float | None = None) -> None:
    """Checks shared by the file commands (UsageError on conflicts and bad values)."""
    if overwrite and skip_existing:
        raise UsageError("--overwrite and --skip-existing conflict: give only one of them")
    if bit_depth not in BIT_DEPTHS:
        raise UsageError(f"unknown --bit-depth {bit_depth!r}; use {', '.join(BIT_DEPTHS)}")
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise UsageError(f"--scale must be a positive number, got {scale!r}")


def _inpaint_one(job: Job, opts: InpaintOptions, method: str, model: Any, runtime: Runtime,
                 mask: Image | None, reference: np.ndarray | None) -> dict[str, Any]:
    from srcli.io.images import Image, read_image

    src = read_image(job.source)
    missing_value = parse_missing_value(opts.missing_value) if opts.missing_value is not None else None
    known, source = known_pixels(src, mask=mask, invert_mask=opts.invert_mask, missing_value=missing_value,
                                 drop=opts.drop, seed=opts.seed)
    pixels = colour(src.pixels) if source == "alpha" else src.pixels
    started = time.perf_counter()
    out = inpaint_array(pixels, known, scale=opts.scale, method=method, model=model, runtime=runtime,
                        steps=opts.steps, seed=opts.seed)
    seconds = time.perf_counter() - started
    depth = BIT_DEPTHS[opts.bit_depth] or src.bit_depth
    result = Image(out, depth, src.icc_profile, src.exif, src.format)
    row: dict[str, Any] = {"input_size": list(src.size), "output_size": [out.shape[1], out.shape[0]],
                           "channels": out.shape[2], "known_from": source, "known": int(known.sum()),
                           "missing": int(known.size - known.sum()), "method": method}
    if reference is None and source == "drop" and opts.scale == 1:
        reference, row["reference"] = exact_pixels(src), "input"
    if reference is not None:
        row.update(reference_metrics(stored_values(out, depth, output_format(job.dest, opts.fmt)), reference))
    write_output(job.dest, result, opts.fmt, opts.overwrite)
    return {**row, "seconds": round(seconds, 4)}


def inpaint_files(inputs: list[str], output: str | None, opts: InpaintOptions, *,
                  report_error: Callable[[str], None] = lambda m: None,
                  progress_factory: Callable[[int], Any] | None = None) -> tuple[dict[str, Any], BatchResult]:
    """Inpaint image files, folders or globs (``srcli inpaint``).

    Returns:
        ``(report dict, batch result)``.

    Raises:
        UsageError, ImageError, RegistryError, DeviceError: bad options, mask or reference, before any work.
    """
    from srcli.device import make_runtime
    from srcli.errors import user_error_types
    from srcli.io.images import read_image
    from srcli.io.reports import make_report

    check_common(opts.overwrite, opts.skip_existing, opts.bit_depth, opts.scale)
    check_one_source(opts.mask, opts.missing_value, opts.drop)
    if opts.missing_value is not None:
        parse_missing_value(opts.missing_value)
    if opts.drop is not None:
        drop_pixels((1, 1), opts.drop)
    if opts.invert_mask and opts.mask is None:
        raise UsageError("--invert-mask needs --mask")
    if opts.steps is not None and opts.steps < 0:
        raise UsageError(f"--steps must be at least 0, got {opts.steps}")
    jobs = plan_jobs(inputs, output, suffix=opts.suffix, fmt=opts.fmt, recursive=opts.recursive)
    if opts.reference is not None and len(jobs) > 1:
        raise UsageError("--reference compares one output: give one input image")
    method = resolve_method(opts.method, opts.weights)
    model = load_points_model(method, opts.weights)
    runtime = make_runtime(opts.device, opts.precision, opts.threads)
    mask = read_image(opts.mask) if opts.mask is not None else None
    reference = exact_pixels(read_image(opts.reference)) if opts.reference is not None else None
    progress = progress_factory(len(jobs)) if progress_factory else None
    result = run_batch(jobs, lambda job: _inpaint_one(job, opts, method, model, runtime, mask, reference),
                       overwrite=opts.overwrite, skip_existing=opts.skip_existing, report_error=report_error,
                       progress=progress, user_errors=user_error_types())
    return make_report("inpaint", result.rows, runtime=runtime.describe(), summary=summarise(result),
                       method=method), result


def summarise(result: BatchResult) -> dict[str, Any]:
    """Counts, total seconds and mean metrics of the done rows."""
    done = [r for r in result.rows if r["status"] == "done"]
    summary: dict[str, Any] = {"inputs": len(result.rows), "done": len(done), "failed": result.failed,
                               "skipped": sum(r["status"] == "skipped" for r in result.rows),
                               "seconds": round(sum(r.get("seconds", 0.0) for r in done), 4),
                               "interrupted": result.interrupted}
    for metric in ("psnr", "ssim"):
        values = [r[metric] for r in done if metric in r]
        if values:
            summary[f"mean_{metric}"] = sum(values) / len(values)
    return summary


# --------------------------------------------------------------------------- from-points and sample-points files

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
        return size[1], size[0]
    if scale is None:
        return None
    x0, y0, x1, y1 = extent
    return max(1, math.floor(scale * (y1 - y0) + 0.5)), max(1, math.floor(scale * (x1 - x0) + 0.5))


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
    from srcli.io.points import VALUE_RANGES
    from srcli.io.reports import make_report

    check_common(opts.overwrite, opts.skip_existing, opts.bit_depth, opts.scale)
    points_output_size(opts.size, opts.scale, (0, 0, 1, 1))
    if opts.extent is not None:
        parse_extent(opts.extent)
        if opts.source_size is not None:
            raise UsageError("--extent and --source-size conflict: give only one of them")
    if opts.value_range != "auto" and opts.value_range not in VALUE_RANGES:
        raise UsageError(f"unknown --value-range {opts.value_range!r}; use auto, {', '.join(VALUE_RANGES)}")
    jobs = plan_jobs(inputs, output, suffix="", fmt=opts.fmt or "png", suffixes=POINT_SUFFIXES)
    if opts.reference is not None and len(jobs) > 1:
        raise UsageError("--reference compares one output: give one point file")
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
                       value_range: str = "0-1", overwrite: bool = False) -> dict[str, Any]:
    """Sample an image file into a point file (``srcli sample-points``).

    ``.npy`` writes an ``(N, 2 + C)`` array, ``.tsv`` tab-separated text, ``.csv``/``.txt``
    and ``-`` (stdout) CSV with a ``# source-size: WxH`` line.

    Returns:
        The report row.

    Raises:
        UsageError, ImageError, PointsError: bad output name, existing output, bad image or ratio.
    """
    from srcli.io.images import read_image
    from srcli.io.points import sample_points, write_points

    if output != STDIO:
        if Path(output).suffix.lower() not in POINT_SUFFIXES:
            raise UsageError(f"point files end in {', '.join(sorted(POINT_SUFFIXES))} (or use -o - for CSV on stdout); got {output}")
        if Path(output).exists() and not overwrite:
            raise UsageError(f"output {output} exists; use --overwrite to replace it")
    src = read_image(image)
    if src.channels == 2:
        raise UsageError(f"{image} is grey + alpha; point files hold 1 (grey), 3 (RGB) or 4 (RGBA) channels")
    if src.bit_depth == "float32" and not (0 <= float(src.pixels.min()) and float(src.pixels.max()) <= 1):
        raise UsageError(f"{image} holds float values outside [0, 1]; point values must lie in [0, 1]")
    points = sample_points(src.pixels, ratio, irregular=irregular, seed=seed)
    write_points(output, points, value_range=value_range)
    return {"input": image, "output": output, "input_size": list(src.size), "points": len(points),
            "channels": points.channels, "ratio": ratio, "irregular": irregular, "seed": seed,
            "value_range": value_range}
