"""Quality benchmarks (``srcli bench quality``): pluggable bench tasks and their runner.

A **bench task** says how to turn a ground-truth image into an observation (its
degradation), how a method restores it, and which metrics compare the two. The runner
loops over dataset folders, images, settings (e.g. scales) and methods, and returns one
row per image plus one mean row per (dataset, method, setting).

The bench-task registry, and how to add a task, live in :mod:`srcli.tasks.bench_tasks`;
this module re-exports its public names and holds the runner.

The ``upscale`` task (:mod:`srcli.tasks.bench_upscale`) follows the protocol of the field (``shared/reference/PUBLISHED.md``):

* HR: the image mod-cropped (:func:`srcli.training.degradations.mod_crop`) from the bottom
  and right. Integer scales keep multiples of the scale; a fractional scale ``s`` keeps
  ``floor(floor(n / s) * s)`` pixels per side, so the LR side is exactly ``floor(n / s)``
  and the HR side over ``s`` rounds (up, as MATLAB does) to it.
* LR: MATLAB ``imresize(HR, 1/s, 'bicubic')`` computed in float64, then rounded to 8 bits
  as a stored PNG would be (task option ``quantize``; ``--no-quantize`` keeps it exact).
* SR: the method's output at exactly the HR size, clamped to [0, 1], not rounded.
* Metrics in float64: PSNR and SSIM on the BT.601 Y channel (255 peak) of colour images,
  on the grey values themselves (255 peak) of grey images (MATLAB's benchmark code runs
  ``rgb2ycbcr`` on colour images only), shaving ``ceil(s)`` pixels from every border.
  ``--rgb`` compares all channels (peak 1 on [0, 1], the same dB). LR-PSNR (DIINN): the SR
  image bicubic-downscaled to the LR size against the LR input, whole image, same channels.
* An alpha channel is dropped: the benchmark compares colour only.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from srcli.errors import UsageError
from srcli.tasks.bench_report import (
    gain_table,
    mean_rows,
    quality_report,
)
from srcli.tasks.bench_tasks import (
    BENCH_TASK_MODULES,
    BenchContext,
    BenchTask,
    MetricFn,
    Observation,
    Restored,
    get_bench_task,
    merge_options,
    register_bench_task,
)

__all__ = [
    "BENCH_TASK_MODULES", "BenchContext", "BenchTask", "Dataset", "MetricFn", "Observation", "QualityPlan",
    "QualityResult", "Restored", "bench_quality", "find_datasets", "get_bench_task", "image_seed", "load_methods",
    "merge_options", "parse_list", "plan_quality", "register_bench_task", "run_quality",
]


@dataclass(frozen=True)
class Dataset:
    """A benchmark folder: its name (the folder's) and its image files, sorted."""

    name: str
    images: tuple[Path, ...]


@dataclass
class QualityPlan:
    """A checked ``bench quality`` request (see :func:`plan_quality`)."""

    task: BenchTask
    methods: list[str]
    settings: list[Any]
    metrics: list[str]
    options: dict[str, Any]
    seed: int = 0


@dataclass
class QualityResult:
    """Per-image rows, mean rows per (dataset, method, setting), and the gain table."""

    rows: list[dict[str, Any]]
    means: list[dict[str, Any]]
    gains: dict[str, dict[str, float]] | None = None

    def dataset_ranking(self, baseline: str | None) -> list[tuple[str, float]]:
        """Datasets by the mean gain of the non-baseline methods, largest first."""
        if not self.gains:
            return []
        others = [m for m in self.gains if m != baseline] or list(self.gains)
        datasets = list(next(iter(self.gains.values())))
        means = {d: sum(self.gains[m][d] for m in others) / len(others) for d in datasets}
        return sorted(means.items(), key=lambda item: -item[1])


def parse_list(text: str, what: str) -> list[str]:
    """Split ``"a,b , c"`` into items; empty items are a user error."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise UsageError(f"bad {what} list {text!r}: give comma-separated values, e.g. {what} 2,3,4")
    return items


def find_datasets(folders: list[str], max_images: int | None = None) -> list[Dataset]:
    """Resolve dataset folders into :class:`Dataset` objects (first ``max_images`` of each).

    Raises:
        UsageError: a missing path, a file instead of a folder, or a folder without images.
    """
    from srcli.io.paths import IMAGE_SUFFIXES

    if max_images is not None and max_images < 1:
        raise UsageError(f"--max-images must be at least 1, got {max_images}")
    datasets: list[Dataset] = []
    for folder in folders:
        path = Path(folder)
        if not path.exists():
            raise UsageError(f"dataset folder not found: {folder}")
        if not path.is_dir():
            raise UsageError(f"{folder} is not a folder; bench quality takes folders of ground-truth images")
        images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise UsageError(f"dataset folder {folder} holds no images (png, jpg, webp, bmp, tif)")
        name = path.resolve().name
        taken = {d.name for d in datasets}
        unique = name if name not in taken else next(f"{name}-{i}" for i in range(2, 10**6) if f"{name}-{i}" not in taken)
        datasets.append(Dataset(unique, tuple(images[:max_images] if max_images else images)))
    return datasets


def plan_quality(task_name: str, methods: str, settings: str, metrics: str | None = None,
                 options: dict[str, Any] | None = None, seed: int = 0) -> QualityPlan:
    """Parse and check the comma-separated lists of ``bench quality``.

    Raises:
        UsageError: unknown task, metric or option; a setting that does not parse.
    """
    task = get_bench_task(task_name)
    flag = f"--{task.setting_name}"  # the name of --scale that fits the task (--case, --ratio, --drop)
    parsed = []
    for item in parse_list(settings, flag):
        try:
            parsed.append(task.parse_setting(item))
        except ValueError as exc:
            raise UsageError(f"bad {flag} list {settings!r}: {exc}") from None
    names = [m.replace("-", "_").lower() for m in parse_list(metrics, "--metrics")] if metrics else list(task.default_metrics)
    unknown = [m for m in names if m not in task.metrics]
    if unknown:
        known = ", ".join(m.replace("_", "-") for m in task.metrics)
        raise UsageError(f"unknown metric {unknown[0].replace('_', '-')!r} for task {task.name}; known: {known}")
    return QualityPlan(task, list(dict.fromkeys(parse_list(methods, "--model"))), list(dict.fromkeys(parsed)),
                       list(dict.fromkeys(names)), merge_options(task, options or {}), seed)


def load_methods(plan: QualityPlan, weights: dict[str, str] | None = None) -> dict[str, Any]:
    """Load every method of ``plan`` before any work (``weights`` maps a name to a checkpoint).

    Raises:
        UsageError, RegistryError: weights for a method not asked for, or an unusable method.
    """
    weights = dict(weights or {})
    stray = [name for name in weights if name not in plan.methods]
    if stray:
        raise UsageError(f"--weights names {stray[0]!r}, which is not among --model {','.join(plan.methods)}")
    return {name: plan.task.load_method(name, weights.get(name)) for name in plan.methods}


def image_seed(seed: int, dataset: str, image: str, setting: Any) -> int:
    """The degradation seed of one (dataset, image, setting): a CRC32, independent of order."""
    return zlib.crc32(f"{seed}:{dataset}:{image}:{setting!r}".encode())


def _restore(plan: QualityPlan, method: Any, obs: Observation, setting: Any,
             ctx: BenchContext) -> tuple[torch.Tensor, dict[str, Any]]:
    """The restored image on the CPU and the extra row columns ``restore`` gave (see :class:`BenchTask`)."""
    restored = plan.task.restore(obs, method, setting, ctx, plan.options)
    image, columns = restored if isinstance(restored, tuple) else (restored, {})
    return image.cpu(), columns


def _evaluate(plan: QualityPlan, method: Any, gt: torch.Tensor, obs: Observation, setting: Any,
              ctx: BenchContext) -> tuple[dict[str, Any], float]:
    """Metric values, then the restore's extra columns; and the seconds the restore took."""
    started = time.perf_counter()
    restored, columns = _restore(plan, method, obs, setting, ctx)
    seconds = time.perf_counter() - started
    target = gt.to(restored.dtype)
    values = {m: plan.task.metrics[m](restored, target, obs, setting, plan.options) for m in plan.metrics}
    return {**values, **columns}, seconds


def _image_rows(plan: QualityPlan, methods: dict[str, Any], baseline: Any, dataset: str, path: Path,
                ctx: BenchContext, progress: Any) -> list[dict[str, Any]]:
    from srcli.io.images import read_image

    full = read_image(path).to_tensor()
    rows: list[dict[str, Any]] = []
    for setting in plan.settings:
        try:
            rows.extend(_setting_rows(plan, methods, baseline, dataset, path.name, full, setting, ctx))
        except ValueError as exc:  # e.g. an image too small for the scale, or for SSIM after shaving
            if isinstance(exc, UsageError) and str(path) in str(exc):
                raise
            raise UsageError(f"{path} at {plan.task.setting_name} {setting}: {exc}") from None
        if progress is not None:
            progress.advance()
    return rows


def _setting_rows(plan: QualityPlan, methods: dict[str, Any], baseline: Any, dataset: str, image: str,
                  full: torch.Tensor, setting: Any, ctx: BenchContext) -> list[dict[str, Any]]:
    """Rows of one image at one setting: every method, plus the gain over the baseline when known."""
    rows = []
    gt = plan.task.prepare(full, setting, plan.options)
    obs = plan.task.degrade(gt, setting, image_seed(plan.seed, dataset, image, setting), plan.options)
    base_psnr = None
    if baseline is not None:
        base_psnr = plan.task.metrics["psnr"](_restore(plan, baseline, obs, setting, ctx)[0], gt, obs, setting,
                                              plan.options)
    for name, method in methods.items():
        values, seconds = _evaluate(plan, method, gt, obs, setting, ctx)
        if name == plan.task.baseline and "psnr" in values:
            base_psnr = values["psnr"]
        rows.append({"kind": "image", "dataset": dataset, "image": image, "model": name,
                     plan.task.setting_name: setting, **plan.task.describe_observation(obs), **values,
                     "seconds": round(seconds, 4)})
    if base_psnr is not None:
        for row in rows:
            row["gain_db"] = row["psnr"] - base_psnr
    return rows


def run_quality(datasets: list[Dataset], plan: QualityPlan, methods: dict[str, Any], ctx: BenchContext,
                progress: Any = None) -> QualityResult:
    """Benchmark every (dataset, image, setting, method).

    The baseline method (bicubic for upscaling) is also run, without rows of its own, when
    it is not among ``methods`` and there are several datasets, so that the gain table exists.

    Returns:
        Rows in the order dataset, image, setting, method; means in first-seen order.
    """
    baseline = None
    base_name = plan.task.baseline
    if base_name and "psnr" in plan.metrics and base_name not in methods and len(datasets) > 1:
        baseline = plan.task.load_method(base_name, None)
    rows: list[dict[str, Any]] = []
    for dataset in datasets:
        for path in dataset.images:
            rows.extend(_image_rows(plan, methods, baseline, dataset.name, path, ctx, progress))
    means = mean_rows(rows, plan.task.setting_name, [*plan.metrics, "gain_db", "seconds"])
    return QualityResult(rows, means, gain_table(means))


def bench_quality(folders: list[str], *, models: str, settings: str, task: str = "upscale",
                  metrics: str | None = None, options: dict[str, Any] | None = None,
                  weights: dict[str, str] | None = None, device: str = "auto", precision: str = "fp32",
                  threads: int | None = None, tile: int | None = None, chunk: int | None = None,
                  max_images: int | None = None, seed: int = 0,
                  progress_factory: Callable[[int], Any] | None = None) -> tuple[dict[str, Any], QualityResult, QualityPlan]:
    """``srcli bench quality`` as a library call; everything is checked before any work.

    Args:
        folders: dataset folders (their images are the ground truth).
        models: comma-separated methods, e.g. ``"bicubic,liif"``.
        settings: comma-separated settings, e.g. scales ``"2,3,4,2.5"``.
        task: a registered bench task.
        metrics: comma-separated metric names (default: the task's).
        options: task option overrides.
        weights: method name -> checkpoint path.
        device, precision, threads: see :func:`srcli.device.make_runtime`.
        tile, chunk: tiling limits for learned models (default: from free memory).
        max_images: only the first N images of each folder.
        seed: base seed of the random degradations.
        progress_factory: ``f(total)`` returning an object with ``advance()``.

    Returns:
        ``(report, result, plan)``.
    """
    from srcli.device import make_runtime

    plan = plan_quality(task, models, settings, metrics, options, seed)
    for flag, value in (("--tile", tile), ("--chunk", chunk)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be at least 1, got {value}")
    datasets = find_datasets(folders, max_images)
    runtime = make_runtime(device, precision, threads)
    methods = load_methods(plan, weights)
    progress = progress_factory(sum(len(d.images) for d in datasets) * len(plan.settings)) if progress_factory else None
    result = run_quality(datasets, plan, methods, BenchContext(runtime, tile, chunk), progress)
    return quality_report(result, plan, datasets, runtime.describe()), result, plan
