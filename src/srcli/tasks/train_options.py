"""Options of ``srcli train``: every number of the protocol, their checks, and resuming.

Defaults are LIIF's (see :mod:`srcli.tasks.train`); the ``ratio_*``, ``irregular`` and
``val_ratios`` options are the points network's (:mod:`srcli.training.points`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from srcli.errors import UsageError
from srcli.training.checkpointing import STATE_FILE, StateError, load_training_state
from srcli.training.samplers import SAMPLERS

QUERY_PATHS = ("fast", "reference")
#: options a resumed run may change (they do not alter what is computed, or extend it)
RUNTIME_OPTIONS = ("workers", "device", "precision", "threads", "steps")
#: options that only one task's training reads
TASK_ONLY_OPTIONS: dict[str, tuple[str, ...]] = {
    "upscale": ("scale_min", "scale_max", "quantize_lr", "val_scales", "query_path"),
    "points": ("ratio_min", "ratio_max", "irregular", "val_ratios"),
}
#: options that only the psnr-gain sampler reads
GAIN_SAMPLER_OPTIONS = ("sampler_every", "sampler_bins", "sampler_mix", "sampler_queries")
#: options that only validation reads
VALIDATION_OPTIONS = ("val_scales", "val_ratios", "val_every", "val_max_images", "val_crop")


@dataclass
class TrainOptions:
    """Every option of a training run (see the module docstring for the defaults' source)."""

    data: list[str]
    out: str
    model: str = "liif"
    model_args: dict[str, Any] = field(default_factory=dict)
    steps: int = 1_000_000
    batch_size: int = 16
    lr_size: int = 48
    scale_min: float = 1.0
    scale_max: float = 4.0
    queries: int = 2304
    augment: bool = True
    quantize_lr: bool = True
    lr: float = 1e-4
    lr_decay_every: int = 200_000
    lr_decay: float = 0.5
    sampler: str = "uniform"
    sampler_every: int = 5000
    sampler_bins: int = 16
    sampler_mix: float = 0.5
    sampler_queries: int = 2304
    val: Optional[str] = None
    val_scales: list[int] = field(default_factory=lambda: [2, 3, 4])
    val_every: int = 5000
    val_max_images: int = 10
    val_crop: int = 240
    log_every: int = 100
    ckpt_every: int = 1000
    seed: int = 0
    workers: Optional[int] = None
    device: str = "auto"
    precision: str = "auto"
    threads: Optional[int] = None
    query_path: str = "fast"
    init: Optional[str] = None
    ratio_min: float = 0.1
    ratio_max: float = 0.5
    irregular: float = 0.5
    val_ratios: list[float] = field(default_factory=lambda: [0.2])


def _positive(name: str, value: float, minimum: float = 1) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= minimum):
        raise UsageError(f"--{name} must be at least {minimum:g}, got {value}")


def check_options(o: TrainOptions) -> None:
    """Reject impossible numbers and names before any work.

    Raises:
        UsageError: naming the option and the accepted values.
    """
    for name in ("steps", "batch_size", "lr_size", "queries", "lr_decay_every", "sampler_every", "sampler_bins",
                 "sampler_queries", "val_every", "val_max_images", "log_every", "ckpt_every"):
        _positive(name.replace("_", "-"), getattr(o, name))
    if o.workers is not None:
        _positive("workers", o.workers, 0)
    _positive("val-crop", o.val_crop, 0)
    _positive("scale-min", o.scale_min, 1)
    if not (math.isfinite(o.scale_max) and o.scale_max >= o.scale_min):
        raise UsageError(f"--scale-max must be at least --scale-min ({o.scale_min:g}), got {o.scale_max}")
    if o.queries > o.lr_size**2:
        raise UsageError(f"--queries {o.queries} exceeds the smallest HR crop ({o.lr_size}x{o.lr_size} pixels)")
    if not (math.isfinite(o.lr) and o.lr > 0) or not (math.isfinite(o.lr_decay) and 0 < o.lr_decay <= 1):
        raise UsageError(f"--lr must be positive and --lr-decay in (0, 1], got {o.lr} and {o.lr_decay}")
    if not 0 <= o.sampler_mix <= 1:
        raise UsageError(f"--sampler-mix must be in [0, 1], got {o.sampler_mix}")
    if o.sampler not in SAMPLERS:
        raise UsageError(f"unknown sampler {o.sampler!r}; use one of {', '.join(SAMPLERS)}")
    if o.query_path not in QUERY_PATHS:
        raise UsageError(f"unknown query path {o.query_path!r}; use fast or reference")
    if not o.val_scales or any(not isinstance(s, int) or s < 1 for s in o.val_scales):
        raise UsageError(f"--val-scales must be positive integers, got {o.val_scales}")
    if not (0 < o.ratio_min <= o.ratio_max <= 1):
        raise UsageError(f"--ratio-min and --ratio-max must satisfy 0 < min <= max <= 1, got {o.ratio_min} and {o.ratio_max}")
    if not 0 <= o.irregular <= 1:
        raise UsageError(f"--irregular is a probability in [0, 1], got {o.irregular}")
    if not o.val_ratios or any(not (0 < r <= 1) for r in o.val_ratios):
        raise UsageError(f"--val-ratios must be in (0, 1], got {o.val_ratios}")


def unused_options(o: TrainOptions, task: str, given: Iterable[str]) -> dict[str, str]:
    """The options among ``given`` that a run of ``o`` would not read, each with the reason.

    Args:
        o: the run's options.
        task: the task of its model (``"upscale"`` or ``"points"``).
        given: names of the options the user set (a default value is never reported).

    Returns:
        ``{option name: why it is not read}``, in the order of ``given``.
    """
    reasons: dict[str, str] = {}
    kind = f"{'an' if task[:1] in 'aeiou' else 'a'} {task} model"
    for other, names in TASK_ONLY_OPTIONS.items():
        if other != task:
            reasons.update({n: f"applies to {other} models only; {o.model} is {kind}" for n in names})
    if o.sampler == "uniform":
        reasons.update({n: "applies to --sampler psnr-gain only" for n in GAIN_SAMPLER_OPTIONS})
    if o.val is None:
        reasons.update({n: "applies with --val only" for n in VALIDATION_OPTIONS if n not in reasons})
    return {n: reasons[n] for n in given if n in reasons}


def resume_options(run_dir: str | Path, **changes: Any) -> TrainOptions:
    """The options of the run in ``run_dir``, with the runtime ones in ``changes`` (None: keep).

    Raises:
        UsageError: no resumable run there, or a change that would alter the schedule.
    """
    try:
        state = load_training_state(Path(run_dir) / STATE_FILE)
    except StateError as exc:
        raise UsageError(str(exc)) from None
    stored = dict(state["options"])
    for name, value in changes.items():
        if value is None:
            continue
        if name not in RUNTIME_OPTIONS and value != stored.get(name):
            raise UsageError(f"--resume continues the stored run; --{name.replace('_', '-')} cannot change "
                             f"(stored {stored.get(name)!r}); start a new run with --out instead")
        stored[name] = value
    stored["out"] = str(run_dir)
    known = {f.name for f in fields(TrainOptions)}
    return TrainOptions(**{k: v for k, v in stored.items() if k in known})
