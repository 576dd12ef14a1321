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
does not matter), every other term 1.

Stopping rules: ``"fixed"`` (the paper: all steps), ``"best-reference"`` (keep the state
with the best PSNR against a clean reference, for benchmarks) and ``"noise-level"``
(Morozov's discrepancy principle, no reference: stop once the denoise term's MSE falls to
the noise variance, estimated by :func:`estimate_noise_sigma` unless given; past that
point the function starts fitting the noise).
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from srcli.errors import UsageError
from srcli.models.siren import DEFAULT_DEPTH, DEFAULT_WIDTH, Siren, linr_coords, linr_extent
from srcli.tasks.forward_models import Blur, Chain, Downsample, ForwardModel, Identity, Mask, data_term

TASKS = ("denoise", "sr", "inpaint", "deblur")
STOP_RULES = ("fixed", "best-reference", "noise-level")
DEFAULT_STEPS = 500
DEFAULT_DEBLUR_STEPS = 4000
DEFAULT_LR = 1e-4
DEFAULT_JOINT_DENOISE_WEIGHT = 0.1
#: MAD of a standard normal: median(|N(0, 1)|)
MAD_TO_SIGMA = 0.6744897501960817
RENDER_CHUNK = 65536


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


def estimate_noise_sigma(image: torch.Tensor) -> float:
    """Donoho's robust estimate of white Gaussian noise: ``median(|HH|) / 0.6745``.

    ``HH`` is the finest diagonal subband of the orthonormal Haar transform,
    ``(a - b - c + d) / 2`` on each 2x2 block; natural images are nearly flat there, so
    its median absolute value measures the noise. All channels are pooled.

    Args:
        image: ``(B, C, H, W)``, ``(C, H, W)`` or ``(H, W)`` with ``H, W >= 2``.

    Returns:
        The standard deviation on the image's scale.
    """
    x = image.detach().float()
    if x.dim() < 2 or x.shape[-1] < 2 or x.shape[-2] < 2:
        raise FitError(f"noise estimation needs an image of at least 2x2 pixels, got shape {tuple(image.shape)}")
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :h, :w]
    hh = (x[..., 0::2, 0::2] - x[..., 0::2, 1::2] - x[..., 1::2, 0::2] + x[..., 1::2, 1::2]) / 2.0
    return float(hh.abs().median()) / MAD_TO_SIGMA


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
    if obs.kernel is not None:
        ops.append(Blur(obs.kernel))
    if obs.scale is not None:
        ops.append(Downsample(obs.scale, obs.downsampler))
    if obs.mask is not None:
        mask = Mask(obs.mask)
        c, hw = image.shape[1], tuple(image.shape[-2:])
        if tuple(mask.mask.shape[-2:]) != hw or mask.mask.shape[1] not in (1, c):
            raise FitError(f"inpaint: mask shape {tuple(obs.mask.shape)} does not match the image (1, {c}, {hw[0]}, {hw[1]})")
        ops.append(mask)
    return Chain(ops) if ops else Identity()


@dataclass
class _Term:
    operator: ForwardModel
    observed: torch.Tensor
    weight: float
    mask: torch.Tensor | None


def _resolve_terms(observations: list[Observation], device: torch.device) -> tuple[list[_Term], tuple[int, int]]:
    if not observations:
        raise FitError("fit_linr needs at least one observation")
    ops = [build_operator(o) for o in observations]
    channels = {o.image.shape[1] for o in observations}
    if len(channels) != 1:
        raise FitError(f"observations have different channel counts: {sorted(channels)}")
    canvases = {op.render_size(tuple(o.image.shape[-2:])) for o, op in zip(observations, ops)}
    if len(canvases) != 1:
        raise FitError(f"observations need different canvases {sorted(canvases)} (HxW); make their sizes and scales agree")
    joint = len(observations) > 1
    terms = []
    for obs, op in zip(observations, ops):
        weight = obs.weight if obs.weight is not None else (DEFAULT_JOINT_DENOISE_WEIGHT if obs.task == "denoise" and joint else 1.0)
        if not (math.isfinite(weight) and weight >= 0):
            raise FitError(f"{obs.task}: weight must be a finite number >= 0, got {weight!r}")
        mask = op.loss_mask()
        terms.append(_Term(op, obs.image.detach().float().to(device), float(weight), None if mask is None else mask.to(device)))
    if sum(t.weight for t in terms) <= 0:
        raise FitError("all observation weights are 0")
    return terms, canvases.pop()


def values_to_image(values: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """SIREN outputs ``(H*W, C)`` on ``[-1, 1]`` to an image ``(1, C, H, W)`` on ``[0, 1]`` (not clipped)."""
    return (values.float() * 0.5 + 0.5).t().reshape(1, -1, hw[0], hw[1])


def render(model: Siren, size: tuple[int, int], *, extent: tuple[float, float] | None = None,
           chunk: int = RENDER_CHUNK, autocast_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Render a fitted SIREN on an ``H x W`` grid of pixel centres over its extent.

    Args:
        model: fitted SIREN (its ``extent`` buffer gives the continuous extent).
        size: output ``(H, W)``.
        extent: override of the half-extents ``(ey, ex)``.
        chunk: coordinates evaluated at once (bounds memory).
        autocast_dtype: e.g. ``torch.bfloat16`` for the hidden layers; None for fp32.

    Returns:
        ``(1, C, H, W)`` float32 image clipped to ``[0, 1]``, on the model's device.
    """
    h, w = int(size[0]), int(size[1])
    if h <= 0 or w <= 0 or chunk <= 0:
        raise FitError(f"render size and chunk must be positive, got {h}x{w}, chunk {chunk}")
    device = model.extent.device
    ext = tuple(model.extent.tolist()) if extent is None else extent
    coords = linr_coords(h, w, extent=ext, device=device)
    with torch.no_grad(), torch.autocast(device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
        values = torch.cat([model(part).float() for part in coords.split(chunk)])
    return values_to_image(values, (h, w)).clamp_(0.0, 1.0)


def _psnr(image: torch.Tensor, reference: torch.Tensor) -> float:
    mse = float((image.double() - reference.double()).square().mean())
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


def _full_loss(model: Siren, coords: torch.Tensor, canvas_hw: tuple[int, int], terms: list[_Term],
               autocast_dtype: torch.dtype | None) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    with torch.autocast(coords.device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
        values = model(coords)
    canvas = values_to_image(values, canvas_hw)
    mses = [data_term(t.operator(canvas, tuple(t.observed.shape[-2:])), t.observed, t.mask) for t in terms]
    return sum(t.weight * m for t, m in zip(terms, mses)), mses, canvas


def _batch_loss(model: Siren, coords: torch.Tensor, flat: list[tuple[torch.Tensor, torch.Tensor | None]],
                terms: list[_Term], index: torch.Tensor, autocast_dtype: torch.dtype | None) -> torch.Tensor:
    with torch.autocast(coords.device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
        values = model(coords[index])
    pred = values.float() * 0.5 + 0.5
    return sum(t.weight * data_term(pred, y[index], None if m is None else m[index]) for t, (y, m) in zip(terms, flat))


def _flatten(terms: list[_Term]) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    def flat(t: torch.Tensor) -> torch.Tensor:
        return t[0].reshape(t.shape[1], -1).t()

    return [(flat(t.observed), None if t.mask is None else flat(t.mask)) for t in terms]
