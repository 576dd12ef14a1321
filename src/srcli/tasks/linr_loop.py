"""The optimisation loop of a LINR fit: steps, curve, stopping and the result.

:func:`run_fit` takes prepared data terms (:mod:`srcli.tasks.linr_terms`) and resolved
settings (:class:`FitConfig`, checked by :func:`srcli.tasks.fit_linr.fit_linr`), fits a
fresh SIREN with Adam (or continues a fit from its state file,
:mod:`srcli.tasks.linr_state`) and returns a :class:`FitResult`. Each step's loss comes
from a :class:`_LossPlan`: the whole canvas, the known support, random pixels or a crop.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from srcli.device import CompiledOrEager, keep_freed_memory
from srcli.models.siren import Siren, SirenFunction, linr_coords, linr_extent, render
from srcli.tasks.linr_config import FitConfig, FitInterrupted, FitResult, NonFiniteLoss
from srcli.tasks.linr_state import FitStateError, FitStore
from srcli.tasks.linr_terms import (
    DataTerm,
    FlatTerm,
    crop_loss,
    crop_window,
    flatten_terms,
    full_loss,
    known_support,
    pixel_loss,
)
from srcli.training.checkpointing import StopSignals

__all__ = ["FitConfig", "FitInterrupted", "FitResult", "NonFiniteLoss", "run_fit"]


def _psnr(image: torch.Tensor, reference: torch.Tensor) -> float:
    mse = float((image.double() - reference.double()).square().mean())
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


class _Tracker:
    """Curve, best state and the current output image of one fit."""

    def __init__(self, cfg: FitConfig, model: Siren, coords: torch.Tensor, canvas_hw: tuple[int, int], terms: list[DataTerm]) -> None:
        self.cfg, self.model, self.coords, self.canvas_hw, self.terms = cfg, model, coords, canvas_hw, terms
        self.curve: list[dict[str, Any]] = []
        self.best: tuple[float, int, dict[str, torch.Tensor], torch.Tensor] | None = None
        self.image: torch.Tensor | None = None
        self.image_step = -1

    def noise_reached(self, mses: list[float] | None) -> bool:
        """True when the ``noise-level`` rule says stop (denoise MSE <= sigma^2)."""
        cfg = self.cfg
        if cfg.stop != "noise-level" or mses is None:
            return False
        return mses[cfg.denoise_index] <= cfg.noise_sigma ** 2  # type: ignore[index,operator]

    def image_at(self, step: int, canvas: torch.Tensor | None) -> torch.Tensor:
        """The output image of the current state (``canvas`` reused when it has the output size)."""
        if self.image_step != step:
            if self.cfg.out_hw == self.canvas_hw and canvas is not None:
                self.image = canvas.detach().clamp(0.0, 1.0)
            else:
                self.image = render(self.model, self.cfg.out_hw, autocast_dtype=self.cfg.autocast_dtype)
            self.image_step = step
        assert self.image is not None
        return self.image

    def record(self, step: int, loss: torch.Tensor, mses: list[torch.Tensor] | None, canvas: torch.Tensor | None) -> bool:
        """Add a curve entry; returns True when the callback asks to stop."""
        cfg = self.cfg
        if mses is None:  # mini-batch: evaluate the full data terms
            with torch.no_grad():
                loss, mses, canvas = full_loss(self.model, self.coords, self.canvas_hw, self.terms, cfg.autocast_dtype,
                                                     cfg.chunk)
        entry: dict[str, Any] = {"step": step, "loss": float(loss.detach()), "mse": [float(m.detach()) for m in mses]}
        if cfg.reference is not None:
            image = self.image_at(step, canvas)
            entry["psnr"] = _psnr(image, cfg.reference)
            if self.best is None or entry["psnr"] > self.best[0]:
                state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                self.best = (entry["psnr"], step, state, image)
        self.curve.append(entry)
        return bool(cfg.callback(entry)) if cfg.callback is not None else False


def _new_model(channels: int, cfg: FitConfig, canvas_hw: tuple[int, int], device: torch.device) -> Siren:
    from srcli.registry import create

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = create("siren", out_features=channels, width=cfg.width, depth=cfg.depth)
    model.extent.copy_(torch.tensor(linr_extent(*canvas_hw)))
    return model.to(device).train()  # type: ignore[return-value]


@dataclass
class _LossPlan:
    """How each step evaluates the loss: the whole canvas, the known support, random pixels or a crop."""

    coords: torch.Tensor
    canvas_hw: tuple[int, int]
    terms: list[DataTerm]
    support: torch.Tensor | None
    flat: list[FlatTerm] | None
    generator: torch.Generator

    @classmethod
    def build(cls, terms: list[DataTerm], canvas_hw: tuple[int, int], cfg: FitConfig, coords: torch.Tensor) -> _LossPlan:
        support = None if cfg.batch or cfg.crop else known_support(terms, canvas_hw)
        flat = flatten_terms(terms) if cfg.batch or support is not None else None
        generator = torch.Generator(device=coords.device).manual_seed(cfg.seed)
        return cls(coords, canvas_hw, terms, support, flat, generator)

    def pixels_per_step(self, cfg: FitConfig) -> int | None:
        """Canvas pixels a training step evaluates (None for crops, whose size varies at the borders)."""
        if cfg.crop:
            return None
        return cfg.batch or (self.coords.shape[0] if self.support is None else self.support.numel())

    def loss(self, model: SirenFunction, cfg: FitConfig, final: bool) -> tuple[torch.Tensor, list[torch.Tensor] | None, torch.Tensor | None]:
        """``(loss, per-term MSEs or None for a random batch or crop, canvas or None)``."""
        if cfg.crop and not final:
            window = crop_window(self.canvas_hw, cfg.crop, self.generator)
            return crop_loss(model, self.coords, self.canvas_hw, self.terms, window, cfg.autocast_dtype,
                             cfg.chunk), None, None
        if self.flat is None or (final and self.support is None):
            return full_loss(model, self.coords, self.canvas_hw, self.terms, cfg.autocast_dtype, cfg.chunk)
        if self.support is not None:
            loss, mses = pixel_loss(model, self.coords, self.flat, self.support, cfg.autocast_dtype,
                                    pixels=self.coords.shape[0], chunk=cfg.chunk)
            return loss, mses, None
        index = torch.randint(self.coords.shape[0], (cfg.batch,), generator=self.generator, device=self.coords.device)
        return pixel_loss(model, self.coords, self.flat, index, cfg.autocast_dtype, chunk=cfg.chunk)[0], None, None


def run_fit(terms: list[DataTerm], canvas_hw: tuple[int, int], cfg: FitConfig, device: torch.device,
            store: FitStore | None = None, saved: dict[str, Any] | None = None) -> FitResult:
    """Fit a fresh SIREN to the data terms, or continue the fit of a saved state.

    Args:
        terms: prepared data terms, on ``device``.
        canvas_hw: ``(H, W)`` of the canvas they share.
        cfg: resolved settings.
        device: where to fit.
        store: the fit's state file (:mod:`srcli.tasks.linr_state`), or None.
        saved: what ``store.load()`` returned: progress to continue from, or an ended
            fit's result to return.

    Returns:
        The :class:`FitResult` (model, image, curve, stop reason, settings).

    Raises:
        NonFiniteLoss: the loss became NaN or Inf.
        FitInterrupted: SIGINT/SIGTERM during a fit with a state file (written first).
        srcli.tasks.linr_state.FitStateError: a state that cannot be continued here.
    """
    start = time.perf_counter()
    if device.type == "cpu":
        keep_freed_memory()  # every step allocates the same large activations again
    model = _new_model(terms[0].observed.shape[1], cfg, canvas_hw, device)
    if saved is not None and saved["result"] is not None:
        return _saved_result(saved["result"], model, cfg, canvas_hw, device)
    progress = saved if saved is not None and saved["step"] is not None else None
    result, ended, late_signal = _optimise(terms, canvas_hw, cfg, model, store, progress, start)
    if store is not None and ended:
        store.save_result({"model": model.state_dict(), "image": result.image, "curve": result.curve,
                           "steps": result.steps, "seconds": result.seconds, "stop_reason": result.stop_reason,
                           "best_step": result.best_step, "best_psnr": result.best_psnr, "settings": result.settings})
    if late_signal is not None and store is not None:  # a stop asked for is honoured even after the last step
        kept = "result" if ended else "state"
        raise FitInterrupted(late_signal, f"{late_signal} at the end of the fit; its {kept} is in {store.path}: "
                             "run the same command to continue")
    return result


def _saved_result(saved: dict[str, Any], model: Siren, cfg: FitConfig, canvas_hw: tuple[int, int],
                  device: torch.device) -> FitResult:
    """The :class:`FitResult` a state file kept when its fit ended."""
    model.load_state_dict(saved["model"])
    return FitResult(model.eval(), saved["image"].to(device), saved["curve"], saved["steps"], saved["seconds"],
                     canvas_hw, cfg.out_hw, saved["stop_reason"], saved["best_step"], saved["best_psnr"],
                     cfg.noise_sigma, {**saved["settings"], "reused_state": True})


def _optimise(terms: list[DataTerm], canvas_hw: tuple[int, int], cfg: FitConfig, model: Siren, store: FitStore | None,
              saved: dict[str, Any] | None, start: float) -> tuple[FitResult, bool, str | None]:
    """The steps of :func:`run_fit`, from step 0 or from a saved state.

    Returns:
        The result; whether the fit ended (False when the callback stopped it: its state is
        then saved as progress, for the next run to continue); the name of a stop signal
        that came during the last step (too late for a checkpoint before it), else None.
    """
    steps = _Steps(terms, canvas_hw, cfg, model, store, start)
    first = 0 if saved is None else steps.resume(saved)
    ending = None
    with (StopSignals() if store is not None else contextlib.nullcontext()) as signals:
        for step in range(first, cfg.steps + 1):
            steps.checkpoint(step, first, signals)
            ending = steps.take(step)
            if ending is not None:
                break
    paused = ending == "callback" and step < cfg.steps  # the callback stopped a fit that had not ended
    if store is not None and paused:  # progress, without this step's entry (a rerun records it again)
        steps.save(step, steps.track.curve[:-1])
    result = _finish(steps.track, model, step, _stop_reason(cfg, ending, step), steps.seconds(), canvas_hw)
    result.settings["pixels_per_step"] = steps.plan.pixels_per_step(cfg)
    if first:
        result.settings["resumed_at_step"] = first
    if isinstance(steps.net, CompiledOrEager) and steps.net.fallback is not None:
        result.settings["compiled"] = False
        result.settings["compile_fallback"] = steps.net.fallback
    return result, not paused, signals.requested if signals is not None else None


def _stop_reason(cfg: FitConfig, ending: str | None, step: int) -> str:
    """The result's ``stop_reason`` for how the step loop ended (see :meth:`_Steps.take`)."""
    if ending == "noise":
        return f"noise-level: data MSE reached sigma^2 at step {step}"
    if ending == "callback":
        return f"stopped by callback at step {step}"
    steps = f"{cfg.steps} step{'' if cfg.steps == 1 else 's'}"
    return f"fixed: {steps}" if cfg.stop != "noise-level" else f"noise-level: not reached in {steps}"


