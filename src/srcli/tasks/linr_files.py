"""The file pipeline of ``srcli fit-linr``: observations from image files, one fit, outputs.

Observations are ``TASK:PATH[:WEIGHT]`` specs whose corruption options follow
:mod:`srcli.tasks.linr_observations`. Only colour channels are fitted; the output has the
first observation's bit depth and no alpha. Metrics against ``reference`` follow
:mod:`srcli.tasks.outputs`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from srcli.errors import UsageError
from srcli.io.paths import Job
from srcli.tasks.linr_checks import check_destinations, check_options, check_output, check_used
from srcli.tasks.linr_observations import ObserveSpec, build_observation
from srcli.tasks.outputs import (
    BIT_DEPTHS,
    check_output_formats,
    colour,
    exact_pixels,
    output_format,
    reference_metrics,
    stored_values,
    write_output,
)

if TYPE_CHECKING:
    import torch

    from srcli.io.images import Image
    from srcli.tasks.fit_linr import Observation


@dataclass
class FitLinrOptions:
    """Everything ``srcli fit-linr`` asks for besides the observations and output (see the CLI help).

    ``size`` is ``(W, H)`` as on the command line.
    """

    scale: float | None = None
    kernel: str | None = None
    mask: str | None = None
    invert_mask: bool = False
    missing_value: str | None = None
    size: tuple[int, int] | None = None
    steps: int | None = None
    lr: float = 1e-4
    width: int = 256
    depth: int = 6
    batch: int | None = None
    crop: int | None = None
    seed: int = 0
    stop: str = "fixed"
    noise_sigma: float | None = None
    reference: str | None = None
    save_fit: str | None = None
    eval_every: int = 25
    fmt: str | None = None
    bit_depth: str = "keep"
    overwrite: bool = False
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    compile_mode: str = "auto"
    checkpoint: str | None = None
    checkpoint_every: int = 100
    chunk: int | str = "auto"
    report: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_chunk(text: str) -> int | str:
    """``--chunk``: ``"auto"`` or a whole number >= 0 (UsageError otherwise)."""
    value = text.strip().lower()
    if value == "auto":
        return value
    if not (value.isascii() and value.isdecimal()):
        raise UsageError(f"--chunk takes auto, 0 (one pass) or a number of coordinates, got {text!r}")
    return int(value)


def _read_all(specs: list[ObserveSpec], opts: FitLinrOptions) -> tuple[list[Image], Image | None, np.ndarray | None]:
    from srcli.io.images import read_image

    images = [read_image(s.path) for s in specs]
    mask_image = read_image(opts.mask) if opts.mask is not None else None
    reference = exact_pixels(read_image(opts.reference)) if opts.reference is not None else None
    return images, mask_image, reference


def _kernel_file(kernel: str | None) -> str | None:
    """The path in ``--kernel`` when it names a file rather than ``gauss:``/``box:``."""
    if kernel is None or kernel.split(":", 1)[0].lower() in ("gauss", "box"):
        return None
    return kernel


def default_output(specs: list[ObserveSpec], fmt: str | None) -> str:
    """``<stem>_linr.<ext>`` next to the first observation (PNG for stdin)."""
    from pathlib import Path

    from srcli.io.paths import STDIO

    first = specs[0].path
    if first == STDIO:
        raise UsageError("an observation read from stdin needs -o FILE (or -o - for stdout)")
    source = Path(first)
    suffix = f".{fmt.lower().lstrip('.')}" if fmt else source.suffix
    return str(source.with_name(source.stem + "_linr" + suffix))


def _reference_tensor(reference: np.ndarray | None) -> torch.Tensor | None:
    import torch

    if reference is None:
        return None
    return torch.from_numpy(np.ascontiguousarray(colour(reference).transpose(2, 0, 1), dtype=np.float32))[None]


def _fit_row(specs: list[ObserveSpec], observations: list[Observation], result: Any, output: str) -> dict[str, Any]:
    h, w = result.out_hw
    inputs = [{"task": o.task, "path": s.path, "size": [o.image.shape[-1], o.image.shape[-2]],
               "weight": e["weight"], "operator": e["operator"]}
              for s, o, e in zip(specs, observations, result.settings["observations"], strict=True)]
    curve = [{k: v for k, v in e.items() if k != "mse"} for e in result.curve]
    return {"inputs": inputs, "output": output, "output_size": [w, h], "canvas": [result.canvas_hw[1], result.canvas_hw[0]],
            "steps": result.steps, "seconds": round(result.seconds, 3), "stop_reason": result.stop_reason,
            "best_step": result.best_step, "best_psnr": result.best_psnr, "noise_sigma": result.noise_sigma,
            "final_loss": curve[-1]["loss"] if curve else None, "batch": result.settings.get("batch"),
            "crop": result.settings.get("crop"), "pixels_per_step": result.settings.get("pixels_per_step"),
            "compiled": result.settings.get("compiled"), "chunk": result.settings.get("chunk"),
            **{k: result.settings[k] for k in ("compile_fallback", "precision_fallback", "resumed_at_step", "reused_state")
               if k in result.settings},
            "curve": curve}


def fit_linr_files(specs: list[ObserveSpec], output: str | None, opts: FitLinrOptions, *,
                   callback: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Fit one SIREN to the observations and write the restored image (``srcli fit-linr``).

    Args:
        specs: the observations; the first one's file gives the output's bit depth, ICC and EXIF.
        output: output image, ``-`` for stdout, or None for ``<stem>_linr.<ext>``.
        opts: the options.
        callback: called with each curve entry (``step``, ``loss``, ``psnr``) and the step total.

    Returns:
        The report.

    Raises:
        UsageError, ImageError, FitError, DeviceError: bad options or inputs, before the output is written.
    """
    from srcli.device import make_runtime
    from srcli.io.images import Image
    from srcli.io.reports import make_report
    from srcli.tasks.fit_linr import DEFAULT_DEBLUR_STEPS, DEFAULT_STEPS, fit_linr, save_fit
    from srcli.tasks.forward_models import parse_blur_kernel

    check_options(opts)
    if not specs:
        raise UsageError("nothing to fit: give an IMAGE or --observe TASK:PATH")
    dest = output if output is not None else default_output(specs, opts.fmt)
    paths = [s.path for s in specs] + [p for p in (opts.mask, opts.reference, _kernel_file(opts.kernel)) if p]
    check_destinations(dest, opts, paths)
    runtime = make_runtime(opts.device, opts.precision, opts.threads)
    kernel = parse_blur_kernel(opts.kernel) if opts.kernel is not None else None
    images, mask_image, reference = _read_all(specs, opts)
    observations = [build_observation(s, im, opts, kernel, mask_image) for s, im in zip(specs, images, strict=True)]
    check_used(observations, opts)
    out_size = None if opts.size is None else (opts.size[1], opts.size[0])
    total = opts.steps if opts.steps is not None else (
        DEFAULT_DEBLUR_STEPS if any(o.task == "deblur" for o in observations) else DEFAULT_STEPS)

    def progress(entry: dict[str, Any]) -> None:
        if callback is not None:
            callback({**entry, "total": total})

    result = fit_linr(observations, out_size=out_size, steps=opts.steps, lr=opts.lr, width=opts.width, depth=opts.depth,
                      seed=opts.seed, batch=opts.batch, crop=opts.crop, reference=_reference_tensor(reference),
                      eval_every=opts.eval_every, autocast_dtype=runtime.autocast_dtype, device=runtime.device,
                      callback=progress, stop=opts.stop, noise_sigma=opts.noise_sigma, compile_mode=opts.compile_mode,
                      checkpoint=opts.checkpoint, checkpoint_every=opts.checkpoint_every, chunk=opts.chunk)
    pixels = np.clip(result.image[0].permute(1, 2, 0).float().cpu().numpy(), 0, 1).astype(np.float32)
    first = images[0]
    depth = BIT_DEPTHS[opts.bit_depth] or first.bit_depth
    row = _fit_row(specs, observations, result, dest)
    if reference is not None:
        row.update(reference_metrics(stored_values(pixels, depth, output_format(dest, opts.fmt)), reference))
    write_output(dest, Image(pixels, depth, first.icc_profile, first.exif, first.format), opts.fmt, opts.overwrite)
    if opts.save_fit is not None:
        save_fit(opts.save_fit, result)
        row["fit"] = opts.save_fit
    if opts.checkpoint is not None:
        row["checkpoint"] = opts.checkpoint
    return make_report("fit-linr", [row], runtime=runtime.describe(), summary={k: row.get(k) for k in
                       ("steps", "seconds", "stop_reason", "best_step", "psnr", "ssim")})


