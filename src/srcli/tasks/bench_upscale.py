"""The ``upscale`` bench task: super-resolution under the protocol of PUBLISHED.md.

The protocol (mod-crop, 8-bit bicubic LR, Y channel, shave ``ceil(scale)``, LR-PSNR) is
described in :mod:`srcli.tasks.bench`; this module holds its degradation, restoration,
metrics and model loading.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from srcli.errors import UsageError
from srcli.tasks.bench import BenchContext, BenchTask, Observation, register_bench_task


def parse_scale(text: str) -> float:
    """One ``--scale`` item: a finite number >= 1 (ValueError with a short reason otherwise)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 1):
        raise ValueError(f"{text!r} is not a scale >= 1")
    return value


def _upscale_prepare(gt: torch.Tensor, scale: float, options: dict[str, Any]) -> torch.Tensor:
    from srcli.training.degradations import mod_crop

    colour = gt[:, :3] if gt.shape[1] == 4 else gt[:, :1] if gt.shape[1] == 2 else gt
    if min(colour.shape[-2:]) < 2 * scale + 1:
        raise UsageError(f"a {colour.shape[-1]}x{colour.shape[-2]} image is too small for scale {scale:g}")
    return mod_crop(colour, scale)


def _upscale_degrade(gt: torch.Tensor, scale: float, seed: int, options: dict[str, Any]) -> Observation:
    from srcli.training.degradations import bicubic_downscale, quantize_8bit

    lr = bicubic_downscale(gt.double(), scale)
    if options["quantize"]:
        lr = quantize_8bit(lr)
    return {"lr": lr.float(), "hr_size": tuple(gt.shape[-2:])}


def _upscale_restore(obs: Observation, model: Any, scale: float, ctx: BenchContext, options: dict[str, Any]) -> torch.Tensor:
    from srcli.tasks.upscale import upscale_tensor

    out = upscale_tensor(obs["lr"], obs["hr_size"], model, runtime=ctx.runtime, tile=ctx.tile, chunk=ctx.chunk)
    return out.clamp(0, 1) if options["clamp"] else out


def load_upscaler(name: str, weights: str | None) -> Any:
    """A registered upscaler (or checkpoint) ready to run; a user error for unusable names or missing weights."""
    from srcli.registry import get_entry, load_model

    if weights is None and not Path(name).suffix:
        entry = get_entry(name)
        if entry.task != "upscale":
            raise UsageError(f"model {name!r} is a {entry.task} model, not an upscaler; see `srcli models --task upscale`")
        if not entry.has_weights:
            raise UsageError(f"model {name!r} has no shipped weights; pass --weights {name}=PATH/best.pt or leave it out")
    model, _card = load_model(name, weights)
    return model


def channel_kwargs(image: torch.Tensor, options: dict[str, Any]) -> dict[str, Any]:
    """Metric keywords of the protocol: Y (255 peak) for colour, grey values (peak 1 on [0, 1]) for grey."""
    y = bool(options["y_channel"]) and image.shape[1] == 3
    return {"y_channel": y} if y else {"y_channel": False, "peak": 1.0}


def _psnr(sr: torch.Tensor, gt: torch.Tensor, obs: Observation, scale: float, options: dict[str, Any]) -> float:
    from srcli.metrics import psnr, shave_for_scale

    return float(psnr(sr, gt, shave=shave_for_scale(scale), **channel_kwargs(gt, options)))


def _ssim(sr: torch.Tensor, gt: torch.Tensor, obs: Observation, scale: float, options: dict[str, Any]) -> float:
    from srcli.metrics import shave_for_scale, ssim

    return float(ssim(sr, gt, shave=shave_for_scale(scale), **channel_kwargs(gt, options)))


def _lr_psnr(sr: torch.Tensor, gt: torch.Tensor, obs: Observation, scale: float, options: dict[str, Any]) -> float:
    from srcli.metrics import lr_psnr

    return float(lr_psnr(sr, obs["lr"].to(sr.device), **channel_kwargs(gt, options)))


UPSCALE_TASK = register_bench_task(BenchTask(
    name="upscale",
    description="bicubic-downscaled benchmark super-resolution (PUBLISHED.md protocol)",
    setting_name="scale",
    parse_setting=parse_scale,
    prepare=_upscale_prepare,
    degrade=_upscale_degrade,
    restore=_upscale_restore,
    load_method=load_upscaler,
    metrics={"psnr": _psnr, "ssim": _ssim, "lr_psnr": _lr_psnr},
    default_metrics=("psnr", "ssim"),
    baseline="bicubic",
    options={"quantize": True, "y_channel": True, "clamp": True},
    describe_observation=lambda obs: {"lr_size": [obs["lr"].shape[-1], obs["lr"].shape[-2]],
                                      "hr_size": [obs["hr_size"][1], obs["hr_size"][0]]},
    default_settings="2,3,4",
    default_methods="bicubic",
))
