"""Bench tasks ``points`` and ``inpaint`` for ``srcli bench quality`` (registered on import).

* ``points`` (setting ``ratio``): the ground truth is sampled with
  :func:`srcli.io.points.sample_points` at the ratio (pixel centres, or uniform positions
  with Keys bicubic values when the task option ``irregular`` is true), seeded per
  (seed, dataset, image, ratio); each method renders the points back at the image's size
  and geometry (:func:`srcli.tasks.from_points.from_points`).
* ``inpaint`` (setting ``drop``): ``round(drop * H * W)`` pixels are dropped at random
  (:func:`srcli.tasks.inpaint.drop_pixels`, seeded the same way); each method fills them
  (:func:`srcli.tasks.inpaint.inpaint_array`), known pixels kept (the ISP2HRNet protocol).
  With the task option ``scale`` S > 1, super-resolution of an incomplete image (ISP2HRNet's
  second table): the pixels are dropped from the ground truth's MATLAB-bicubic 1/S
  downscale rounded to 8 bits (as the upscale task makes LR images), and each method fills
  and upscales by S to the ground truth's size (:func:`sr_length` crops it so that sizes agree).

Methods (``--model``): ``nearest``, ``linear``, ``cubic``, ``rbf``, ``isp`` (the shipped
``isp-points`` weights, or ``--weights isp=CKPT``) and, for ``inpaint``, ``linr`` (task option
``linr_steps``). Metrics: PSNR and SSIM on all colour channels (alpha dropped), peak 1,
whole image, float64, output clamped to [0, 1] and not rounded. Baseline: ``linear``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from srcli.errors import UsageError
from srcli.tasks.bench import BenchContext, BenchTask, Observation, register_bench_task

#: scoring shared by both tasks (report header)
SCORING = "PSNR/SSIM on all colour channels, peak 1, whole image, output clamped to [0, 1], float64"
POINT_METHODS = ("nearest", "linear", "cubic", "rbf", "isp")
INPAINT_METHODS = (*POINT_METHODS, "linr")


def parse_ratio(text: str) -> float:
    """One ``ratio`` item: a finite number > 0 (ValueError otherwise)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{text!r} is not a sampling ratio > 0")
    return value


