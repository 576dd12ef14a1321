"""Crash safety of a training run: atomic files, RNG states, training state, stop signals, the log.

A run directory holds

* ``state.pt``: everything needed to continue bit for bit (model, optimiser, scheduler, all
  RNG states, the data sampler's state and position = the step, best validation, wall time,
  the run's options); written atomically every ``--ckpt-every`` steps and on SIGINT/SIGTERM;
* ``best.pt`` / ``last.pt``: srcli model checkpoints (:func:`srcli.registry.save_checkpoint`);
* ``log.jsonl``: one JSON object per line.

Atomic: a file is written to a temporary name in the same folder, flushed to disk, then
``os.replace``-d over the destination, so a reader (or a crash) sees the old complete file or
the new complete file, never a partial one. Everything is loaded with
``torch.load(weights_only=True)``: a state file never runs code.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch

from srcli.io.atomic import atomic_torch_save, atomic_write

STATE_FORMAT = "srcli-train-state/1"
STATE_FILE, BEST_FILE, LAST_FILE, LOG_FILE = "state.pt", "best.pt", "last.pt", "log.jsonl"


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy (global) and torch (CPU, every CUDA device) RNG states, weights_only-safe."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Undo :func:`capture_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_state(path: str | os.PathLike[str], *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                        scheduler: Any, sampler_state: dict[str, Any], step: int, extra: dict[str, Any]) -> None:
    """Write ``state.pt`` atomically (see the module docstring).

    Args:
        path: destination.
        model: the bare model (not a DDP wrapper).
        optimizer, scheduler: their ``state_dict`` is stored.
        sampler_state: the data sampler's ``state_dict()``.
        step: optimiser steps completed; the next batch is the plan of this step.
        extra: JSON-like values (best validation, wall time, options, ...).
    """
    payload = {
        "format": STATE_FORMAT,
        "step": int(step),
        "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "sampler": sampler_state,
        "rng": capture_rng_state(),
        **extra,
    }
    atomic_torch_save(payload, path)


class StateError(ValueError):
    """A training state that cannot be resumed."""


def load_training_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``state.pt`` safely.

    Raises:
        StateError: missing, unreadable or not a training state.
    """
    folder = Path(path).parent
    if folder.exists() and not folder.is_dir():
        raise StateError(f"{folder} is a file; resume a run folder (the --out of a srcli train run)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise StateError(f"no training state at {path}; nothing to resume") from None
    except Exception as exc:
        raise StateError(f"cannot read training state {path}: {type(exc).__name__}") from None
    if not isinstance(payload, dict) or payload.get("format") != STATE_FORMAT:
        raise StateError(f"{path} is not a srcli training state")
    return payload


class StopSignals:
    """Turns SIGINT and SIGTERM into a flag (``requested``) while active.

    Used as a context manager around the training loop; outside the main thread (where
    handlers cannot be installed) it only offers :meth:`request`. A second signal of the
    same run restores the previous handler's behaviour by raising KeyboardInterrupt.
    """

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}

    def request(self, reason: str) -> None:
        """Ask the loop to stop after the current step."""
        self.requested = reason

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.requested is not None:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


class JsonlLog:
    """Append-only JSON-lines log, flushed per line (main rank only writes).

    Args:
        path: the log file.
        enabled: False on non-main ranks (then nothing is written).
    """

    def __init__(self, path: str | os.PathLike[str], enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled

    def write(self, record: dict[str, Any]) -> None:
        """Append one record; non-finite numbers are written as ``null`` (strict JSON)."""
        if not self.enabled:
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(clean, allow_nan=False, default=float) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drop records of steps after ``step`` (a resumed run rewrites them), atomically."""
        if not self.enabled or not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a crash
                continue
            if int(record.get("step", 0)) <= step:
                kept.append(line + "\n")
        atomic_write(self.path, lambda fh: fh.write("".join(kept).encode("utf-8")))
