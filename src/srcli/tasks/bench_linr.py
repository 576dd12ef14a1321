"""``bench quality --task linr``: one SIREN fitted per image, for each LINR task.

Settings (``--case``, comma-separated) name the corruption, with the paper's values as
defaults:

* ``sr:S``: MATLAB-bicubic downscaling by ``S`` (HR mod-cropped, LR rounded to 8 bits, as
  ``--task upscale``); the fit's loss uses LINR's lanczos2 downsampler.
* ``denoise:SIGMA``: white Gaussian noise of ``SIGMA`` on the 0-255 scale (not clipped).
* ``inpaint:DROP``: a random ``DROP`` fraction of the pixels missing (``inpaint:0.9`` keeps
  10 %, the paper's setting).
* ``deblur`` or ``deblur:SIZE:SIGMA``: Gaussian blur (paper: 25x25, sigma 1.6) with
  replicated borders.

Methods: ``linr`` (:func:`srcli.tasks.fit_linr.fit_linr` with the paper's settings, or
``--opt steps=N``; ``--opt stop=noise-level`` ends denoising fits by the reference-free
noise-level rule, with the noise level estimated from the noisy image, as
``srcli fit-linr --stop noise-level`` does; ``--opt crop=N`` fits a random N x N window
per step, as ``fit-linr --crop``, in every case but ``sr``; ``--opt batch=N`` fits N random
pixels per step, as ``fit-linr --batch``, in the denoise and inpaint cases; ``--opt
compile=auto|on|off`` as ``fit-linr --compile``; ``--opt chunk=auto|0|N`` as ``fit-linr
--chunk``; ``--opt resume_dir=DIR`` keeps each
fit's state in ``DIR`` (``fit-linr --checkpoint DIR``), so the same command run again
after an interruption continues the unfinished fit and takes finished ones from their
files) and ``classical``, the observation itself made into an image: bicubic
upscaling of the LR image, the noisy or blurred image as it is, linear interpolation
through the known pixels. Metrics: PSNR and SSIM over all colour channels, peak 1 (the
LINR paper's RGB figures). ``linr`` rows also give the fit's ``steps``, ``stop_reason``,
``chunk`` and ``fit_seconds`` (its wall time, summed over the runs of a resumed fit;
``seconds`` is this run's).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from srcli.errors import UsageError
from srcli.tasks.bench import (
    BenchContext,
    BenchTask,
    Observation,
    Restored,
    register_bench_task,
)
from srcli.tasks.bench_points import colour_only, rgb_psnr, rgb_ssim, to_hwc, to_tensor

LINR_METHODS = ("linr", "classical")
PAPER_BLUR = (25, 1.6)
STOP_RULES = ("fixed", "noise-level")


def parse_case(text: str) -> tuple[str, float, float]:
    """``"sr:4"`` -> ``("sr", 4.0, 0.0)``; ``"deblur:25:1.6"`` -> ``("deblur", 25.0, 1.6)`` (ValueError otherwise)."""
    task, _, rest = text.strip().lower().partition(":")
    values = rest.split(":") if rest else []
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        raise ValueError(f"{text!r}: values after the task must be numbers") from None
    if not all(math.isfinite(v) for v in numbers):
        raise ValueError(f"{text!r}: values must be finite")
    if task == "deblur":
        size, sigma = numbers if len(numbers) == 2 else PAPER_BLUR if not numbers else (0, 0)
        if size < 1 or size != int(size) or sigma <= 0:
            raise ValueError(f"{text!r}: use deblur or deblur:SIZE:SIGMA with an integer SIZE >= 1 and SIGMA > 0")
        return task, float(size), float(sigma)
    limits = {"sr": (1.0, math.inf, "a scale >= 1"), "denoise": (0.0, math.inf, "a noise sigma >= 0 (0-255 scale)"),
              "inpaint": (0.0, 1.0, "a missing fraction in [0, 1)")}
    if task not in limits:
        raise ValueError(f"{text!r}: the task must be sr:S, denoise:SIGMA, inpaint:DROP or deblur[:SIZE:SIGMA]")
    low, high, what = limits[task]
    if len(numbers) != 1 or not (low <= numbers[0] < high or (task == "sr" and numbers[0] == low)):
        raise ValueError(f"{text!r}: {task} takes {what}")
    return task, numbers[0], 0.0


def _prepare(gt: torch.Tensor, case: tuple[str, float, float], options: dict[str, Any]) -> torch.Tensor:
    from srcli.training.degradations import mod_crop

    gt = colour_only(gt, case, options)
    task, value, _ = case
    if task == "sr":
        if min(gt.shape[-2:]) < 2 * value + 1:
            raise UsageError(f"a {gt.shape[-1]}x{gt.shape[-2]} image is too small for sr:{value:g}")
        return mod_crop(gt, value)
    return gt


def _degrade(gt: torch.Tensor, case: tuple[str, float, float], seed: int, options: dict[str, Any]) -> Observation:
    from srcli.tasks.fit_linr import Observation as LinrObservation
    from srcli.tasks.inpaint import drop_pixels
    from srcli.training.degradations import bicubic_downscale, quantize_8bit

    task, value, sigma = case
    if task == "sr":
        lr = quantize_8bit(bicubic_downscale(gt.double(), value)).float()
        return {"obs": LinrObservation("sr", lr, scale=value), "hw": tuple(gt.shape[-2:])}
    if task == "denoise":
        generator = torch.Generator().manual_seed(seed)
        noisy = gt + torch.randn(gt.shape, generator=generator) * (value / 255.0)
        return {"obs": LinrObservation("denoise", noisy), "hw": tuple(gt.shape[-2:])}
    if task == "inpaint":
        known = torch.from_numpy(drop_pixels(tuple(gt.shape[-2:]), value, seed))
        observed = gt * known
        return {"obs": LinrObservation("inpaint", observed, mask=known.float()), "hw": tuple(gt.shape[-2:])}
    from srcli.resize import blur, gaussian_kernel

    kernel = gaussian_kernel(int(value), sigma)
    blurred = blur(gt, kernel, padding="replicate")
    return {"obs": LinrObservation("deblur", blurred, kernel=kernel), "hw": tuple(gt.shape[-2:])}


def _classical(obs: Observation) -> torch.Tensor:
    from srcli.resize import resize
    from srcli.tasks.inpaint import inpaint_array

    linr_obs = obs["obs"]
    if linr_obs.task == "sr":
        return resize(linr_obs.image, obs["hw"], "bicubic")
    if linr_obs.task == "inpaint":
        known = linr_obs.mask.bool().numpy()
        return to_tensor(inpaint_array(to_hwc(linr_obs.image), known, method="linear"))
    return linr_obs.image


#: cases each per-step sampling option applies to (pixels need a pointwise operator, crops the canvas grid)
SAMPLING_CASES = {"batch": ("denoise", "inpaint"), "crop": ("denoise", "inpaint", "deblur")}


def _sampling(task: str, options: dict[str, Any]) -> dict[str, int]:
    """The ``batch`` / ``crop`` arguments of :func:`fit_linr` that apply to a case (others fit the whole image)."""
    return {k: int(options[k]) for k, cases in SAMPLING_CASES.items() if int(options[k]) > 0 and task in cases}


def _restore(obs: Observation, method: str, case: tuple[str, float, float], ctx: BenchContext,
             options: dict[str, Any]) -> Restored:
    from srcli.tasks.fit_linr import fit_linr

    if method == "classical":
        return _classical(obs).clamp(0, 1)
    steps = int(options["steps"]) if int(options["steps"]) > 0 else None
    stop = str(options["stop"]).lower()
    if stop not in STOP_RULES:
        raise UsageError(f"--opt stop={options['stop']}: use {' or '.join(STOP_RULES)}")
    if stop == "noise-level" and case[0] != "denoise":
        stop = "fixed"  # the rule needs a noisy observation; other cases keep the paper's fixed count
    result = fit_linr([obs["obs"]], out_size=obs["hw"], steps=steps, seed=int(options["fit_seed"]),
                      **_sampling(case[0], options),
                      device=ctx.runtime.device, autocast_dtype=ctx.runtime.autocast_dtype, stop=stop,
                      compile_mode=str(options["compile"]), checkpoint=_resume_dir(options),
                      chunk=_chunk(options["chunk"]))
    return result.image.float().cpu(), {"steps": result.steps, "stop_reason": result.stop_reason,
                                        "fit_seconds": round(result.seconds, 3), "chunk": result.settings["chunk"]}


def _chunk(value: Any) -> int | str:
    from srcli.tasks.linr_files import parse_chunk

    try:
        return parse_chunk(str(value))
    except UsageError:
        raise UsageError(f"--opt chunk={value}: use auto, 0 (one pass) or a number of coordinates") from None


def _resume_dir(options: dict[str, Any]) -> str | None:
    """The ``resume_dir`` option as a folder (created), or None when not set."""
    from pathlib import Path

    folder = str(options["resume_dir"]).strip()
    if not folder:
        return None
    if Path(folder).exists() and not Path(folder).is_dir():
        raise UsageError(f"--opt resume_dir={folder}: not a folder")
    Path(folder).mkdir(parents=True, exist_ok=True)
    return folder


def _load(name: str, weights: str | None) -> str:
    if name not in LINR_METHODS:
        raise UsageError(f"unknown method {name!r} for --task linr; use {', '.join(LINR_METHODS)}")
    if weights is not None:
        raise UsageError(f"--weights does not apply to --task linr (method {name} is fitted per image)")
    return name


def _describe(obs: Observation) -> dict[str, Any]:
    linr_obs = obs["obs"]
    return {"observed_size": [linr_obs.image.shape[-1], linr_obs.image.shape[-2]], "size": [obs["hw"][1], obs["hw"][0]]}


LINR_TASK = register_bench_task(BenchTask(
    name="linr",
    description="one SIREN fitted per corrupted image (sr:S, denoise:SIGMA, inpaint:DROP, deblur[:SIZE:SIGMA])",
    setting_name="case",
    parse_setting=lambda text: _CaseLabel(text),
    prepare=lambda gt, case, options: _prepare(gt, case.parsed, options),
    degrade=lambda gt, case, seed, options: _degrade(gt, case.parsed, seed, options),
    restore=lambda obs, method, case, ctx, options: _restore(obs, method, case.parsed, ctx, options),
    load_method=_load,
    metrics={"psnr": rgb_psnr, "ssim": rgb_ssim},
    default_metrics=("psnr", "ssim"),
    baseline="classical",
    options={"steps": 0, "fit_seed": 0, "stop": "fixed", "crop": 0, "batch": 0, "compile": "auto", "chunk": "auto",
             "resume_dir": ""},
    describe_observation=_describe,
    default_settings="sr:4",
    default_methods="linr,classical",
    protocol="one corrupted observation per image and case, seeded by (seed, dataset, image, case); "
             "PSNR/SSIM on all colour channels, peak 1, whole image, output clamped to [0, 1], float64",
))


class _CaseLabel(str):
    """A case as its text (rows and tables show it) with the parsed tuple attached."""

    parsed: tuple[str, float, float]

    def __new__(cls, text: str) -> _CaseLabel:
        parsed = parse_case(text)
        label = super().__new__(cls, text.strip().lower())
        label.parsed = parsed
        return label