def parse_drop(text: str) -> float:
    """One ``drop`` item: a fraction of missing pixels in [0, 1) (ValueError otherwise)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 0 <= value < 1):
        raise ValueError(f"{text!r} is not a fraction of dropped pixels in [0, 1)")
    return value


def colour_only(gt: torch.Tensor, setting: Any, options: dict[str, Any]) -> torch.Tensor:
    """``(1, C, H, W)`` ground truth without its alpha channel."""
    return gt[:, :3] if gt.shape[1] == 4 else gt[:, :1] if gt.shape[1] == 2 else gt


def to_hwc(image: torch.Tensor) -> np.ndarray:
    """``(1, C, H, W)`` tensor -> ``(H, W, C)`` float32 array."""
    return image[0].permute(1, 2, 0).float().cpu().numpy()


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, C)`` array -> ``(1, C, H, W)`` float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))[None]


def load_method(name: str, weights: str | None, methods: tuple[str, ...]) -> tuple[str, Any]:
    """``(name, points network or None)``; UsageError for unknown names and ``isp`` without weights."""
    from srcli.tasks.points_files import load_points_model

    if name not in methods:
        raise UsageError(f"unknown method {name!r} for this bench task; use {', '.join(methods)}")
    return name, load_points_model(name, weights)


def _points_degrade(gt: torch.Tensor, ratio: float, seed: int, options: dict[str, Any]) -> Observation:
    from srcli.io.points import sample_points

    points = sample_points(to_hwc(gt), ratio, irregular=bool(options["irregular"]), seed=seed)
    return {"points": points, "hw": tuple(gt.shape[-2:])}


def _points_restore(obs: Observation, method: tuple[str, Any], ratio: float, ctx: BenchContext,
                    options: dict[str, Any]) -> torch.Tensor:
    from srcli.tasks.from_points import from_points

    h, w = obs["hw"]
    name, model = method
    result = from_points(obs["points"], size=(h, w), source_size=(w, h), method=name, model=model, runtime=ctx.runtime)
    return to_tensor(result.image)


def inpaint_scale(options: dict[str, Any]) -> float:
    """The ``scale`` task option of ``inpaint``, checked (UsageError unless a finite number >= 1)."""
    scale = float(options["scale"])
    if not (math.isfinite(scale) and scale >= 1):
        raise UsageError(f"--opt scale={options['scale']}: the inpaint task's output scale must be a number >= 1")
    return scale


def sr_length(length: int, scale: float) -> int:
    """The longest ground-truth length, at most ``length``, that a scale-``scale`` output of
    its MATLAB 1/scale downscale has exactly: ``scaled_length(ceil(m / scale), scale) == m``
    (0 when none does)."""
    from srcli.geometry import scaled_length
    from srcli.resize import imresize_output_size

    for lr in range(math.floor(length / scale + 1e-9) + 1, 0, -1):
        m = scaled_length(lr, scale)
        if m <= length and imresize_output_size((m, m), 1.0 / scale)[0] == lr:
            return m
    return 0


def _inpaint_prepare(gt: torch.Tensor, drop: float, options: dict[str, Any]) -> torch.Tensor:
    colour = colour_only(gt, drop, options)
    scale = inpaint_scale(options)
    if scale == 1:
        return colour
    h, w = (sr_length(n, scale) for n in colour.shape[-2:])
    if min(h, w) < 2 * scale + 1:
        raise UsageError(f"a {colour.shape[-1]}x{colour.shape[-2]} image is too small for --opt scale={scale:g}")
    return colour[..., :h, :w]


def _inpaint_degrade(gt: torch.Tensor, drop: float, seed: int, options: dict[str, Any]) -> Observation:
    from srcli.tasks.inpaint import drop_pixels
    from srcli.training.degradations import bicubic_downscale, quantize_8bit

    scale = inpaint_scale(options)
    image = to_hwc(gt if scale == 1 else quantize_8bit(bicubic_downscale(gt.double(), scale)).float())
    known = drop_pixels(image.shape[:2], drop, seed)
    return {"image": np.where(known[..., None], image, 0).astype(np.float32), "known": known}


def _inpaint_restore(obs: Observation, method: tuple[str, Any], drop: float, ctx: BenchContext,
                     options: dict[str, Any]) -> torch.Tensor:
    from srcli.tasks.inpaint import inpaint_array

    name, model = method
    out = inpaint_array(obs["image"], obs["known"], scale=inpaint_scale(options), method=name, model=model,
                        runtime=ctx.runtime, steps=int(options["linr_steps"]))
    return to_tensor(out)


def rgb_psnr(restored: torch.Tensor, gt: torch.Tensor, obs: Observation, setting: Any, options: dict[str, Any]) -> float:
    """PSNR (dB) over all channels, peak 1, restored clamped to [0, 1]."""
    from srcli.metrics import psnr

    return float(psnr(restored.clamp(0, 1), gt, peak=1.0)[0])


def rgb_ssim(restored: torch.Tensor, gt: torch.Tensor, obs: Observation, setting: Any, options: dict[str, Any]) -> float:
    """SSIM over all channels (mean), peak 1, restored clamped to [0, 1]."""
    from srcli.metrics import ssim

    return float(ssim(restored.clamp(0, 1), gt, peak=1.0)[0])


POINTS_TASK = register_bench_task(BenchTask(
    name="points",
    description="images from scattered samples of the ground truth (ratio = samples per pixel)",
    setting_name="ratio",
    parse_setting=parse_ratio,
    prepare=colour_only,
    degrade=_points_degrade,
    restore=_points_restore,
    load_method=lambda name, weights: load_method(name, weights, POINT_METHODS),
    metrics={"psnr": rgb_psnr, "ssim": rgb_ssim},
    default_metrics=("psnr", "ssim"),
    baseline="linear",
    options={"irregular": False},
    default_settings="0.2",
    default_methods="nearest,linear,cubic,rbf",
    describe_observation=lambda obs: {"points": len(obs["points"]), "size": [obs["hw"][1], obs["hw"][0]]},
    protocol="round(ratio * H * W) samples per image, seeded by (seed, dataset, image, ratio), the first four "
             "in the corner pixels: pixel centres (regular) or uniform fractional positions with Keys bicubic "
             "values (irregular); " + SCORING,
))

INPAINT_TASK = register_bench_task(BenchTask(
    name="inpaint",
    description="random missing pixels filled, known pixels kept (drop = fraction missing)",
    setting_name="drop",
    parse_setting=parse_drop,
    prepare=_inpaint_prepare,
    degrade=_inpaint_degrade,
    restore=_inpaint_restore,
    load_method=lambda name, weights: load_method(name, weights, INPAINT_METHODS),
    metrics={"psnr": rgb_psnr, "ssim": rgb_ssim},
    default_metrics=("psnr", "ssim"),
    baseline="linear",
    options={"linr_steps": 500, "scale": 1.0},
    default_settings="0.5,0.8",
    default_methods="nearest,linear,cubic,rbf",
    describe_observation=lambda obs: {"known": int(obs["known"].sum()),
                                      "size": [obs["known"].shape[1], obs["known"].shape[0]]},
    protocol="round(drop * H * W) pixels missing at random, seeded by (seed, dataset, image, drop); "
             "known pixels kept in every output at scale 1; with option scale S > 1 the pixels go missing from the "
             "MATLAB-bicubic 1/S downscale rounded to 8 bits and each method fills and upscales by S; " + SCORING,
))
