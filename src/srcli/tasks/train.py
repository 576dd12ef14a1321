"""``srcli train``: train an arbitrary-scale SR model with the LIIF protocol (or the points network).

Defaults are LIIF's (Chen et al. 2021, EDSR-baseline-LIIF on DIV2K): 48x48 LR crops, scale
``U(1, 4)``, HR crop ``round(48 s)``, flips and transpose, 2304 query pixels per item, batch
16, L1 loss, Adam (lr 1e-4, betas 0.9/0.999), learning rate halved every 200,000 steps, 1,000,000
steps (their 1000 epochs of 1000 iterations). LR crops are MATLAB-bicubic downscales (the
benchmark protocol's kernel) rounded to 8 bits. See :mod:`srcli.training.loop` for the
order of events, :mod:`srcli.training.checkpointing` for the run folder, and
:mod:`srcli.training.samplers` for the item draws and the PSNR-gain sampler. A points
model (``isp-points``) trains on the same crops sampled into points
(:mod:`srcli.training.points`); the options live in :mod:`srcli.tasks.train_options`.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from srcli.errors import UsageError
from srcli.tasks.train_options import TrainOptions, check_options, resume_options
from srcli.training import distributed as dist_utils
from srcli.training.checkpointing import (
    BEST_FILE,
    LAST_FILE,
    STATE_FILE,
    JsonlLog,
    load_training_state,
    restore_rng_state,
)
from srcli.training.datasets import (
    ImageCache,
    PatchDataset,
    PlanBatches,
    collate_items,
    describe_images,
    list_images,
    make_loader,
    oriented_size,
)
from srcli.training.loop import QUERY_INPUTS, LoopSettings, QueryStep, Trainer
from srcli.training.samplers import PatchGeometry, make_sampler
from srcli.training.validation import load_validation_set, validate


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


def _card(o: TrainOptions, task: str, images: dict[str, Any], hardware: dict[str, Any], init: dict[str, Any],
          ) -> Callable[[int, dict[str, Any] | None, float], dict[str, Any]]:
    """The card function of a run; ``init`` (what ``--init`` loaded) is read when a card is made."""
    from srcli import __version__

    points = task == "points"
    protocol = ("batch_size", "lr_size", *(("ratio_min", "ratio_max", "irregular") if points else ("scale_min", "scale_max")),
                "queries", "augment", *(() if points else ("quantize_lr",)), "lr", "lr_decay_every", "lr_decay", "sampler", "seed")
    settings = {"ratios": o.val_ratios, "irregular": True} if points else {"scales": o.val_scales}

    def card(step: int, validation: dict[str, Any] | None, wall_s: float) -> dict[str, Any]:
        return {
            "trained_with": f"srcli {__version__} train", "data": [str(Path(d).resolve()) for d in o.data], **images,
            "steps": step, "wall_time_s": round(wall_s, 1), "hardware": hardware,
            **({"initialised_from": init} if init else {}),
            "protocol": {k: getattr(o, k) for k in protocol},
            "validation": None if validation is None else {"data": str(Path(o.val).resolve()) if o.val else None,
                                                           **settings, "crop": o.val_crop, **validation},
        }

    return card


def _check_run_dir(o: TrainOptions, resume: bool) -> Path:
    run_dir = Path(o.out)
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--out {run_dir} is a file; give a folder for the run")
    if not resume and (run_dir / STATE_FILE).exists():
        raise UsageError(f"{run_dir} already holds a training run; continue it with --resume {run_dir} or choose another --out")
    return run_dir


def _make_run_dir(run_dir: Path, ctx: dist_utils.DistContext) -> None:
    """Create the run folder, once everything that can refuse the run has been checked."""
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    dist_utils.barrier(ctx)


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
    init_checkpoint = _check_model(o, entry.task, entry.trainable, resume)
    paths = list_images(o.data)
    val_pairs = _load_validation(o, entry.task) if o.val else []
    runtime = make_runtime(o.device, o.precision, o.threads)
    if runtime.device.type == "cpu":
        keep_freed_memory()
    ctx, device = dist_utils.init_from_env(runtime.device)
    runtime = type(runtime)(device, runtime.precision, runtime.threads)
    try:
        run_dir = _check_run_dir(o, resume)
        state = load_training_state(run_dir / STATE_FILE) if resume else None
        trainer = _build_trainer(o, entry.task, paths, val_pairs, runtime, ctx, run_dir, state=state,
                                 init_checkpoint=init_checkpoint)
        _make_run_dir(run_dir, ctx)
        trainer.progress = progress
        if state is not None:
            _restore(trainer, run_dir, state)
        result = trainer.run()
    finally:
        dist_utils.shutdown(ctx)
    return TrainResult(run_dir, result.step, o.steps, result.interrupted, result.best, result.last_loss, result.wall_s,
                       runtime.describe())


def _check_model(o: TrainOptions, task: str, trainable: bool, resume: bool) -> dict[str, Any] | None:
    """Refuse models, samplers, grids and ``--init`` files a run cannot use, before any folder is made.

    Returns:
        The ``--init`` checkpoint, read, for a fresh run that has one (else None).
    """
    from srcli.registry import RegistryError, read_checkpoint

    if not trainable or task not in ("upscale", "points"):
        why = ("srcli fit-linr fits it to one image at a time" if task == "fit" else "it has nothing to learn"
               if not trainable else f"srcli train trains upscale and points models, not {task} ones")
        raise UsageError(f"model {o.model!r} cannot be trained: {why}")
    if task == "points" and o.sampler != "uniform":
        raise UsageError(f"--sampler {o.sampler} measures super-resolution gains; points models train with uniform")
    if task == "points" and o.lr_size < 3:
        raise UsageError(f"--lr-size is the points grid side for {o.model}; it needs at least 3, got {o.lr_size}")
    if not o.init or resume:
        return None
    try:
        return read_checkpoint(o.init)
    except RegistryError as exc:
        raise UsageError(f"--init: {exc}") from None


def _build_model(o: TrainOptions, task: str, device: torch.device,
                 init_checkpoint: dict[str, Any] | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model with the run's seeded initial weights (and ``init_checkpoint``'s matching tensors), on ``device``.

    A LIIF checkpoint starting a points model is translated first (:mod:`srcli.training.transfer`).

    Returns:
        ``(model, what was loaded from init_checkpoint, or {})``.
    """
    from srcli.registry import RegistryError, copy_matching_parameters, create
    from srcli.training.transfer import init_payload_for

    torch.manual_seed(o.seed)
    try:
        model = create({"name": o.model, "args": o.model_args}).to(device)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"bad --model-args for {o.model}: {exc}") from None
    if hasattr(model, "fast_query"):
        model.fast_query = o.query_path == "fast"
    if init_checkpoint is None:
        return model, {}
    payload = init_payload_for(task, init_checkpoint, model.state_dict())
    try:
        return model, copy_matching_parameters(model, payload, str(o.init))
    except RegistryError as exc:
        raise UsageError(f"--init: {exc}") from None


