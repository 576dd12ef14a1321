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

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from srcli.models.siren import DEFAULT_DEPTH, DEFAULT_WIDTH, Siren, render
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
from srcli.tasks.linr_config import (
    DEFAULT_CHECKPOINT_EVERY,
    DEFAULT_DEBLUR_STEPS,
    DEFAULT_LR,
    DEFAULT_STEPS,
    STOP_RULES,
    FitError,
    check_fit_pixels,
    fp32_config,
    resolve_config,
)
from srcli.tasks.linr_loop import FitConfig, FitResult, NonFiniteLoss, run_fit
from srcli.tasks.linr_state import FitStateError
from srcli.tasks.linr_terms import DataTerm

__all__ = ["DEFAULT_DEBLUR_STEPS", "DEFAULT_STEPS", "STOP_RULES", "FitError", "FitResult", "Observation",
           "build_operator", "estimate_noise_sigma", "fit_linr", "load_fit", "render", "save_fit"]

TASKS = ("denoise", "sr", "inpaint", "deblur")
DEFAULT_JOINT_DENOISE_WEIGHT = 0.1


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
    check_fit_pixels("the fitted canvas", next(iter(canvases)))
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


def fit_linr(observations: list[Observation], *, out_size: tuple[int, int] | None = None, steps: int | None = None,
             lr: float = DEFAULT_LR, width: int = DEFAULT_WIDTH, depth: int = DEFAULT_DEPTH, seed: int = 0,
             batch: int | None = None, crop: int | None = None, reference: torch.Tensor | None = None, eval_every: int = 25,
             autocast_dtype: torch.dtype | None = None, device: torch.device | str | None = None,
             callback: Callable[[dict[str, Any]], bool | None] | None = None, stop: str = "fixed",
             noise_sigma: float | None = None, compile_mode: str = "auto", checkpoint: str | os.PathLike[str] | None = None,
             checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY, chunk: int | str | None = "auto") -> FitResult:
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
            the whole image (paper). A stochastic fit: cheaper steps, but one window of
            a large image per step under-fits at the paper's step counts.
        reference: clean ``(1, C, H_out, W_out)`` image; adds PSNR to the curve.
        eval_every: steps between curve entries (and callback calls).
        autocast_dtype: e.g. ``torch.bfloat16`` for the hidden layers; a fit that turns
            non-finite is redone in fp32.
        device: where to fit; default the first observation's device.
        callback: called with each curve entry; returning True stops the fit.
        stop: ``"fixed"``, ``"best-reference"`` or ``"noise-level"`` (module docstring).
        noise_sigma: noise level for ``"noise-level"`` (``[0, 1]`` scale); default estimated.
        compile_mode: ``"on"``: run the SIREN through ``torch.compile`` (falls back to
            eager, with a warning, where it cannot build); ``"off"``; ``"auto"``: on for
            CUDA fits and bf16 CPU fits of at least
            :data:`srcli.device.AUTO_COMPILE_WORK` pixel evaluations.
        checkpoint: a state file (or a folder for ``linr-<fingerprint>.pt`` files) that
            makes the fit resumable: written every ``checkpoint_every`` steps and on
            SIGINT/SIGTERM; the same fit continues from it, and once ended returns its
            result from it (:mod:`srcli.tasks.linr_state`).
        checkpoint_every: steps between writes of the state file.
        chunk: coordinates per SIREN pass, activations recomputed in the backward pass
            (:func:`srcli.models.siren.evaluate`), so a step's memory stops growing with
            the image: ``"auto"`` (one pass while it needs at most a quarter of the free
            memory, else chunks: 8192 coordinates on a CPU, the fewest that fit on a GPU),
            0 or None (one pass), or a number.

    Returns:
        A :class:`FitResult`.

    Raises:
        FitError: bad observations or settings, a state file of another fit, or a fit
            that diverges in fp32.
        srcli.tasks.linr_config.FitInterrupted: SIGINT/SIGTERM stopped a fit with a state
            file (a KeyboardInterrupt; the file is written first).
    """
    if not observations:
        raise FitError("fit_linr needs at least one observation")
    if not all(isinstance(o, Observation) for o in observations):
        raise FitError("observations must be srcli.tasks.fit_linr.Observation objects")
    dev = torch.device(device) if device is not None else observations[0].image.device
    terms, canvas_hw = _resolve_terms(observations, dev)
    cfg = resolve_config(observations, terms, canvas_hw, dev, out_size=out_size, steps=steps, lr=lr, width=width,
                         depth=depth, seed=seed, batch=batch, crop=crop, reference=reference, eval_every=eval_every,
                         autocast_dtype=autocast_dtype, stop=stop, noise_sigma=noise_sigma, callback=callback,
                         compile_mode=compile_mode, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                         chunk=chunk)
    settings_tasks = [{"task": o.task, "size": list(o.image.shape[-2:]), "weight": t.weight, "operator": t.operator.describe()}
                      for o, t in zip(observations, terms, strict=True)]
    try:
        result = _fit_with_fallback(terms, canvas_hw, cfg, dev, compile_mode)
    except FitStateError as exc:
        raise FitError(str(exc)) from None
    result.settings["observations"] = settings_tasks
    return result


def _fit_with_fallback(terms: list[DataTerm], canvas_hw: tuple[int, int], cfg: FitConfig, device: torch.device,
                       compile_mode: str) -> FitResult:
    """:func:`run_fit`, redone in fp32 when a low-precision loss turns non-finite.

    With a state file, the fall back is recorded in it, so a rerun goes straight to (or
    continues) the fp32 fit; a fit that cannot go on removes its file.
    """
    store = cfg.store(terms, canvas_hw)
    saved = store.load() if store is not None else None
    fallback = store.fallback if store is not None else None
    try:
        if fallback is None:
            try:
                return run_fit(terms, canvas_hw, cfg, device, store, saved)
            except NonFiniteLoss as exc:
                if cfg.autocast_dtype is None:
                    raise
                fallback, saved = f"{exc} in {cfg.autocast_dtype}; redone in fp32", None
                if store is not None:
                    store.mark_fallback(fallback)
        result = run_fit(terms, canvas_hw, fp32_config(cfg, canvas_hw, device, compile_mode), device, store, saved)
    except NonFiniteLoss as exc:
        if store is not None:
            store.discard()
        raise FitError(f"{exc}; lower the learning rate") from None
    result.settings["precision_fallback"] = fallback
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
