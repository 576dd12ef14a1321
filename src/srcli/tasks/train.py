"""``srcli train``: train an arbitrary-scale SR model with the LIIF protocol.

Defaults are LIIF's (Chen et al. 2021, EDSR-baseline-LIIF on DIV2K): 48x48 LR crops, scale
``U(1, 4)``, HR crop ``round(48 s)``, flips and transpose, 2304 query pixels per item, batch
16, L1 loss, Adam (lr 1e-4, betas 0.9/0.999), learning rate halved every 200,000 steps, 1,000,000
steps (their 1000 epochs of 1000 iterations). LR crops are MATLAB-bicubic downscales (the
benchmark protocol's kernel) rounded to 8 bits. See :mod:`srcli.training.loop` for the
order of events, :mod:`srcli.training.checkpointing` for the run folder, and
:mod:`srcli.training.samplers` for the item draws and the PSNR-gain sampler.
"""

from __future__ import annotations

import math
import os
import platform
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from srcli.errors import UsageError
from srcli.training import distributed as dist_utils
from srcli.training.checkpointing import BEST_FILE, LAST_FILE, STATE_FILE, JsonlLog, StateError, load_training_state, restore_rng_state
from srcli.training.datasets import (
    ImageCache, PatchDataset, PlanBatches, describe_images, list_images, load_validation_set, make_loader, oriented_size,
)
from srcli.training.loop import LoopSettings, QueryStep, Trainer
from srcli.training.samplers import SAMPLERS, PatchGeometry, make_sampler

QUERY_PATHS = ("fast", "reference")
#: options a resumed run may change (they do not alter what is computed, or extend it)
RUNTIME_OPTIONS = ("workers", "device", "precision", "threads", "steps")


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


@dataclass
class TrainResult:
    """What a run did (for the command's summary)."""

    run_dir: Path
    step: int
    steps: int
    interrupted: str | None
    best: dict[str, Any]
    last_loss: float | None
    wall_s: float
    runtime: dict[str, Any]


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


def default_workers() -> int:
    """Data workers when not given: ``min(4, CPUs - 1)``, at least 1."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def _hardware(runtime: Any, ctx: dist_utils.DistContext) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {**runtime.describe(), "processes": ctx.world_size, "cpu": cpu, "torch": str(torch.__version__)}


def _card(o: TrainOptions, images: dict[str, Any], hardware: dict[str, Any], init: dict[str, Any],
          ) -> Callable[[int, dict[str, Any] | None, float], dict[str, Any]]:
    """The card function of a run; ``init`` (what ``--init`` loaded) is read when a card is made."""
    from srcli import __version__

    def card(step: int, validation: dict[str, Any] | None, wall_s: float) -> dict[str, Any]:
        return {
            "trained_with": f"srcli {__version__} train", "data": [str(Path(d).resolve()) for d in o.data], **images,
            "steps": step, "wall_time_s": round(wall_s, 1), "hardware": hardware,
            **({"initialised_from": init} if init else {}),
            "protocol": {k: getattr(o, k) for k in ("batch_size", "lr_size", "scale_min", "scale_max", "queries", "augment",
                                                     "quantize_lr", "lr", "lr_decay_every", "lr_decay", "sampler", "seed")},
            "validation": None if validation is None else {"data": str(Path(o.val).resolve()) if o.val else None,
                                                           "scales": o.val_scales, "crop": o.val_crop, **validation},
        }

    return card


def _prepare_run_dir(o: TrainOptions, resume: bool, ctx: dist_utils.DistContext) -> Path:
    run_dir = Path(o.out)
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--out {run_dir} is a file; give a folder for the run")
    if not resume and (run_dir / STATE_FILE).exists():
        raise UsageError(f"{run_dir} already holds a training run; continue it with --resume {run_dir} or choose another --out")
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    dist_utils.barrier(ctx)
    return run_dir


def train(options: TrainOptions, *, resume: bool = False,
          progress: Callable[[int, int, dict[str, Any]], None] | None = None) -> TrainResult:
    """Train (or continue, with ``resume=True``) the run described by ``options``.

    Writes ``state.pt``, ``last.pt``, ``best.pt`` and ``log.jsonl`` into ``options.out``.
    Under torchrun, every process calls this; rank 0 writes the files.

    Args:
        options: the run's options (:func:`resume_options` gives a stored run's).
        resume: continue the run stored in ``options.out``.
        progress: called on rank 0 after every step with ``(step, total, {"loss", "psnr"})``.

    Raises:
        UsageError: bad options, unusable data folders, an existing run without ``resume``.
        RegistryError: unknown model.
    """
    from srcli.device import keep_freed_memory, make_runtime
    from srcli.registry import get_entry

    o = options
    check_options(o)
    entry = get_entry(o.model)
    if not entry.trainable or entry.task != "upscale":
        raise UsageError(f"model {o.model!r} cannot be trained by srcli train (it is a {entry.task} model)")
    paths = list_images(o.data)
    val_pairs = load_validation_set(o.val, o.val_scales, o.val_crop, o.val_max_images) if o.val else []
    runtime = make_runtime(o.device, o.precision, o.threads)
    if runtime.device.type == "cpu":
        keep_freed_memory()
    ctx, device = dist_utils.init_from_env(runtime.device)
    runtime = type(runtime)(device, runtime.precision, runtime.threads)
    try:
        run_dir = _prepare_run_dir(o, resume, ctx)
        trainer = _build_trainer(o, paths, val_pairs, runtime, ctx, run_dir, fresh=not resume)
        trainer.progress = progress
        if resume:
            _restore(trainer, run_dir)
        result = trainer.run()
    finally:
        dist_utils.shutdown(ctx)
    return TrainResult(run_dir, result.step, o.steps, result.interrupted, result.best, result.last_loss, result.wall_s,
                       runtime.describe())


def _build_model(o: TrainOptions, device: torch.device, fresh: bool = True) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model with the run's seeded initial weights (and ``--init``'s tensors when ``fresh``), on ``device``.

    Returns:
        ``(model, what --init loaded, or {})``; a resumed run's state replaces both.
    """
    from srcli.registry import RegistryError, create, load_matching_parameters

    torch.manual_seed(o.seed)
    try:
        model = create({"name": o.model, "args": o.model_args}).to(device)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"bad --model-args for {o.model}: {exc}") from None
    if hasattr(model, "fast_query"):
        model.fast_query = o.query_path == "fast"
    init: dict[str, Any] = {}
    if o.init and fresh:
        try:
            init = load_matching_parameters(model, o.init)
        except RegistryError as exc:
            raise UsageError(f"--init: {exc}") from None
    return model, init


