"""The bench-task registry of ``srcli bench quality``: what a bench task is, and its options.

A **bench task** (:class:`BenchTask`) says how to turn a ground-truth image into an
observation (its degradation), how a method restores it, and which metrics compare the
two. Tasks are registered by name with :func:`register_bench_task`, found with
:func:`get_bench_task` (which first imports the modules of :data:`BENCH_TASK_MODULES`, so
that they register theirs), and their default options are overridden with
:func:`merge_options`. The runner that uses them is :mod:`srcli.tasks.bench`.

Adding a task (``points``, ``inpaint``, ``linr``, ...): build a :class:`BenchTask` with its
own ``prepare``/``degrade``/``restore``/``metrics`` and default ``options``, and call
:func:`register_bench_task` from its module (listed in :data:`BENCH_TASK_MODULES`). The
observation is a plain dict of whatever ``restore`` and the metrics need; ``degrade``
gets a seed derived from (seed, dataset, image, setting), so results do not depend on the
order or number of images. ``srcli bench quality --task NAME --opt KEY=VALUE`` reaches it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from srcli.device import Runtime
from srcli.errors import UsageError

Observation = dict[str, Any]
#: what ``restore`` returns: the image, or the image and extra row columns
Restored = torch.Tensor | tuple[torch.Tensor, dict[str, Any]]
#: ``metric(restored, gt, observation, setting, options) -> value``
MetricFn = Callable[[torch.Tensor, torch.Tensor, Observation, Any, dict[str, Any]], float]


@dataclass(frozen=True)
class BenchContext:
    """What ``restore`` may use besides the observation: the runtime and tiling limits."""

    runtime: Runtime
    tile: int | None = None
    chunk: int | None = None


@dataclass(frozen=True)
class BenchTask:
    """One kind of benchmark.

    Attributes:
        name: ``--task`` value.
        description: one line for help texts.
        setting_name: row column of the setting (``"scale"`` for upscaling).
        parse_setting: turns one item of the ``--scale``-like list into a setting (raises ValueError).
        prepare: ``(gt (1, C, H, W), setting, options) -> gt`` cropped for the setting.
        degrade: ``(gt, setting, seed, options) -> observation``.
        restore: ``(observation, method, setting, context, options) -> (1, C, H, W)`` restored
            image, or ``(image, columns)`` with a dict of extra row columns (e.g. a fit's steps).
        load_method: ``(name, weights path or None) -> method`` (raises a user error when unusable).
        metrics: metric name (as in rows) -> :data:`MetricFn`.
        default_metrics: metrics computed when none are asked for.
        baseline: method the gain columns and the dataset ranking compare against.
        options: default task options; ``--opt KEY=VALUE`` overrides them (same type).
        describe_observation: ``observation -> dict`` of row columns (sizes, ...).
        default_settings: the settings list used when none is given.
        default_methods: the methods compared when none are given.
        protocol: how observations are made and scored, for the report header (the task's
            options are appended).
    """

    name: str
    description: str
    setting_name: str
    parse_setting: Callable[[str], Any]
    prepare: Callable[[torch.Tensor, Any, dict[str, Any]], torch.Tensor]
    degrade: Callable[[torch.Tensor, Any, int, dict[str, Any]], Observation]
    restore: Callable[[Observation, Any, Any, BenchContext, dict[str, Any]], Restored]
    load_method: Callable[[str, str | None], Any]
    metrics: dict[str, MetricFn]
    default_metrics: tuple[str, ...]
    baseline: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    describe_observation: Callable[[Observation], dict[str, Any]] = lambda obs: {}
    default_settings: str = ""
    default_methods: str = ""
    protocol: str = ""


_BENCH_TASKS: dict[str, BenchTask] = {}
#: modules that register further bench tasks when imported (missing ones are skipped)
BENCH_TASK_MODULES: tuple[str, ...] = ("srcli.tasks.bench_upscale", "srcli.tasks.bench_points", "srcli.tasks.bench_linr")


def register_bench_task(task: BenchTask) -> BenchTask:
    """Add ``task`` to the registry (replacing one of the same name) and return it."""
    _BENCH_TASKS[task.name] = task
    return task


def get_bench_task(name: str) -> BenchTask:
    """The registered task ``name``.

    Raises:
        UsageError: unknown name (the message lists the known tasks).
    """
    for module in BENCH_TASK_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    if name not in _BENCH_TASKS:
        raise UsageError(f"unknown bench task {name!r}; known tasks: {', '.join(sorted(_BENCH_TASKS))}")
    return _BENCH_TASKS[name]


def merge_options(task: BenchTask, overrides: dict[str, Any]) -> dict[str, Any]:
    """Task defaults updated by ``overrides``; string values are converted to the default's type.

    Raises:
        UsageError: an unknown key or a value of the wrong type.
    """
    merged = dict(task.options)
    for key, value in overrides.items():
        if key not in merged:
            known = ", ".join(sorted(merged)) or "none"
            raise UsageError(f"task {task.name} has no option {key!r}; its options: {known}")
        merged[key] = _convert(value, merged[key], key) if isinstance(value, str) else value
    return merged


def _convert(text: str, default: Any, key: str) -> Any:
    if isinstance(default, bool):
        lowered = text.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise UsageError(f"option {key} takes true or false, got {text!r}")
    if isinstance(default, (int, float)):
        try:
            return type(default)(text)
        except ValueError:
            raise UsageError(f"option {key} takes a {type(default).__name__}, got {text!r}") from None
    return text
