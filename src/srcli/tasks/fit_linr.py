"""LINR: restore one image by fitting a SIREN to it (denoise, SR, inpaint, deblur, joint).

The SIREN ``f`` maps LINR coordinates (:func:`srcli.models.siren.linr_coords`) to values
on LINR's ``[-1, 1]`` scale; the image is ``x = (f + 1) / 2``. A fit renders ``x`` on a
*canvas* (the size the operators need: the observed size, or ``scale`` times it for SR)
and minimises ``sum_i w_i mean((m_i (A_i x - y_i))^2)`` over the observations ``y_i``
(:mod:`srcli.tasks.forward_models`) with Adam. The fitted function is continuous: the
result can be rendered at any size (:func:`render`).

Paper settings (defaults when only observations are given): width 256, 6 hidden sine
layers, Adam lr 1e-4, full batch, 500 steps (4000 when a deblurring term is present),
lanczos2 downsampler, denoise terms weighted 0.1 in joint fits (1 alone, where the weight
does not matter), every other term 1. Faster and stochastic: random pixels per step
(``batch``) or a random window per step (``crop``); see :mod:`srcli.tasks.linr_terms`.

Stopping rules: ``"fixed"`` (the paper: all steps), ``"best-reference"`` (keep the state
with the best PSNR against a clean reference, for benchmarks) and ``"noise-level"``
(Morozov's discrepancy principle, no reference: stop once the denoise term's MSE falls to
the noise variance, estimated by :func:`estimate_noise_sigma` unless given; past that
point the function starts fitting the noise).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from srcli.device import keep_freed_memory
from srcli.errors import UsageError
from srcli.models.siren import (
    DEFAULT_DEPTH,
    DEFAULT_WIDTH,
    Siren,
    linr_coords,
    linr_extent,
    render,
)
from srcli.tasks.forward_models import (
    Blur,
    Chain,
    Downsample,
    ForwardModel,
    ForwardModelError,
    Identity,
    Mask,
    estimate_noise_sigma,
)
from srcli.tasks.linr_terms import (
    DataTerm,
    FlatTerm,
    crop_loss,
    crop_window,
    flatten_terms,
    full_loss,
    known_support,
    pixel_loss,
)

__all__ = ["FitError", "FitResult", "Observation", "build_operator", "estimate_noise_sigma", "fit_linr", "load_fit",
           "render", "save_fit"]

TASKS = ("denoise", "sr", "inpaint", "deblur")
STOP_RULES = ("fixed", "best-reference", "noise-level")
DEFAULT_STEPS = 500
DEFAULT_DEBLUR_STEPS = 4000
DEFAULT_LR = 1e-4
DEFAULT_JOINT_DENOISE_WEIGHT = 0.1


class FitError(UsageError):
    """Bad observations or settings for a LINR fit (message meant for the user)."""


@dataclass
class Observation:
    """One observed image and how it was corrupted.

    Attributes:
        task: ``"denoise"``, ``"sr"``, ``"inpaint"`` or ``"deblur"``; it names the main
            corruption and sets defaults. ``kernel``, ``scale`` and ``mask`` may be
            combined: the operator is blur, then downsample, then mask.
        image: ``(1, C, h, w)`` observed values on the ``[0, 1]`` scale (masked-out pixels
            may hold anything).
        weight: weight of this data term; None for the task default.
        mask: ``(h, w)``, ``(1 or C, h, w)`` or ``(1, 1 or C, h, w)``, 1 where observed.
        kernel: ``(kh, kw)`` blur kernel (convolution, replicated borders).
        scale: downsampling factor from the canvas to this observation (> 0).
        downsampler: ``"lanczos2"`` (LINR) or ``"bicubic"``.
    """

    task: str
    image: torch.Tensor
    weight: float | None = None
    mask: torch.Tensor | None = None
    kernel: torch.Tensor | None = None
    scale: float | None = None
    downsampler: str = "lanczos2"


@dataclass
class FitResult:
    """What :func:`fit_linr` returns.

    Attributes:
        model: the fitted :class:`Siren` (its ``extent`` buffer set), on the fit's device.
        image: ``(1, C, H, W)`` output rendered at ``out_hw``, clipped to ``[0, 1]``.
        curve: one dict per evaluation: ``step``, ``loss`` (weighted total), ``mse`` (per
            observation) and ``psnr`` (dB, RGB, against the reference) when one is given.
        steps: optimiser steps taken before the returned state.
        seconds: wall time of the fit.
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