def _build_trainer(o: TrainOptions, paths: list[Path], val_pairs: list[Any], runtime: Any,
                   ctx: dist_utils.DistContext, run_dir: Path, fresh: bool = True) -> Trainer:
    """Model, optimiser, scheduler, sampler and data pipeline of a run (``fresh``: apply ``--init``)."""
    sizes = [oriented_size(p) for p in paths]
    model, init = _build_model(o, runtime.device, fresh)
    geometry = PatchGeometry(o.lr_size, o.scale_min, o.scale_max, o.augment)
    gain_args = {"every": o.sampler_every, "bins": o.sampler_bins, "mix": o.sampler_mix, "measure_queries": o.sampler_queries}
    sampler = make_sampler(o.sampler, sizes, geometry, o.seed, **({} if o.sampler == "uniform" else gain_args))
    batches = PlanBatches(sampler.plan_batch, o.batch_size, dist_utils.shard(o.batch_size, ctx))
    dataset = PatchDataset(paths, sizes, o.lr_size, o.queries, o.quantize_lr)
    workers = default_workers() if o.workers is None else o.workers
    optimizer = torch.optim.Adam(model.parameters(), lr=o.lr)
    return Trainer(
        model=model, step_module=dist_utils.wrap(QueryStep(model), ctx, runtime.device), optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.StepLR(optimizer, step_size=o.lr_decay_every, gamma=o.lr_decay),
        sampler=sampler, batches=batches, loader=make_loader(dataset, batches, workers, pin=runtime.device.type == "cuda"),
        runtime=runtime, ctx=ctx, settings=LoopSettings(o.steps, o.batch_size, o.log_every, o.val_every, o.ckpt_every, o.quantize_lr),
        run_dir=run_dir, val_pairs=val_pairs, measure_cache=ImageCache(paths, sizes) if o.sampler != "uniform" else None,
        card=_card(o, describe_images(paths, sizes), _hardware(runtime, ctx), init), extra_state=lambda: {"options": asdict(o), "init": init})


def _restore(trainer: Trainer, run_dir: Path) -> None:
    """Load ``state.pt`` into a freshly built trainer and trim the log to its step."""
    state = load_training_state(run_dir / STATE_FILE)
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    try:
        trainer.sampler.load_state_dict(state["sampler"])
    except ValueError as exc:
        raise UsageError(f"cannot resume {run_dir}: {exc}") from None
    restore_rng_state(state["rng"])
    trainer.step = int(state["step"])
    trainer.best = dict(state.get("best") or {})
    trainer.last_val = state.get("last_val")
    trainer.wall_before = float(state.get("wall_s", 0.0))
    if state.get("init"):  # what --init loaded at the start: the card and later states keep it (the same dict)
        trainer.extra_state()["init"].update(state["init"])
    JsonlLog(run_dir / "log.jsonl", enabled=trainer.ctx.is_main).truncate_after(trainer.step)


__all__ = ["TrainOptions", "TrainResult", "train", "resume_options", "check_options", "BEST_FILE", "LAST_FILE"]
