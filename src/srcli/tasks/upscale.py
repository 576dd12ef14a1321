"""Upscaling: one tensor (:func:`upscale`) or many files (:func:`upscale_files`).

Colour channels go through the model; an alpha channel is resized with bicubic and kept.
Learned models take RGB: a grey image is replicated to RGB and averaged back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from srcli.device import Runtime, make_runtime, run_with_fallback
from srcli.errors import UsageError
from srcli.geometry import MAX_OUTPUT_PIXELS, output_size
from srcli.io.paths import Job, plan_jobs
from srcli.tasks.batch import BatchResult, run_batch
from srcli.tasks.outputs import BIT_DEPTHS, check_output_formats, output_format, stored_depth, write_output

if TYPE_CHECKING:
    import torch

DEFAULT_MAX_PIXELS = MAX_OUTPUT_PIXELS
#: models in order of preference for the default; the first with shipped weights wins. The
#: order is measured (README, "Shipped weights"): the shipped DIINN has the highest Y-PSNR
#: of the three on Set5, Set14 and B100 at x3-x8 (and on Set14 and B100 at x2) and is the
#: fastest (2.2x LIIF's output pixels per second on the CPU); then LIIF, then A-LIIF.
DEFAULT_PREFERENCE = ("diinn", "liif", "a-liif", "bicubic")


def default_model() -> str:
    """The default ``upscale`` model: the first of :data:`DEFAULT_PREFERENCE` that ships weights."""
    from srcli.registry import RegistryError, get_entry

    for name in DEFAULT_PREFERENCE:
        try:
            if get_entry(name).has_weights:
                return name
        except RegistryError:
            continue
    return "bicubic"


def is_implicit(model: torch.nn.Module) -> bool:
    """True for encoder + implicit-decoder models (they take RGB and tile)."""
    return hasattr(model, "encode") and hasattr(model, "query")


def _model_colour(model: torch.nn.Module, colour: torch.Tensor, out_hw: tuple[int, int], runtime: Runtime,
                  tile: int | None, chunk: int | None) -> torch.Tensor:
    if not is_implicit(model):
        return model(colour, out_hw)
    from srcli.tiling import upscale_tiled

    grey = colour.shape[1] == 1
    rgb = colour.expand(-1, 3, -1, -1) if grey else colour

    def compute(rt: Runtime) -> torch.Tensor:
        with rt.autocast():
            return upscale_tiled(model, rgb, out_hw, tile=tile, chunk=chunk).float()

    out, _used = run_with_fallback(runtime, compute)
    return out.mean(dim=1, keepdim=True) if grey else out


def upscale_tensor(image: torch.Tensor, out_hw: tuple[int, int], model: torch.nn.Module, *,
                   runtime: Runtime | None = None, tile: int | None = None, chunk: int | None = None) -> torch.Tensor:
    """Resize ``image`` (B, C, H, W) to ``out_hw`` with ``model``; alpha (C = 2 or 4) by bicubic.

    Returns:
        Tensor (B, C, H_out, W_out) on the input's device, float32.
    """
    import torch

    from srcli.resize import resize

    runtime = runtime or make_runtime("cpu", "fp32")
    channels = image.shape[1]
    has_alpha = channels in (2, 4)
    colour = image[:, : channels - 1] if has_alpha else image
    with torch.inference_mode():
        model = model.to(runtime.device)
        out = _model_colour(model, colour.to(runtime.device), out_hw, runtime, tile, chunk)
        if has_alpha:
            alpha = resize(image[:, -1:].to(runtime.device).float(), out_hw, kernel="bicubic")
            out = torch.cat([out, alpha.clamp(0, 1)], dim=1)
    return out.to(image.device)


def upscale(image: Any, *, scale: float | None = None, size: tuple[int, int] | None = None,
            width: int | None = None, height: int | None = None, model: str | Any = "default",
            device: str = "auto", precision: str = "auto") -> Any:
    """Upscale an image array or tensor (library entry point).

    Args:
        image: ``(H, W, C)`` NumPy array or ``(B, C, H, W)`` tensor, values in [0, 1].
        scale: output is ``floor(scale * side + 0.5)``.
        size: exact ``(width, height)``, as on the command line.
        width: output width, height keeps the aspect (or ``height``).
        height: output height, width keeps the aspect.
        model: registry name, checkpoint path, ``"default"`` or a built module.
        device: ``auto|cpu|cuda[:N]``.
        precision: ``auto|fp32|bf16|fp16``.

    Returns:
        The same kind of object as ``image`` at the new size.
    """
    import numpy as np
    import torch

    from srcli.registry import load_model

    as_numpy = isinstance(image, np.ndarray)
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None] if as_numpy else image
    out_hw = output_size(tuple(tensor.shape[-2:]), scale=scale, size=size, width=width, height=height)
    if isinstance(model, str):
        model, _card = load_model(default_model() if model == "default" else model)
    out = upscale_tensor(tensor, out_hw, model, runtime=make_runtime(device, precision))
    return out[0].permute(1, 2, 0).cpu().numpy() if as_numpy else out


@dataclass
class UpscaleOptions:
    """Everything ``srcli upscale`` asks for besides inputs and output (see the CLI help)."""

    scale: float | None = None
    size: tuple[int, int] | None = None
    width: int | None = None
    height: int | None = None
    model: str = "default"
    weights: str | None = None
    suffix: str | None = None
    fmt: str | None = None
    recursive: bool = False
    overwrite: bool = False
    skip_existing: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    bit_depth: str = "keep"
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    tile: int | None = None
    chunk: int | None = None
    report: str | None = None

    def default_suffix(self) -> str:
        """``_x2.5`` for a scale, ``_1000x700`` for a size, ``_w640`` / ``_h480`` otherwise."""
        if self.scale is not None:
            return f"_x{self.scale:g}"
        if self.size is not None:
            return f"_{self.size[0]}x{self.size[1]}"
        return f"_w{self.width}" if self.width is not None else f"_h{self.height}"


def _check_upscaler(name: str) -> None:
    """UsageError for a model of another task (a points network, a SIREN)."""
    from srcli.registry import get_entry

    task = get_entry(name).task
    if task != "upscale":
        raise UsageError(f"model {name!r} is a {task} model, not an upscaler; see `srcli models --task upscale`")


def _check_options(opts: UpscaleOptions) -> None:
    output_size((1, 1), scale=opts.scale, size=opts.size, width=opts.width, height=opts.height)
    if opts.overwrite and opts.skip_existing:
        raise UsageError("--overwrite and --skip-existing conflict: give only one of them")
    if opts.bit_depth not in BIT_DEPTHS:
        raise UsageError(f"unknown --bit-depth {opts.bit_depth!r}; use {', '.join(BIT_DEPTHS)}")
    if opts.max_pixels <= 0:
        raise UsageError(f"--max-pixels must be positive, got {opts.max_pixels}")
    for name in ("tile", "chunk"):
        value = getattr(opts, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name} must be at least 1, got {value}")


def _process_one(job: Job, opts: UpscaleOptions, model: Any, model_name: str, runtime: Runtime) -> dict[str, Any]:
    from srcli.io.images import Image, ImageError, read_image

    try:
        src = read_image(job.source, max_pixels=opts.max_pixels)
    except ImageError as exc:
        raise ImageError(f"{exc}; raise --max-pixels if you trust it" if "decompression bomb" in str(exc) else str(exc)) from None
    in_hw = (src.pixels.shape[0], src.pixels.shape[1])
    out_hw = output_size(in_hw, scale=opts.scale, size=opts.size, width=opts.width, height=opts.height)
    if out_hw[0] * out_hw[1] > opts.max_pixels:
        raise UsageError(f"output {out_hw[1]}x{out_hw[0]} has more than --max-pixels {opts.max_pixels} pixels; "
                         f"raise --max-pixels or ask for a smaller size")
    started = time.perf_counter()
    out = upscale_tensor(src.to_tensor(), out_hw, model, runtime=runtime, tile=opts.tile, chunk=opts.chunk)
    seconds = time.perf_counter() - started
    result = Image.from_tensor(out, like=src)
    if BIT_DEPTHS[opts.bit_depth] is not None:
        result.bit_depth = BIT_DEPTHS[opts.bit_depth]
    write_output(job.dest, result, opts.fmt, opts.overwrite)
    return {"input_size": [in_hw[1], in_hw[0]], "output_size": [out_hw[1], out_hw[0]], "channels": src.channels,
            "bit_depth": stored_depth(result.bit_depth, output_format(job.dest, opts.fmt)), "model": model_name,
            "seconds": round(seconds, 4)}


def upscale_files(inputs: list[str], output: str | None, opts: UpscaleOptions, *,
                  report_error: Callable[[str], None] = lambda m: None,
                  progress_factory: Callable[[int], Any] | None = None) -> tuple[dict[str, Any], BatchResult]:
    """Upscale files, folders or globs (``srcli upscale``).

    Args:
        inputs: command-line inputs (files, folders, globs, ``-``).
        output: ``-o`` value.
        opts: the remaining options.
        report_error: called with a one-line message per failed input.
        progress_factory: ``f(total)`` returning an object with ``advance()`` (or None).

    Returns:
        ``(report dict, batch result)``.

    Raises:
        UsageError, SizeError, RegistryError, DeviceError: bad options, before any work.
    """
    from srcli.errors import user_error_types
    from srcli.io.reports import make_report
    from srcli.registry import load_model

    _check_options(opts)
    jobs = plan_jobs(inputs, output, suffix=opts.suffix if opts.suffix is not None else opts.default_suffix(),
                     fmt=opts.fmt, recursive=opts.recursive, reads={"--weights": opts.weights}, report=opts.report,
                     overwrite=opts.overwrite)
    check_output_formats(jobs, opts.fmt, opts.bit_depth)
    runtime = make_runtime(opts.device, opts.precision, opts.threads)
    model_name = ("" if opts.weights else default_model()) if opts.model == "default" else opts.model
    model, _card = load_model(model_name, opts.weights)  # no name with --weights alone: the checkpoint's model
    model_name = getattr(model, "spec", {}).get("name", model_name)
    _check_upscaler(model_name)
    progress = progress_factory(len(jobs)) if progress_factory else None
    result = run_batch(jobs, lambda job: _process_one(job, opts, model, model_name, runtime),
                       overwrite=opts.overwrite, skip_existing=opts.skip_existing, report_error=report_error,
                       progress=progress, user_errors=user_error_types())
    done = [r for r in result.rows if r["status"] == "done"]
    summary = {"images": len(result.rows), "done": len(done), "failed": result.failed,
               "skipped": sum(r["status"] == "skipped" for r in result.rows),
               "seconds": round(sum(r.get("seconds", 0.0) for r in done), 4), "interrupted": result.interrupted}
    used = runtime.describe() if is_implicit(model) else {**runtime.describe(), "precision": "fp32"}  # classical: fp32
    report = make_report("upscale", result.rows, runtime=used, summary=summary, model=model_name)
    return report, result
