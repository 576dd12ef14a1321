"""Resumable LINR fits: a state file written every N steps, and the fit continued from it.

A long fit (deblurring takes 4000 full-image steps: hours on a CPU) can keep its state in
a file: the SIREN, Adam's moments, the step, the curve, the best state against a
reference, the generator of the pixel batches or crops, the wall time so far, and a
*fingerprint* of everything that determines the fit (observations, masks, operators and
their kernels, weights, settings). Running the same fit with the same file continues where
the file left off (the numbers of an uninterrupted fit: bit for bit on the same device
with the same chunking and compile choice, else up to float rounding); once the
fit ends the file holds its result, which a rerun returns at once, so a batch of fits
restarted after an interruption redoes nothing. A file written by another fit is refused.

A state also records the device it was written on (a fit that samples random pixels or
windows continues only there) and a bf16 fit's fall back to fp32, so a rerun goes
straight to the fp32 fit. A stop asked by the ``callback`` keeps the state as progress:
the next run continues the fit.

``checkpoint`` may name an existing folder: the file is then
``<folder>/linr-<fingerprint>.pt``, so one folder serves many fits (``bench --task linr
--opt resume_dir=DIR``). Files are written atomically (:func:`atomic_torch_save`) and read
with ``weights_only=True``: a state file never runs code.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from srcli.io.atomic import atomic_torch_save

STATE_FORMAT = "srcli-linr-state/1"


class FitStateError(ValueError):
    """A state file that does not belong to this fit or cannot be read."""


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    return tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()


def _operator_tensors(operator: Any) -> list[torch.Tensor]:
    """Tensors an operator holds (kernels, masks), its parts' included, in a fixed order."""
    found: list[torch.Tensor] = []
    for name in sorted(vars(operator)):
        value = vars(operator)[name]
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif isinstance(value, list):
            for part in value:
                found.extend(_operator_tensors(part))
    return found


def fit_fingerprint(terms: list[Any], canvas_hw: tuple[int, int], settings: dict[str, Any],
                    reference: torch.Tensor | None) -> str:
    """A 16-hex-digit digest of everything that determines a fit's numbers.

    Args:
        terms: the fit's :class:`srcli.tasks.linr_terms.DataTerm` objects.
        canvas_hw: ``(H, W)`` of the canvas.
        settings: JSON-serialisable settings (steps, lr, sizes, seed, sampling, precision, stop).
        reference: the clean reference or None (it decides the best state).
    """
    digest = hashlib.sha256(json.dumps({"canvas": list(canvas_hw), **settings}, sort_keys=True).encode())
    for term in terms:
        digest.update(json.dumps([term.weight, term.operator.describe(), list(term.observed.shape)]).encode())
        for tensor in [term.observed, *([] if term.mask is None else [term.mask]), *_operator_tensors(term.operator)]:
            digest.update(_tensor_bytes(tensor))
    if reference is not None:
        digest.update(_tensor_bytes(reference))
    return digest.hexdigest()[:16]


def state_path(checkpoint: str | os.PathLike[str], fingerprint: str) -> Path:
    """The state file: ``checkpoint`` itself, or ``linr-<fingerprint>.pt`` inside it when it is a folder."""
    path = Path(checkpoint)
    return path / f"linr-{fingerprint}.pt" if path.is_dir() else path


def load_state(path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The saved state of this fit, or None when ``path`` does not exist.

    Raises:
        FitStateError: unreadable, not a LINR state, or written by another fit.
    """
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle errors, a folder, ...
        raise FitStateError(f"cannot read the fit state {path}: {type(exc).__name__}") from None
    if not isinstance(payload, dict) or payload.get("format") != STATE_FORMAT:
        raise FitStateError(f"{path} is not a LINR fit state; choose another --checkpoint file")
    if payload.get("fingerprint") != fingerprint:
        raise FitStateError(f"{path} holds the state of another fit (other observations or settings); "
                            "delete it or choose another --checkpoint file")
    return payload


def save_state(path: Path, fingerprint: str, **fields: Any) -> None:
    """Write a state atomically; tensors are moved to the CPU (see the module docstring for the fields)."""
    def to_cpu(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().clone()
        if isinstance(value, dict):
            return {k: to_cpu(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(to_cpu(v) for v in value)
        return value

    atomic_torch_save({"format": STATE_FORMAT, "fingerprint": fingerprint, **to_cpu(fields)}, path)


class FitStore:
    """The state file of one fit: where it is, when to write it, what it holds.

    Args:
        checkpoint: a file, or an existing folder (then ``linr-<fingerprint>.pt`` inside).
        every: steps between writes (>= 1).
        terms, canvas_hw, settings, reference: what :func:`fit_fingerprint` digests.

    Attributes:
        fallback: why the fit went on in fp32 (a bf16 loss turned non-finite), or None;
            written with every state, so a rerun goes straight to the fp32 fit.
    """

    def __init__(self, checkpoint: str | os.PathLike[str], every: int, terms: list[Any], canvas_hw: tuple[int, int],
                 settings: dict[str, Any], reference: torch.Tensor | None) -> None:
        self.fingerprint = fit_fingerprint(terms, canvas_hw, settings, reference)
        self.path = state_path(checkpoint, self.fingerprint)
        self.every = every
        self.fallback: str | None = None

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None for a fresh fit; sets :attr:`fallback` from it.

        ``step`` is None in a state that only records the fallback; ``result`` is set once
        the fit ended.
        """
        saved = load_state(self.path, self.fingerprint)
        self.fallback = None if saved is None else saved.get("fallback")
        return saved

    def due(self, step: int, first: int, steps: int) -> bool:
        """Whether to write the state before step ``step`` of a fit that started at ``first``."""
        return first < step < steps and step % self.every == 0

    def save_progress(self, step: int, model: torch.nn.Module, optimiser: torch.optim.Optimizer,
                      generator: torch.Generator, curve: list[dict[str, Any]], best: tuple[Any, ...] | None,
                      seconds: float) -> None:
        """Write the state before step ``step`` (``step`` optimiser steps taken)."""
        self._save(step=step, model=model.state_dict(), optimiser=optimiser.state_dict(), generator=generator.get_state(),
                   device=generator.device.type, curve=curve, best=best, seconds=seconds, result=None)

    def save_result(self, result: dict[str, Any]) -> None:
        """Write the ended fit's result (model state, image, curve, ...): a rerun returns it."""
        self._save(step=None, result=result)

    def mark_fallback(self, reason: str) -> None:
        """Record that the fit starts again in fp32 (no progress of that fit yet)."""
        self.fallback = reason
        self._save(step=None, result=None)

    def discard(self) -> None:
        """Remove the file (a fit that cannot go on)."""
        self.path.unlink(missing_ok=True)

    def _save(self, **fields: Any) -> None:
        try:
            save_state(self.path, self.fingerprint, fallback=self.fallback, **fields)
        except OSError as exc:
            raise FitStateError(f"cannot write the fit state {self.path}: {exc.strerror or exc}") from None
