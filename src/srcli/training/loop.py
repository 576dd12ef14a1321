"""The training loop: L1 steps on planned batches, validation, sampler measurements, checkpoints.

Order of events for the step with index ``t`` (``t`` steps done so far):

1. stop if SIGINT/SIGTERM arrived (on any rank): save ``state.pt`` and ``last.pt``, return;
2. if the sampler is due a measurement at ``t``, measure the model on its candidate cells;
3. train on the plans of step ``t`` (one optimiser step, one scheduler step); ``t += 1``;
4. if ``t`` is a multiple of ``log_every`` (or the last step): a ``train`` record in the log;
5. if ``t`` is a multiple of ``val_every`` (or the last step): validation, ``best.pt`` if better;
6. if ``t`` is a multiple of ``ckpt_every``: ``state.pt`` and ``last.pt``.

A state saved after step ``t`` holds the model, optimiser, scheduler and sampler as they are
before event 2 of the next step, so a resumed run repeats exactly what an uninterrupted run
does next. The DataLoader is re-iterated from the current step whenever the sampler's
state may have changed, so prefetching never plans a batch with stale probabilities.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from srcli.device import Runtime
from srcli.errors import SrcliError
from srcli.training import distributed as dist_utils
from srcli.training.checkpointing import (
    BEST_FILE,
    LAST_FILE,
    STATE_FILE,
    JsonlLog,
    StopSignals,
    save_training_state,
)
from srcli.training.datasets import ImageCache, PlanBatches, downscale_to
from srcli.training.samplers import GAIN_EPS, PsnrGainSampler, UniformSampler
from srcli.training.validation import validate


class TrainingError(SrcliError):
    """Training cannot go on (a non-finite loss)."""


class QueryStep(nn.Module):
    """What DDP wraps: ``forward(lr, coord, cell) = model.query(model.encode(lr), coord, cell)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, lr: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w), (B, Q, 2), (B, Q, 2) -> (B, Q, 3)."""
        return self.model.query(self.model.encode(lr), coord, cell)


def l1_loss(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Mean absolute error in float32 (RGB in [0, 1])."""
    return (pred.float() - gt.float()).abs().mean()


#: the batch entries :class:`QueryStep` takes, in order
QUERY_INPUTS = ("lr", "coord", "cell")


def train_step(step_module: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
               batch: dict[str, torch.Tensor], runtime: Runtime, inputs: tuple[str, ...] = QUERY_INPUTS) -> torch.Tensor:
    """One optimiser step on a batch: ``step_module(*batch[inputs])`` against ``batch["gt"]``; returns the detached loss."""
    device = runtime.device
    args = [batch[k].to(device, non_blocking=True) for k in inputs]
    with runtime.autocast():
        pred = step_module(*args)
    loss = l1_loss(pred, batch["gt"].to(device, non_blocking=True))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()
    return loss.detach()


@torch.no_grad()
def measure_gains(model: nn.Module, sampler: PsnrGainSampler, cache: ImageCache, runtime: Runtime,
                  ctx: dist_utils.DistContext, quantize: bool = True) -> np.ndarray:
    """PSNR gain over bicubic of every candidate cell (samplers' rule 2); ranks split the cells."""
    from srcli.geometry import coord_grid
    from srcli.resize import resize

    scale = sampler.geometry.scale_max
    gains = torch.zeros(len(sampler.cells), dtype=torch.float64)
    was_training = model.training
    model.eval()
    for c in range(ctx.rank, len(sampler.cells), ctx.world_size):
        image, top, left, h, w = (int(v) for v in sampler.cells[c])
        hr = cache.crop(image, top, left, h, w)[None]
        lr = downscale_to(hr, (max(1, round(h / scale)), max(1, round(w / scale))), quantize)
        bicubic = resize(lr, (h, w), "bicubic")
        index = torch.from_numpy(sampler.measure_pixels(c, h * w))
        coord = coord_grid(h, w).reshape(-1, 2)[index]
        cell = torch.tensor([2.0 / h, 2.0 / w]).expand_as(coord)
        with runtime.autocast():
            pred = model.query(model.encode(lr.to(runtime.device)), coord[None].to(runtime.device),
                               cell[None].to(runtime.device)).float().cpu()[0]
        gt = hr.reshape(3, -1)[:, index].t()
        mse_model = float((pred.double() - gt.double()).square().mean())
        mse_bicubic = float((bicubic.reshape(3, -1)[:, index].t().double() - gt.double()).square().mean())
        gains[c] = 10.0 * math.log10((mse_bicubic + GAIN_EPS) / (mse_model + GAIN_EPS))
    model.train(was_training)
    return dist_utils.sum_tensor(gains, ctx).numpy()