def _load_validation(o: TrainOptions, task: str) -> list[Any]:
    """The validation items of the run's task (SR pairs, or points sampled from crops)."""
    if task == "points":
        from srcli.training.points import load_points_validation

        return load_points_validation(o.val, o.val_ratios, o.val_crop, o.val_max_images)
    return load_validation_set(o.val, o.val_scales, o.val_crop, o.val_max_images)


@dataclass
class _TaskParts:
    """What differs between training an upscale model and a points model."""

    geometry: PatchGeometry
    dataset: torch.utils.data.Dataset
    step: torch.nn.Module
    inputs: tuple[str, ...]
    collate: Callable[..., Any]
    validate_fn: Callable[..., Any]


def _task_parts(o: TrainOptions, task: str, paths: list[Path], sizes: list[tuple[int, int]], model: torch.nn.Module) -> _TaskParts:
    """Geometry, dataset, step module, inputs, collate and validation of an upscale or a points run."""
    if task == "points":
        from srcli.training import points as pts

        return _TaskParts(pts.ratio_geometry(o.lr_size, o.ratio_min, o.ratio_max, o.augment),
                          pts.PointsPatchDataset(paths, sizes, o.lr_size, o.queries, o.irregular),
                          pts.PointsStep(model, o.lr_size), pts.POINTS_INPUTS, pts.collate_points,
                          functools.partial(pts.validate_points, patch_points=o.lr_size**2))
    return _TaskParts(PatchGeometry(o.lr_size, o.scale_min, o.scale_max, o.augment),
                      PatchDataset(paths, sizes, o.lr_size, o.queries, o.quantize_lr), QueryStep(model), QUERY_INPUTS,
                      collate_items, validate)