class _Steps:
    """The optimiser, loss plan and tracker of one fit, and its state file, between steps."""

    def __init__(self, terms: list[DataTerm], canvas_hw: tuple[int, int], cfg: FitConfig, model: Siren,
                 store: FitStore | None, start: float) -> None:
        coords = linr_coords(*canvas_hw, extent=tuple(model.extent.tolist()), device=next(model.parameters()).device)
        self.cfg, self.model, self.store, self.start = cfg, model, store, start
        self.optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        self.net = CompiledOrEager(model, label="SIREN") if cfg.compiled else model
        self.plan = _LossPlan.build(terms, canvas_hw, cfg, coords)
        self.track = _Tracker(cfg, model, coords, canvas_hw, terms)

    def seconds(self) -> float:
        """Wall time of the fit so far, earlier runs included."""
        return time.perf_counter() - self.start

    def save(self, step: int, curve: list[dict[str, Any]]) -> None:
        """Write the state file: progress at the start of ``step``."""
        assert self.store is not None
        self.store.save_progress(step, self.model, self.optimiser, self.plan.generator, curve, self.track.best,
                                 self.seconds())

    def checkpoint(self, step: int, first: int, signals: StopSignals | None) -> None:
        """Save the state when it is due or a signal came; after a signal, raise :class:`FitInterrupted`."""
        interrupted = signals is not None and signals.requested
        if self.store is None or not (interrupted or self.store.due(step, first, self.cfg.steps)):
            return
        self.save(step, self.track.curve)
        if interrupted:
            raise FitInterrupted(signals.requested, f"{signals.requested} at step {step} of {self.cfg.steps}; the "
                                 f"fit's state is in {self.store.path}: run the same command to continue")

    def take(self, step: int) -> str | None:
        """Evaluate step ``step`` and, unless the fit ends there, update the SIREN.

        Returns:
            Why the fit ends at this step (``"noise"``: the noise-level rule, ``"callback"``,
            ``"final"``: the last step), or None after an Adam update.

        Raises:
            NonFiniteLoss: the loss is NaN or Inf.
        """
        cfg, track = self.cfg, self.track
        final = step == cfg.steps
        with torch.set_grad_enabled(not final):
            loss, mses, canvas = self.plan.loss(self.model if final else self.net, cfg, final)  # no graph when final
        if not bool(torch.isfinite(loss)):
            raise NonFiniteLoss(f"the loss became non-finite at step {step}")
        noise_hit = cfg.stop == "noise-level" and track.noise_reached(None if mses is None else [float(m.detach()) for m in mses])
        if final or noise_hit or step % cfg.eval_every == 0:
            stop_asked = track.record(step, loss, mses, canvas)
            noise_hit = noise_hit or track.noise_reached(track.curve[-1]["mse"])
            ending = "noise" if noise_hit else "callback" if stop_asked else "final" if final else None
            if ending is not None:
                track.image_at(step, canvas)
                return ending
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()
        return None

    def resume(self, saved: dict[str, Any]) -> int:
        """Load a saved state into the fit; returns the step to continue from.

        Raises:
            FitStateError: a fit that samples pixels or windows, saved on another device type.
        """
        cfg, plan, here = self.cfg, self.plan, self.plan.generator.device.type
        if saved["device"] == here:
            plan.generator.set_state(saved["generator"])
        elif cfg.batch or cfg.crop:  # its random draws cannot be continued from another device's generator
            raise FitStateError(f"the fit state was written on {saved['device']}; this fit samples random "
                                f"{'pixels' if cfg.batch else 'windows'}, so continue it there (here: {here})")
        self.model.load_state_dict(saved["model"])
        self.optimiser.load_state_dict(saved["optimiser"])
        self.track.curve = list(saved["curve"])
        if saved["best"] is not None:
            psnr, step, state, image = saved["best"]
            self.track.best = (psnr, step, state, image.to(plan.coords.device))
        self.start -= float(saved["seconds"])
        return int(saved["step"])


def _finish(track: _Tracker, model: Siren, step: int, reason: str, seconds: float, canvas_hw: tuple[int, int]) -> FitResult:
    cfg = track.cfg
    best_step = best_psnr = None
    image = track.image
    if track.best is not None:
        best_psnr, best_step = track.best[0], track.best[1]
        if cfg.stop == "best-reference":
            model.load_state_dict(track.best[2])
            image, step, reason = track.best[3], best_step, f"best-reference: best PSNR at step {best_step}"
    assert image is not None
    model.eval()
    return FitResult(model, image, track.curve, step, seconds, canvas_hw, cfg.out_hw, reason, best_step, best_psnr,
                     cfg.noise_sigma, cfg.describe())