def build_operator(obs: Observation) -> ForwardModel:
    """The forward model of one observation (blur, then downsample, then mask).

    Raises:
        FitError: unknown task, missing or malformed parts.
    """
    if obs.task not in TASKS:
        raise FitError(f"unknown task {obs.task!r}; use one of {', '.join(TASKS)}")
    image = obs.image
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[0] != 1 or not image.is_floating_point():
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise FitError(f"{obs.task}: the image must be a float tensor (1, C, h, w), got {shape}")
    required = {"sr": ("scale", obs.scale), "inpaint": ("mask", obs.mask), "deblur": ("kernel", obs.kernel)}
    if obs.task in required and required[obs.task][1] is None:
        raise FitError(f"task {obs.task!r} needs a {required[obs.task][0]}")
    ops: list[ForwardModel] = []
    try:
        if obs.kernel is not None:
            ops.append(Blur(obs.kernel))
        if obs.scale is not None:
            ops.append(Downsample(obs.scale, obs.downsampler))
        if obs.mask is not None:
            ops.append(Mask(obs.mask))
    except ForwardModelError as exc:
        raise FitError(f"{obs.task}: {exc}") from None
    if obs.mask is not None:
        m, c, hw = ops[-1].loss_mask(), image.shape[1], tuple(image.shape[-2:])
        if tuple(m.shape[-2:]) != hw or m.shape[1] not in (1, c):
            raise FitError(f"{obs.task}: mask shape {tuple(obs.mask.shape)} does not match the image (1, {c}, {hw[0]}, {hw[1]})")
    return Chain(ops) if ops else Identity()


def _resolve_terms(observations: list[Observation], device: torch.device) -> tuple[list[DataTerm], tuple[int, int]]:
    if not observations:
        raise FitError("fit_linr needs at least one observation")
    ops = [build_operator(o) for o in observations]
    channels = {o.image.shape[1] for o in observations}
    if len(channels) != 1:
        raise FitError(f"observations have different channel counts: {sorted(channels)}")
    canvases = {op.render_size(tuple(o.image.shape[-2:])) for o, op in zip(observations, ops, strict=True)}
    if len(canvases) != 1:
        raise FitError(f"observations need different canvases {sorted(canvases)} (HxW); make their sizes and scales agree")
    joint = len(observations) > 1
    terms = []
    for obs, op in zip(observations, ops, strict=True):
        weight = obs.weight
        if weight is None:
            weight = DEFAULT_JOINT_DENOISE_WEIGHT if obs.task == "denoise" and joint else 1.0
        if not (math.isfinite(weight) and weight >= 0):
            raise FitError(f"{obs.task}: weight must be a finite number >= 0, got {weight!r}")
        mask = op.loss_mask()
        terms.append(DataTerm(op, obs.image.detach().float().to(device), float(weight), None if mask is None else mask.to(device)))
    if sum(t.weight for t in terms) <= 0:
        raise FitError("all observation weights are 0")
    return terms, canvases.pop()


def _psnr(image: torch.Tensor, reference: torch.Tensor) -> float:
    mse = float((image.double() - reference.double()).square().mean())
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


@dataclass
class _Config:
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


class _NonFinite(RuntimeError):
    pass