def _check_crop_sizes(paths: list[Path], sizes: list[tuple[int, int]], lr_size: int) -> None:
    """UsageError for a training image smaller than ``--lr-size``: its crops would be smaller than
    the LR patch (a scale below 1, and fewer pixels than ``--queries`` asks for)."""
    for path, (h, w) in zip(paths, sizes, strict=True):
        if min(h, w) < lr_size:
            raise UsageError(f"training image {path} is {w}x{h}; every image needs at least --lr-size {lr_size} "
                             "pixels on each side (remove it or lower --lr-size)")


def _build_trainer(o: TrainOptions, task: str, paths: list[Path], val_pairs: list[Any], runtime: Any,
                   ctx: dist_utils.DistContext, run_dir: Path, *, state: dict[str, Any] | None = None,
                   init_checkpoint: dict[str, Any] | None = None) -> Trainer:
    """Model, optimiser, scheduler, sampler and data pipeline of a run.

    A fresh run starts from ``init_checkpoint``'s matching tensors; a resumed one (``state``)
    keeps the record of what its start loaded.
    """
    sizes = [oriented_size(p) for p in paths]
    model, init = _build_model(o, task, runtime.device, init_checkpoint)
    _check_crop_sizes(paths, sizes, o.lr_size)
    if state is not None:
        init = dict(state.get("init") or {})
    parts = _task_parts(o, task, paths, sizes, model)
    geometry = parts.geometry
    gain_args = {"every": o.sampler_every, "bins": o.sampler_bins, "mix": o.sampler_mix, "measure_queries": o.sampler_queries}
    sampler = make_sampler(o.sampler, sizes, geometry, o.seed, **({} if o.sampler == "uniform" else gain_args))
    batches = PlanBatches(sampler.plan_batch, o.batch_size, dist_utils.shard(o.batch_size, ctx))
    workers = default_workers() if o.workers is None else o.workers
    optimizer = torch.optim.Adam(model.parameters(), lr=o.lr)
    return Trainer(
        model=model, step_module=dist_utils.wrap(parts.step, ctx, runtime.device), optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.StepLR(optimizer, step_size=o.lr_decay_every, gamma=o.lr_decay),
        sampler=sampler, batches=batches,
        loader=make_loader(parts.dataset, batches, workers, pin=runtime.device.type == "cuda", collate=parts.collate),
        runtime=runtime, ctx=ctx, settings=LoopSettings(o.steps, o.batch_size, o.log_every, o.val_every, o.ckpt_every, o.quantize_lr),
        run_dir=run_dir, val_pairs=val_pairs, measure_cache=ImageCache(paths, sizes) if o.sampler != "uniform" else None,
        card=_card(o, task, describe_images(paths, sizes), _hardware(runtime, ctx), init), extra_state=lambda: {"options": asdict(o), "init": init},
        inputs=parts.inputs, validate_fn=parts.validate_fn)


def _restore(trainer: Trainer, run_dir: Path, state: dict[str, Any]) -> None:
    """Load a run's ``state.pt`` contents into a freshly built trainer and trim the log to its step."""
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
    JsonlLog(run_dir / "log.jsonl", enabled=trainer.ctx.is_main).truncate_after(trainer.step)


__all__ = ["TrainOptions", "TrainResult", "train", "resume_options", "check_options", "BEST_FILE", "LAST_FILE"]
