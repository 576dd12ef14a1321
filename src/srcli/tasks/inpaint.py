"""Inpainting through scattered points (``srcli inpaint``).

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

Metrics against a reference follow :mod:`srcli.tasks.outputs`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from srcli.errors import UsageError
from srcli.geometry import check_output_pixels, scaled_length
from srcli.io.paths import Job, plan_jobs
from srcli.tasks.batch import BatchResult, run_batch
from srcli.tasks.outputs import (
    BIT_DEPTHS, check_common, check_one_stdin, check_output_formats, colour, exact_pixels, output_format,
    reference_metrics, stored_values, summarise, write_output,
)
from srcli.tasks.points_files import METHODS, load_points_model, resolve_method

if TYPE_CHECKING:
    import torch

    from srcli.device import Runtime
    from srcli.io.images import Image

__all__ = ["METHODS", "InpaintOptions", "drop_pixels", "inpaint_array", "inpaint_files", "known_pixels",
           "parse_missing_value"]


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
    check_output_pixels((scaled_length(known.shape[0], scale), scaled_length(known.shape[1], scale)), hint="check --scale")
    if method == "linr":
        return _inpaint_linr(image, known, scale, runtime, steps, seed)
    groups = [[0], [1]] if image.shape[2] == 2 else [list(range(image.shape[2]))]
    parts = [inpaint_with_points(image[:, :, g], known, scale=scale, method=method, model=model, runtime=runtime)
             for g in groups]
    return np.concatenate(parts, axis=2)


def _inpaint_linr(image: np.ndarray, known: np.ndarray, scale: float, runtime: Runtime | None,
                  steps: int | None, seed: int) -> np.ndarray:
    import torch

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
    report: str | None = None


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


def _plan_inpaint(inputs: list[str], output: str | None, opts: InpaintOptions) -> list[Job]:
    """The jobs of :func:`inpaint_files`, after the checks of the options that need no file read."""
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
    jobs = plan_jobs(inputs, output, suffix=opts.suffix, fmt=opts.fmt, recursive=opts.recursive, report=opts.report,
                     reads={"--mask": opts.mask, "--reference": opts.reference, "--weights": opts.weights},
                     overwrite=opts.overwrite)
    check_output_formats(jobs, opts.fmt, opts.bit_depth)
    check_one_stdin(jobs, {"--mask": opts.mask, "--reference": opts.reference})
    if opts.reference is not None and len(jobs) > 1:
        raise UsageError("--reference compares one output: give one input image")
    return jobs


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

    jobs = _plan_inpaint(inputs, output, opts)
    method = resolve_method(opts.method, opts.weights)
    if opts.steps is not None and method != "linr":
        raise UsageError(f"--steps is the fit length of --method linr; method {method} takes none")
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


