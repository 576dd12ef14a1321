"""What a LINR fit takes and gives: :class:`FitConfig`, :class:`FitResult` and its errors.

:func:`srcli.tasks.fit_linr.fit_linr` checks its arguments into a :class:`FitConfig`;
:func:`srcli.tasks.linr_loop.run_fit` fits and returns a :class:`FitResult`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from srcli.device import DeviceError, resolve_compile
from srcli.errors import UsageError
from srcli.geometry import SizeError, check_output_pixels
from srcli.models.siren import Siren
from srcli.tasks.forward_models import estimate_noise_sigma
from srcli.tasks.linr_state import FitStore
from srcli.tasks.linr_terms import DataTerm

if TYPE_CHECKING:
    from srcli.tasks.fit_linr import Observation

STOP_RULES = ("fixed", "best-reference", "noise-level")
DEFAULT_STEPS = 500
DEFAULT_DEBLUR_STEPS = 4000
DEFAULT_LR = 1e-4
DEFAULT_CHECKPOINT_EVERY = 100
#: smallest chunk ``chunk="auto"`` picks (cache-sized on a CPU: 8192 x 256 bf16 features = 4 MiB)
MIN_AUTO_CHUNK = 8192
#: share of the free memory a training pass's activations may take before ``"auto"`` chunks it
AUTO_CHUNK_MEMORY_SHARE = 0.25


class FitError(UsageError):
    """Bad observations or settings for a LINR fit (message meant for the user)."""


@dataclass
class FitResult:
    """What :func:`fit_linr` returns.

    Attributes:
        model: the fitted :class:`Siren` (its ``extent`` buffer set), on the fit's device.
        image: ``(1, C, H, W)`` output rendered at ``out_hw``, clipped to ``[0, 1]``.
        curve: one dict per evaluation: ``step``, ``loss`` (weighted total), ``mse`` (per
            observation) and ``psnr`` (dB, RGB, against the reference) when one is given.
        steps: optimiser steps taken before the returned state.
        seconds: wall time of the fit (summed over the runs of a resumed fit).
        canvas_hw: size the function was fitted on.
        out_hw: size of ``image``.
        stop_reason: why the fit ended.
        best_step: step of the best reference PSNR (None without reference).
        best_psnr: that PSNR.
        noise_sigma: noise level used by the ``noise-level`` rule (``[0, 1]`` scale).
        settings: the resolved settings (for reports and model cards).
    """

    model: Siren
    image: torch.Tensor
    curve: list[dict[str, Any]]
    steps: int
    seconds: float
    canvas_hw: tuple[int, int]
    out_hw: tuple[int, int]
    stop_reason: str
    best_step: int | None = None
    best_psnr: float | None = None
    noise_sigma: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def card(self) -> dict[str, Any]:
        """JSON-ready model card for :func:`save_fit`."""
        last = self.curve[-1] if self.curve else {}
        return {"kind": "linr-fit", **self.settings, "canvas": list(self.canvas_hw), "out_size": list(self.out_hw),
                "extent": [float(v) for v in self.model.extent.tolist()], "steps_run": self.steps,
                "seconds": round(self.seconds, 3), "stop_reason": self.stop_reason, "best_step": self.best_step,
                "best_psnr": self.best_psnr, "noise_sigma": self.noise_sigma, "final_loss": last.get("loss"),
                "curve": [{k: v for k, v in e.items() if k != "mse"} for e in self.curve]}


@dataclass
class FitConfig:
    """Resolved settings of one fit (see :func:`srcli.tasks.fit_linr.fit_linr`)."""

    steps: int
    lr: float
    width: int
    depth: int
    seed: int
    batch: int | None
    crop: int | None
    eval_every: int
    autocast_dtype: torch.dtype | None
    stop: str
    out_hw: tuple[int, int]
    reference: torch.Tensor | None
    noise_sigma: float | None
    denoise_index: int | None
    callback: Callable[[dict[str, Any]], bool | None] | None
    compiled: bool = False
    checkpoint: str | None = None
    checkpoint_every: int = 100
    chunk: int | None = None
    chunk_auto: bool = False  # ``chunk`` was sized by ``"auto"`` for this precision

    def describe(self) -> dict[str, Any]:
        """The settings for reports and model cards (JSON-like)."""
        return {"steps": self.steps, "lr": self.lr, "width": self.width, "depth": self.depth, "seed": self.seed,
                "batch": self.batch, "crop": self.crop, "stop": self.stop, "compiled": self.compiled, "chunk": self.chunk,
                "precision": str(self.autocast_dtype or "fp32").replace("torch.", "")}

    def store(self, terms: list[DataTerm], canvas_hw: tuple[int, int]) -> FitStore | None:
        """The fit's state file (:mod:`srcli.tasks.linr_state`), or None without ``checkpoint``."""
        if self.checkpoint is None:
            return None
        numbers = {k: v for k, v in self.describe().items() if k not in ("compiled", "chunk")}  # rounding only
        numbers.update(eval_every=self.eval_every, out_hw=list(self.out_hw),
                       noise_sigma=self.noise_sigma if self.stop == "noise-level" else None)
        return FitStore(self.checkpoint, self.checkpoint_every, terms, canvas_hw, numbers, self.reference)


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or Inf (the caller may retry in fp32)."""


class FitInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a fit that keeps a state file; the message says where and how to continue.

    Attributes:
        exit_code: ``128 +`` the signal's number (130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self, signal_name: str, message: str) -> None:
        import signal

        super().__init__(message)
        self.exit_code = 128 + int(signal.Signals[signal_name])


def _check_reference(reference: torch.Tensor | None, channels: int, out_hw: tuple[int, int],
                     device: torch.device) -> torch.Tensor | None:
    if reference is None:
        return None
    expected = (1, channels, *out_hw)
    if not isinstance(reference, torch.Tensor) or tuple(reference.shape) != expected:
        if isinstance(reference, torch.Tensor) and reference.dim() == 4:
            got = f"{reference.shape[-1]}x{reference.shape[-2]} with {reference.shape[1]} channel(s)"
        else:
            got = f"shape {tuple(reference.shape)}" if isinstance(reference, torch.Tensor) else type(reference).__name__
        raise FitError(f"the reference is {got}; it must match the output, {out_hw[1]}x{out_hw[0]} with "
                       f"{channels} channel(s) (set the output size with --size or --scale)")
    return reference.detach().float().to(device)


def resolve_config(observations: list[Observation], terms: list[DataTerm], canvas_hw: tuple[int, int], device: torch.device,
                   **opts: Any) -> FitConfig:
    """Check the keyword arguments of :func:`srcli.tasks.fit_linr.fit_linr` into a :class:`FitConfig`.

    Raises:
        FitError: a bad setting (message meant for the user).
    """
    steps = opts["steps"]
    if steps is None:
        steps = DEFAULT_DEBLUR_STEPS if any(o.task == "deblur" for o in observations) else DEFAULT_STEPS
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise FitError(f"steps must be an integer >= 0, got {steps!r}")
    if not (math.isfinite(opts["lr"]) and opts["lr"] > 0):
        raise FitError(f"learning rate must be positive, got {opts['lr']!r}")
    if opts["width"] < 1 or opts["depth"] < 0:
        raise FitError(f"width must be >= 1 and depth >= 0, got width={opts['width']} depth={opts['depth']}")
    if opts["eval_every"] < 1:
        raise FitError(f"eval_every must be at least 1, got {opts['eval_every']}")
    batch = opts["batch"]
    if batch is not None:
        if batch < 1:
            raise FitError(f"batch must be at least 1 pixel, got {batch}")
        if not all(t.operator.pointwise and tuple(t.observed.shape[-2:]) == canvas_hw for t in terms):
            raise FitError("random-pixel batches work for denoise and inpaint only; sr and deblur need the whole image each step")
    crop = opts["crop"]
    if crop is not None:
        if batch is not None:
            raise FitError("use random pixels (batch) or random crops (crop), not both")
        if crop < 1:
            raise FitError(f"crop must be at least 1 pixel, got {crop}")
        if not all(t.operator.reach is not None and tuple(t.observed.shape[-2:]) == canvas_hw for t in terms):
            raise FitError("random crops work for denoise, inpaint and deblur (not circular blur); sr needs the whole "
                           "image each step")
    out_hw = canvas_hw if opts["out_size"] is None else (int(opts["out_size"][0]), int(opts["out_size"][1]))
    if min(out_hw) < 1:
        raise FitError(f"out_size must be positive, got {out_hw}")
    check_fit_pixels("the output", out_hw)
    stop = opts["stop"]
    if stop not in STOP_RULES:
        raise FitError(f"unknown stop rule {stop!r}; use one of {', '.join(STOP_RULES)}")
    reference = _check_reference(opts["reference"], terms[0].observed.shape[1], out_hw, device)
    if stop == "best-reference" and reference is None:
        raise FitError("stop='best-reference' needs a reference image")
    denoise_index = next((i for i, o in enumerate(observations) if o.task == "denoise"), None)
    sigma = opts["noise_sigma"]
    if stop == "noise-level":
        if denoise_index is None:
            raise FitError("stop='noise-level' needs a denoise observation")
        sigma = estimate_noise_sigma(terms[denoise_index].observed) if sigma is None else float(sigma)
        if not (math.isfinite(sigma) and sigma >= 0):
            raise FitError(f"noise_sigma must be >= 0, got {sigma!r}")
    pixels = pixels_per_step(batch, crop, canvas_hw)
    compiled = compile_choice(opts["compile_mode"], device, steps * pixels, opts["autocast_dtype"] is not None)
    return FitConfig(steps, float(opts["lr"]), int(opts["width"]), int(opts["depth"]), int(opts["seed"]), batch, crop,
                     int(opts["eval_every"]), opts["autocast_dtype"], stop, out_hw, reference, sigma, denoise_index,
                     opts["callback"], compiled, *_check_checkpoint(opts["checkpoint"], opts["checkpoint_every"]),
                     _resolve_chunk(opts["chunk"], device, pixels, sine_features(int(opts["width"]), int(opts["depth"])),
                                    opts["autocast_dtype"] is not None),
                     opts["chunk"] == "auto")


def check_fit_pixels(what: str, hw: tuple[int, int]) -> None:
    """FitError when ``hw`` (H, W) has more than :data:`srcli.geometry.MAX_OUTPUT_PIXELS` pixels."""
    try:
        check_output_pixels(hw, what, "check --scale and --size")
    except SizeError as exc:
        raise FitError(str(exc)) from None


def fp32_config(cfg: FitConfig, canvas_hw: tuple[int, int], device: torch.device, compile_mode: str) -> FitConfig:
    """``cfg`` for the fp32 redo of a low-precision fit: compiling chosen again, and an
    ``"auto"`` chunk sized again for fp32's larger activations."""
    pixels = pixels_per_step(cfg.batch, cfg.crop, canvas_hw)
    chunk = _resolve_chunk("auto", device, pixels, sine_features(cfg.width, cfg.depth), False) if cfg.chunk_auto else cfg.chunk
    return dataclasses.replace(cfg, autocast_dtype=None, chunk=chunk,
                               compiled=compile_choice(compile_mode, device, cfg.steps * pixels, False))