def render_fit_file(fit: str, output: str, *, size: tuple[int, int] | None = None, scale: float | None = None,
                    fmt: str | None = None, bit_depth: str = "8", overwrite: bool = False, device: str = "auto",
                    precision: str = "auto", threads: int | None = None) -> dict[str, Any]:
    """Render a fit saved with ``--save-fit`` at any size (``srcli fit-linr render``).

    Args:
        fit: the checkpoint.
        output: output image or ``-``.
        size: ``(W, H)``; default the size the fit was rendered at, times ``scale`` when given.
        scale: factor on the fit's output size (exclusive with ``size``).
        fmt, bit_depth, overwrite: output encoding, ``8``/``16``/``32``, replacing.
        device, precision, threads: see :func:`srcli.device.make_runtime`.

    Returns:
        The report.
    """
    import time

    from srcli.device import make_runtime
    from srcli.geometry import scaled_length
    from srcli.io.images import Image
    from srcli.io.reports import make_report
    from srcli.models.siren import render
    from srcli.tasks.fit_linr import load_fit
    from srcli.geometry import check_output_pixels

    if size is not None and scale is not None:
        raise UsageError("--size and --scale conflict: give only one of them")
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise UsageError(f"--scale must be a positive number, got {scale!r}")
    if bit_depth not in ("8", "16", "32"):
        raise UsageError(f"--bit-depth of a render is 8, 16 or 32, got {bit_depth!r}")
    check_output(output, [fit], overwrite)
    check_output_formats([Job(fit, output)], fmt, bit_depth)
    runtime = make_runtime(device, precision, threads)
    model, card = load_fit(fit)
    h, w = (int(v) for v in card.get("out_size", card.get("canvas", (0, 0))))
    if size is not None:
        h, w = size[1], size[0]
    elif scale is not None:
        h, w = scaled_length(h, scale), scaled_length(w, scale)
    if min(h, w) < 1:
        raise UsageError(f"render size {w}x{h} must be positive")
    check_output_pixels((h, w), "the render", "check --size and --scale")
    started = time.perf_counter()
    image = render(model.to(runtime.device), (h, w), autocast_dtype=runtime.autocast_dtype)
    pixels = image[0].permute(1, 2, 0).float().cpu().numpy()
    seconds = time.perf_counter() - started
    write_output(output, Image(pixels, BIT_DEPTHS[bit_depth]), fmt, overwrite)
    canvas = card.get("canvas")  # (H, W) in the card; rows give sizes as [W, H]
    row = {"fit": fit, "output": output, "output_size": [w, h], "fitted_canvas": None if canvas is None else list(canvas)[::-1],
           "seconds": round(seconds, 4)}
    return make_report("fit-linr render", [row], runtime=runtime.describe(), summary={"seconds": row["seconds"]})