@dataclass
class LoopSettings:
    """Schedule of the loop (steps are optimiser steps)."""

    steps: int
    batch_size: int
    log_every: int = 100
    val_every: int = 5000
    ckpt_every: int = 1000
    quantize: bool = True


@dataclass
class LoopResult:
    """How the loop ended."""

    step: int
    interrupted: str | None
    best: dict[str, Any]
    last_loss: float | None
    wall_s: float


@dataclass
class Trainer:
    """Everything the loop touches; :meth:`run` trains from ``step`` to ``settings.steps``.

    ``card`` builds the model card for ``best.pt``/``last.pt`` from ``(step, validation, wall_s)``;
    ``extra_state`` gives the run's JSON-like entries of ``state.pt``; ``progress`` is called
    after every step with ``(step, total, info)``.
    """

    model: nn.Module
    step_module: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    sampler: UniformSampler
    batches: PlanBatches
    loader: torch.utils.data.DataLoader
    runtime: Runtime
    ctx: dist_utils.DistContext
    settings: LoopSettings
    run_dir: Path
    val_pairs: list[Any]
    measure_cache: ImageCache | None
    card: Callable[[int, dict[str, Any] | None, float], dict[str, Any]]
    extra_state: Callable[[], dict[str, Any]]
    step: int = 0
    best: dict[str, Any] = field(default_factory=dict)
    wall_before: float = 0.0
    progress: Callable[[int, int, dict[str, Any]], None] | None = None
    signals: StopSignals = field(default_factory=StopSignals)
    inputs: tuple[str, ...] = QUERY_INPUTS
    validate_fn: Callable[[nn.Module, list[Any], Runtime], dict[str, float]] = validate

    def __post_init__(self) -> None:
        self.log = JsonlLog(self.run_dir / "log.jsonl", enabled=self.ctx.is_main)
        self._start = time.perf_counter()
        self._iterator: Iterator[dict[str, torch.Tensor]] | None = None
        self._interval = {"loss": torch.zeros(()), "steps": 0, "seconds": 0.0}
        self.last_loss: float | None = None
        self.last_val: dict[str, Any] | None = None

    def wall(self) -> float:
        """Seconds of training so far, earlier runs of a resumed training included."""
        return self.wall_before + time.perf_counter() - self._start

    def run(self) -> LoopResult:
        """Train to ``settings.steps`` or until a stop signal; see the module docstring."""
        self.model.train()
        self.log.write({"kind": "start", "step": self.step, "steps": self.settings.steps, **self.runtime.describe(),
                        "processes": self.ctx.world_size, "sampler": self.sampler.name, "wall_s": round(self.wall(), 3)})
        with self.signals:
            while self.step < self.settings.steps:
                if dist_utils.any_rank(self.signals.requested is not None, self.ctx):
                    self.save_state()
                    return LoopResult(self.step, self.signals.requested or "stopped", self.best, self.last_loss, self.wall())
                self._measure_if_due()
                self._one_step()
                self._after_step()
        self.save_state()
        if not self.val_pairs and self.ctx.is_main:
            self._save_model(BEST_FILE, None)
        return LoopResult(self.step, None, self.best, self.last_loss, self.wall())

    def _measure_if_due(self) -> None:
        """Re-measure the PSNR-gain sampler's cells when due (before the step's plans are drawn)."""
        if not self.sampler.measurement_due(self.step):
            return
        assert isinstance(self.sampler, PsnrGainSampler) and self.measure_cache is not None
        started = time.perf_counter()
        gains = measure_gains(self.model, self.sampler, self.measure_cache, self.runtime, self.ctx, self.settings.quantize)
        self.sampler.set_gains(gains, self.step)
        self._iterator = None  # plans from now on use the new probabilities
        finite = gains[np.isfinite(gains)]
        summary = {"gain_mean": finite.mean(), "gain_min": finite.min(), "gain_max": finite.max()} if finite.size else {}
        self.log.write({"kind": "sampler", "step": self.step, **{k: float(v) for k, v in summary.items()},
                        "cells": int(gains.size), "seconds": round(time.perf_counter() - started, 3),
                        "wall_s": round(self.wall(), 3)})

    def _next_batch(self) -> dict[str, torch.Tensor]:
        if self._iterator is None:
            stop = self.sampler.next_change(self.step)
            self.batches.set_range(self.step, self.settings.steps if stop is None else min(stop, self.settings.steps))
            self._iterator = iter(self.loader)
        try:
            return next(self._iterator)
        except StopIteration:
            self._iterator = None
            return self._next_batch()

    def _one_step(self) -> None:
        started = time.perf_counter()
        batch = self._next_batch()
        loss = train_step(self.step_module, self.optimizer, self.scheduler, batch, self.runtime, self.inputs)
        self.step += 1
        self._interval["loss"] = self._interval["loss"] + loss.float().cpu()
        self._interval["steps"] += 1
        self._interval["seconds"] += time.perf_counter() - started

    def _after_step(self) -> None:
        s, total = self.settings, self.settings.steps
        last = self.step == total
        if self.step % s.log_every == 0 or last:
            self._log_train()
        if self.val_pairs and (self.step % s.val_every == 0 or last):
            self._validate()
        if self.step % s.ckpt_every == 0 and not last:
            self.save_state()
        if self.progress is not None and self.ctx.is_main:
            self.progress(self.step, total, {"loss": self.last_loss, "psnr": self.best.get("psnr")})

    def _log_train(self) -> None:
        interval = self._interval
        steps = max(1, interval["steps"])
        loss_sum = dist_utils.sum_tensor(interval["loss"].reshape(1), self.ctx)[0] / self.ctx.world_size
        self.last_loss = float(loss_sum) / steps
        if not math.isfinite(self.last_loss):
            raise TrainingError(f"the training loss became {self.last_loss} before step {self.step}; continue from the "
                                f"last good state with --resume and --precision fp32, or start again with a lower --lr")
        seconds = max(interval["seconds"], 1e-9)
        self.log.write({"kind": "train", "step": self.step, "loss": self.last_loss,
                        "lr": float(self.optimizer.param_groups[0]["lr"]), "steps_per_s": steps / seconds,
                        "items_per_s": steps * self.settings.batch_size / seconds, "wall_s": round(self.wall(), 3)})
        self._interval = {"loss": torch.zeros(()), "steps": 0, "seconds": 0.0}

    def _validate(self) -> None:
        if self.ctx.is_main:
            metrics = self.validate_fn(self.model, self.val_pairs, self.runtime)
            self.last_val = metrics
            self.log.write({"kind": "val", "step": self.step, **metrics, "wall_s": round(self.wall(), 3)})
            if not self.best or metrics["psnr"] > self.best["psnr"]:
                self.best = {"step": self.step, **metrics}
                self._save_model(BEST_FILE, metrics)
        self.best = dist_utils.broadcast_object(self.best, self.ctx)

    def _save_model(self, name: str, metrics: dict[str, Any] | None) -> None:
        from srcli.registry import save_checkpoint

        save_checkpoint(self.run_dir / name, self.model, self.card(self.step, metrics, self.wall()))

    def save_state(self) -> None:
        """Write ``state.pt`` and ``last.pt`` (rank 0), then wait for every rank."""
        if self.ctx.is_main:
            extra = {"best": self.best, "last_val": self.last_val, "wall_s": self.wall(), **self.extra_state()}
            save_training_state(self.run_dir / STATE_FILE, model=self.model, optimizer=self.optimizer,
                                scheduler=self.scheduler, sampler_state=self.sampler.state_dict(), step=self.step,
                                extra=extra)
            self._save_model(LAST_FILE, self.last_val)
        dist_utils.barrier(self.ctx)