def sine_features(width: int, depth: int) -> int:
    """Features of all sine layers of a ``width`` x ``depth`` SIREN (what :func:`activation_bytes` counts)."""
    return width * (depth + 1)


def activation_bytes(coords: int, features: int, autocast: bool) -> int:
    """About the memory a training pass keeps for the backward pass: bytes per feature measured
    on this CPU's peak RSS (256 x 6 SIREN, 65,536 pixels: 16 in fp32, 10 in bf16), times
    the coordinates and the features of all sine layers."""
    return coords * features * (10 if autocast else 16)


def _resolve_chunk(chunk: int | str | None, device: torch.device, coords: int, features: int,
                   autocast: bool) -> int | None:
    """The ``chunk`` setting as coordinates per pass, or None for one pass.

    ``"auto"``: one pass while its activations (:func:`activation_bytes`) take at most
    :data:`AUTO_CHUNK_MEMORY_SHARE` of the free memory. Beyond that, on a CPU, chunks of
    :data:`MIN_AUTO_CHUNK`: their activations stay in cache, which pays for the recomputed
    forward pass (768x512 bf16 compiled deblur step: one pass 1.49-1.63 s, chunks of 8192
    1.58 s, two chunks of 196,608 2.06 s). Elsewhere, the fewest equal chunks that fit (a
    multiple of 256). 0 or None: one pass; a number: itself.
    """
    if chunk == "auto":
        from srcli.device import free_memory_bytes

        fits = int(AUTO_CHUNK_MEMORY_SHARE * free_memory_bytes(device)) // activation_bytes(1, features, autocast)
        if coords <= fits:
            return None
        if device.type == "cpu":
            return MIN_AUTO_CHUNK
        parts = math.ceil(coords / max(fits, 1))
        return max(MIN_AUTO_CHUNK, 256 * math.ceil(coords / parts / 256))
    if chunk is None or chunk == 0:
        return None
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise FitError(f"chunk must be 'auto', 0 (one pass) or a number of coordinates >= 1, got {chunk!r}")
    return chunk


def _check_checkpoint(checkpoint: str | os.PathLike[str] | None, every: int) -> tuple[str | None, int]:
    if checkpoint is None:
        return None, every
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise FitError(f"checkpoint_every must be an integer >= 1, got {every!r}")
    text = os.fspath(checkpoint)
    path = Path(text)
    folder = path if path.is_dir() or text.endswith(("/", os.sep)) else path.parent
    if not folder.is_dir():
        raise FitError(f"cannot keep the fit state in {text}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not path.is_dir() and not os.access(path, os.W_OK)):
        raise FitError(f"cannot keep the fit state in {text}: not writable")
    return text, every


def pixels_per_step(batch: int | None, crop: int | None, canvas_hw: tuple[int, int]) -> int:
    """Pixels a step evaluates, about (a crop's window grows at the blur's reach)."""
    return batch or (crop or 0) ** 2 or math.prod(canvas_hw)


def compile_choice(mode: str, device: torch.device, work: int, autocast: bool) -> bool:
    """:func:`srcli.device.resolve_compile` with its error as a :class:`FitError`."""
    try:
        return resolve_compile(mode, device, work, autocast)
    except DeviceError as exc:
        raise FitError(str(exc)) from None
