"""Validation: held-out HR crops with 8-bit bicubic LRs, full-image prediction, mean PSNR.

Validation pairs are the benchmark protocol in small: the HR centre crop, mod-cropped per
scale, its LR by MATLAB ``imresize(hr, 1/scale)`` rounded to 8 bits; the model queries every
pixel centre of the HR grid and the score is the Y-channel PSNR with ``scale`` pixels shaved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from srcli.device import Runtime
from srcli.training.datasets import DataError, list_images, read_rgb, to_tensor
from srcli.training.degradations import bicubic_downscale, mod_crop, quantize_8bit


@dataclass
class ValidationPair:
    """One validation input: ``lr`` (1, 3, h, w) and ``hr`` (1, 3, H, W) at an integer ``scale``."""

    name: str
    scale: int
    lr: torch.Tensor
    hr: torch.Tensor


def centre_crop(image: torch.Tensor, side: int) -> torch.Tensor:
    """The central ``side x side`` part of (..., H, W) (sides shorter than ``side`` kept whole)."""
    h, w = image.shape[-2:]
    ch, cw = min(h, side), min(w, side)
    top, left = (h - ch) // 2, (w - cw) // 2
    return image[..., top: top + ch, left: left + cw]


def load_validation_set(folder: str | Path, scales: Sequence[int], crop: int, max_images: int) -> list[ValidationPair]:
    """HR centre crops (``crop`` pixels, 0 = whole), mod-cropped per scale, with 8-bit bicubic LRs.

    The LR is MATLAB ``imresize(hr, 1/scale)`` rounded to 8 bits, as benchmark LR files are.

    Raises:
        DataError: a missing or empty folder, or an image smaller than a scale.
    """
    pairs = []
    for path in list_images([folder], what="validation")[:max_images]:
        image = to_tensor(read_rgb(path))[None]
        if crop:
            image = centre_crop(image, crop)
        for scale in scales:
            if min(image.shape[-2:]) < 2 * scale + 1:
                raise DataError(f"validation image {path.name} is too small for scale {scale}")
            hr = mod_crop(image, scale).contiguous()
            pairs.append(ValidationPair(path.name, int(scale), quantize_8bit(bicubic_downscale(hr, scale)), hr))
    return pairs



@torch.no_grad()
def predict_image(model: nn.Module, lr: torch.Tensor, size: tuple[int, int], runtime: Runtime,
                  chunk: int = 65536) -> torch.Tensor:
    """Query every pixel centre of an ``size`` output: (1, 3, h, w) -> (1, 3, H, W) clamped to [0, 1]."""
    from srcli.geometry import query_coords_and_cells

    height, width = size
    with runtime.autocast():
        feat = model.encode(lr.to(runtime.device))
        feat = model.prepare(feat) if hasattr(model, "prepare") else feat
        coord, cell = query_coords_and_cells(height, width, device=runtime.device)
        parts = [model.query(feat, coord[None, s: s + chunk], cell[None, s: s + chunk]).float()
                 for s in range(0, coord.shape[0], chunk)]
    rgb = torch.cat(parts, dim=1).clamp(0, 1).cpu()
    return rgb.view(1, height, width, 3).permute(0, 3, 1, 2)


def mean_psnr_by(model: nn.Module, items: list[Any], score: Callable[[Any], tuple[float, float]],
                 label: str) -> dict[str, float]:
    """Validation means: ``score(item) -> (group, PSNR)`` for each item, with ``model`` in eval mode.

    Returns:
        ``{label.format(group): mean PSNR of the group, ..., "psnr": mean over all items}``,
        groups in increasing order.
    """
    was_training = model.training
    model.eval()
    groups: dict[float, list[float]] = {}
    for item in items:
        group, value = score(item)
        groups.setdefault(group, []).append(value)
    model.train(was_training)
    result = {label.format(g): float(np.mean(v)) for g, v in sorted(groups.items())}
    result["psnr"] = float(np.mean([x for v in groups.values() for x in v]))
    return result


def validate(model: nn.Module, pairs: list[ValidationPair], runtime: Runtime) -> dict[str, float]:
    """Mean Y-channel PSNR (shave = scale, SR clamped) per scale and over every pair.

    Returns:
        ``{"psnr": mean over all pairs, "psnr_x2": mean at x2, ...}``.
    """
    from srcli.metrics import psnr

    def score(pair: ValidationPair) -> tuple[float, float]:
        sr = predict_image(model, pair.lr, tuple(pair.hr.shape[-2:]), runtime)
        return pair.scale, float(psnr(sr, pair.hr, shave=pair.scale, y_channel=True)[0])

    return mean_psnr_by(model, pairs, score, "psnr_x{:g}")