class _Tracker:
    """Curve, best state and the current output image of one fit."""

    def __init__(self, cfg: _Config, model: Siren, coords: torch.Tensor, canvas_hw: tuple[int, int], terms: list[DataTerm]) -> None:
        self.cfg, self.model, self.coords, self.canvas_hw, self.terms = cfg, model, coords, canvas_hw, terms
        self.curve: list[dict[str, Any]] = []
        self.best: tuple[float, int, dict[str, torch.Tensor], torch.Tensor] | None = None
        self.image: torch.Tensor | None = None
        self.image_step = -1

    def noise_reached(self, mses: list[float] | None) -> bool:
        """True when the ``noise-level`` rule says stop (denoise MSE <= sigma^2)."""
        cfg = self.cfg
        if cfg.stop != "noise-level" or mses is None:
            return False
        return mses[cfg.denoise_index] <= cfg.noise_sigma ** 2  # type: ignore[index,operator]

    def image_at(self, step: int, canvas: torch.Tensor | None) -> torch.Tensor:
        """The output image of the current state (``canvas`` reused when it has the output size)."""
        if self.image_step != step:
            if self.cfg.out_hw == self.canvas_hw and canvas is not None:
                self.image = canvas.detach().clamp(0.0, 1.0)
            else:
                self.image = render(self.model, self.cfg.out_hw, autocast_dtype=self.cfg.autocast_dtype)
            self.image_step = step
        assert self.image is not None
        return self.image

    def record(self, step: int, loss: torch.Tensor, mses: list[torch.Tensor] | None, canvas: torch.Tensor | None) -> bool:
        """Add a curve entry; returns True when the callback asks to stop."""
        cfg = self.cfg
        if mses is None:  # mini-batch: evaluate the full data terms
            with torch.no_grad():
                loss, mses, canvas = full_loss(self.model, self.coords, self.canvas_hw, self.terms, cfg.autocast_dtype)
        entry: dict[str, Any] = {"step": step, "loss": float(loss.detach()), "mse": [float(m.detach()) for m in mses]}
        if cfg.reference is not None:
            image = self.image_at(step, canvas)
            entry["psnr"] = _psnr(image, cfg.reference)
            if self.best is None or entry["psnr"] > self.best[0]:
                state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                self.best = (entry["psnr"], step, state, image)
        self.curve.append(entry)
        return bool(cfg.callback(entry)) if cfg.callback is not None else False


def _new_model(channels: int, cfg: _Config, canvas_hw: tuple[int, int], device: torch.device) -> Siren:
    from srcli.registry import create

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = create("siren", out_features=channels, width=cfg.width, depth=cfg.depth)
    model.extent.copy_(torch.tensor(linr_extent(*canvas_hw)))
    return model.to(device).train()  # type: ignore[return-value]


@dataclass
class _LossPlan:
    """How each step evaluates the loss: the whole canvas, the known support or random pixels."""

    coords: torch.Tensor
    canvas_hw: tuple[int, int]
    terms: list[DataTerm]
    support: torch.Tensor | None
    flat: list[FlatTerm] | None
    generator: torch.Generator

    @classmethod
    def build(cls, terms: list[DataTerm], canvas_hw: tuple[int, int], cfg: _Config, coords: torch.Tensor) -> _LossPlan:
        support = None if cfg.batch or cfg.crop else known_support(terms, canvas_hw)
        flat = flatten_terms(terms) if cfg.batch or support is not None else None
        generator = torch.Generator(device=coords.device).manual_seed(cfg.seed)
        return cls(coords, canvas_hw, terms, support, flat, generator)

    def loss(self, model: Siren, cfg: _Config, final: bool) -> tuple[torch.Tensor, list[torch.Tensor] | None, torch.Tensor | None]:
        """``(loss, per-term MSEs or None for a random batch or crop, canvas or None)``."""
        if cfg.crop and not final:
            window = crop_window(self.canvas_hw, cfg.crop, self.generator)
            return crop_loss(model, self.coords, self.canvas_hw, self.terms, window, cfg.autocast_dtype), None, None
        if self.flat is None or (final and self.support is None):
            return full_loss(model, self.coords, self.canvas_hw, self.terms, cfg.autocast_dtype)
        if self.support is not None:
            loss, mses = pixel_loss(model, self.coords, self.flat, self.support, cfg.autocast_dtype,
                                    pixels=self.coords.shape[0])
            return loss, mses, None
        index = torch.randint(self.coords.shape[0], (cfg.batch,), generator=self.generator, device=self.coords.device)
        return pixel_loss(model, self.coords, self.flat, index, cfg.autocast_dtype)[0], None, None


