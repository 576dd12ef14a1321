"""Observations of ``srcli fit-linr`` from image files: ``TASK:PATH[:WEIGHT]`` specs and their rules.

The main ``IMAGE`` argument of the command is one more spec, of task ``auto``: it takes
the task its options imply (sr with a scale, deblur with a kernel, inpaint with a mask, a
missing value or an alpha channel, else denoise) and every corruption option given.
Corruption options apply to every observation of the matching task: ``scale`` to ``sr``,
``kernel`` to ``deblur``, the mask (``mask``, ``missing_value`` or the image's alpha
channel) to ``inpaint``. Only colour channels are fitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from srcli.errors import UsageError
from srcli.tasks.outputs import colour

if TYPE_CHECKING:
    import torch

    from srcli.io.images import Image
    from srcli.tasks.fit_linr import Observation
    from srcli.tasks.linr_files import FitLinrOptions

TASKS = ("auto", "denoise", "sr", "inpaint", "deblur")


@dataclass
class ObserveSpec:
    """One observation named on the command line: ``task``, image ``path`` and ``weight`` (None: default)."""

    task: str
    path: str
    weight: float | None = None


def parse_observe(text: str) -> ObserveSpec:
    """``"sr:low.png"`` or ``"denoise:noisy.png:0.1"`` -> :class:`ObserveSpec` (UsageError otherwise).

    A last ``:PART`` is the weight only when it is a number, so paths with colons work.
    """
    task, sep, rest = text.partition(":")
    task = task.strip().lower()
    if not sep or not rest or task not in TASKS[1:]:
        raise UsageError(f"--observe takes TASK:PATH[:WEIGHT] with TASK one of {', '.join(TASKS[1:])}, got {text!r}")
    path, sep, last = rest.rpartition(":")
    if sep:
        try:
            weight = float(last)
        except ValueError:
            return ObserveSpec(task, rest)
        if not path:
            raise UsageError(f"--observe {text!r} names no image; use TASK:PATH[:WEIGHT]")
        if not (math.isfinite(weight) and weight >= 0):
            raise UsageError(f"--observe weight must be a finite number >= 0, got {last!r} in {text!r}")
        return ObserveSpec(task, path, weight)
    return ObserveSpec(task, rest)


def auto_task(opts: FitLinrOptions, image: Image) -> str:
    """The task an ``auto`` main image takes from the options given (module doc)."""
    if opts.scale is not None:
        return "sr"
    if opts.kernel is not None:
        return "deblur"
    if opts.mask is not None or opts.missing_value is not None or image.has_alpha:
        return "inpaint"
    return "denoise"


def _known_mask(name: str, image: Image, opts: FitLinrOptions, mask_image: Image | None) -> np.ndarray:
    from srcli.tasks.inpaint import known_pixels, parse_missing_value

    if mask_image is None and opts.missing_value is None and not image.has_alpha:
        raise UsageError(f"{name}: nothing marks the missing pixels: give --mask or --missing-value, "
                         "or an image whose alpha channel is 0 where pixels are missing")
    missing = parse_missing_value(opts.missing_value) if opts.missing_value is not None else None
    known, source = known_pixels(image, mask=mask_image, invert_mask=opts.invert_mask, missing_value=missing)
    if not known.any():
        how = {"mask": "--mask marks", "missing-value": "--missing-value matches", "alpha": "the alpha channel (0) marks"}
        raise UsageError(f"{name}: no pixel is known; {how.get(source, 'the mask marks')} every pixel missing")
    return known


def build_observation(spec: ObserveSpec, image: Image, opts: FitLinrOptions, kernel: torch.Tensor | None,
                      mask_image: Image | None) -> Observation:
    """The :class:`~srcli.tasks.fit_linr.Observation` of one image under the module's rules.

    A spec of task ``auto`` (the main image) takes its task from the options and every
    corruption option given.
    """
    import torch

    from srcli.tasks.fit_linr import Observation

    task = auto_task(opts, image) if spec.task == "auto" else spec.task
    pixels = colour(image.pixels) if image.has_alpha else image.pixels
    tensor = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32))[None]
    every = spec.task == "auto"
    scale = opts.scale if task == "sr" or (every and opts.scale is not None) else None
    blur = kernel if task == "deblur" or (every and kernel is not None) else None
    mask = None
    if task == "inpaint":
        mask = torch.from_numpy(_known_mask(spec.path, image, opts, mask_image).astype(np.float32))
    if task == "sr" and scale is None:
        raise UsageError(f"{spec.path}: an sr observation needs --scale (the factor from the output canvas to it)")
    if task == "deblur" and blur is None:
        raise UsageError(f"{spec.path}: a deblur observation needs --kernel (gauss:SIZE:SIGMA, e.g. gauss:25:1.6, or a file)")
    return Observation(task=task, image=tensor, weight=spec.weight, mask=mask, kernel=blur, scale=scale)