def _run_fit(terms: list[DataTerm], canvas_hw: tuple[int, int], cfg: _Config, device: torch.device) -> FitResult:
    start = time.perf_counter()
    if device.type == "cpu":
        keep_freed_memory()  # every step allocates the same large activations again
    model = _new_model(terms[0].observed.shape[1], cfg, canvas_hw, device)
    coords = linr_coords(*canvas_hw, extent=tuple(model.extent.tolist()), device=device)
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    plan = _LossPlan.build(terms, canvas_hw, cfg, coords)
    track = _Tracker(cfg, model, coords, canvas_hw, terms)
    reason = f"fixed: {cfg.steps} steps" if cfg.stop != "noise-level" else f"noise-level: not reached in {cfg.steps} steps"
    for step in range(cfg.steps + 1):
        final = step == cfg.steps
        with torch.set_grad_enabled(not final):
            loss, mses, canvas = plan.loss(model, cfg, final)
        if not bool(torch.isfinite(loss)):
            raise _NonFinite(f"the loss became non-finite at step {step}")
        noise_hit = cfg.stop == "noise-level" and track.noise_reached(None if mses is None else [float(m.detach()) for m in mses])
        if final or noise_hit or step % cfg.eval_every == 0:
            stop_asked = track.record(step, loss, mses, canvas)
            noise_hit = noise_hit or track.noise_reached(track.curve[-1]["mse"])
            if noise_hit:
                reason = f"noise-level: data MSE reached sigma^2 at step {step}"
            elif stop_asked:
                reason = f"stopped by callback at step {step}"
            if final or noise_hit or stop_asked:
                track.image_at(step, canvas)
                break
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    result = _finish(track, model, step, reason, time.perf_counter() - start, canvas_hw)
    result.settings["pixels_per_step"] = (None if cfg.crop else cfg.batch or
                                          (coords.shape[0] if plan.support is None else plan.support.numel()))
    return result


def _finish(track: _Tracker, model: Siren, step: int, reason: str, seconds: float, canvas_hw: tuple[int, int]) -> FitResult:
    cfg = track.cfg
    best_step = best_psnr = None
    image = track.image
    if track.best is not None:
        best_psnr, best_step = track.best[0], track.best[1]
        if cfg.stop == "best-reference":
            model.load_state_dict(track.best[2])
            image, step, reason = track.best[3], best_step, f"best-reference: best PSNR at step {best_step}"
    assert image is not None
    model.eval()
    settings = {"steps": cfg.steps, "lr": cfg.lr, "width": cfg.width, "depth": cfg.depth, "seed": cfg.seed,
                "batch": cfg.batch, "crop": cfg.crop, "stop": cfg.stop, "precision": str(cfg.autocast_dtype or "fp32").replace("torch.", "")}
    return FitResult(model, image, track.curve, step, seconds, canvas_hw, cfg.out_hw, reason, best_step, best_psnr,
                     cfg.noise_sigma, settings)


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


def _resolve_config(observations: list[Observation], terms: list[DataTerm], canvas_hw: tuple[int, int], device: torch.device,
                    **opts: Any) -> _Config:
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
    return _Config(steps, float(opts["lr"]), int(opts["width"]), int(opts["depth"]), int(opts["seed"]), batch, crop,
                   int(opts["eval_every"]), opts["autocast_dtype"], stop, out_hw, reference, sigma, denoise_index,
                   opts["callback"])


def fit_linr(observations: list[Observation], *, out_size: tuple[int, int] | None = None, steps: int | None = None,
             lr: float = DEFAULT_LR, width: int = DEFAULT_WIDTH, depth: int = DEFAULT_DEPTH, seed: int = 0,
             batch: int | None = None, crop: int | None = None, reference: torch.Tensor | None = None, eval_every: int = 25,
             autocast_dtype: torch.dtype | None = None, device: torch.device | str | None = None,
             callback: Callable[[dict[str, Any]], bool | None] | None = None, stop: str = "fixed",
             noise_sigma: float | None = None) -> FitResult:
    """Fit a SIREN to one or more observations of an image and render the restored image.

    Args:
        observations: the data terms (see :class:`Observation`); their canvases must agree.
        out_size: ``(H, W)`` of the returned image; default the canvas (the fitted grid).
        steps: Adam steps; default 500, or 4000 with a deblur term (the paper's).
        lr: Adam learning rate (paper: 1e-4).
        width: SIREN features per layer (paper: 256).
        depth: hidden sine layers after the first (paper: 6, i.e. 8 linear layers).
        seed: seeds the initialisation and the pixel batches or crops.
        batch: pixels per step drawn at random (denoise/inpaint only); None: all (paper).
        crop: side of a random square window of the observations per step (denoise,
            inpaint, deblur; the SIREN also runs on the blur's reach around it); None:
            the whole image (paper). Much faster on large images; a stochastic fit.
        reference: clean ``(1, C, H_out, W_out)`` image; adds PSNR to the curve.
        eval_every: steps between curve entries (and callback calls).
        autocast_dtype: e.g. ``torch.bfloat16`` for the hidden layers; a fit that turns
            non-finite is redone in fp32.
        device: where to fit; default the first observation's device.
        callback: called with each curve entry; returning True stops the fit.
        stop: ``"fixed"``, ``"best-reference"`` or ``"noise-level"`` (module docstring).
        noise_sigma: noise level for ``"noise-level"`` (``[0, 1]`` scale); default estimated.

    Returns:
        A :class:`FitResult`.

    Raises:
        FitError: bad observations or settings, or a fit that diverges in fp32.
    """
    if not observations:
        raise FitError("fit_linr needs at least one observation")
    if not all(isinstance(o, Observation) for o in observations):
        raise FitError("observations must be srcli.tasks.fit_linr.Observation objects")
    dev = torch.device(device) if device is not None else observations[0].image.device
    terms, canvas_hw = _resolve_terms(observations, dev)
    cfg = _resolve_config(observations, terms, canvas_hw, dev, out_size=out_size, steps=steps, lr=lr, width=width,
                          depth=depth, seed=seed, batch=batch, crop=crop, reference=reference, eval_every=eval_every,
                          autocast_dtype=autocast_dtype, stop=stop, noise_sigma=noise_sigma, callback=callback)
    settings_tasks = [{"task": o.task, "size": list(o.image.shape[-2:]), "weight": t.weight, "operator": t.operator.describe()}
                      for o, t in zip(observations, terms, strict=True)]
    try:
        result = _run_fit(terms, canvas_hw, cfg, dev)
    except _NonFinite as exc:
        if cfg.autocast_dtype is None:
            raise FitError(f"{exc}; lower the learning rate") from None
        result = _run_fit(terms, canvas_hw, dataclasses.replace(cfg, autocast_dtype=None), dev)
        result.settings["precision_fallback"] = f"{exc} in {cfg.autocast_dtype}; redone in fp32"
    result.settings["observations"] = settings_tasks
    return result


def save_fit(path: str | os.PathLike[str], result: FitResult) -> None:
    """Save a fitted SIREN with its model card (a srcli checkpoint; render it again with :func:`load_fit`)."""
    from srcli.registry import save_checkpoint

    save_checkpoint(path, result.model, result.card())


def load_fit(path: str | os.PathLike[str]) -> tuple[Siren, dict[str, Any]]:
    """Load a fit saved by :func:`save_fit`.

    Returns:
        ``(model in eval mode with its extent, card)``; render it with :func:`render`.

    Raises:
        FitError: when the checkpoint holds another model.
    """
    from srcli.registry import load_checkpoint

    model, card = load_checkpoint(path)
    if not isinstance(model, Siren):
        raise FitError(f"{path} holds a {type(model).__name__}, not a fitted SIREN")
    return model, card
