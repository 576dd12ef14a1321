"""The data terms of a LINR fit and the three ways of evaluating them.

A fit minimises ``sum_i w_i mean((m_i (A_i x - y_i))^2)`` (see
:mod:`srcli.tasks.forward_models`). Evaluating it needs the SIREN's values on the canvas:

* :func:`full_loss`: the whole canvas (every operator; the paper's full batch).
* :func:`pixel_loss` on the *known support* (:func:`known_support`): when every operator
  is pointwise and masked, only the pixels some mask keeps enter the loss, so the SIREN
  is evaluated there alone. The loss, its gradient and the fit are those of the full
  batch (the same sum over the same pixels, divided by the same element count); an
  inpainting fit that keeps 10 % of the pixels costs about a tenth.
* :func:`pixel_loss` on random pixels: a stochastic estimate (``batch=``), for
  pointwise operators only.
* :func:`crop_loss` on a random window of the observations: a stochastic estimate
  (``crop=``) for operators that keep the canvas grid and look only at nearby pixels
  (blur, mask, identity). The SIREN runs on the window grown by the operators' reach,
  so the window's residuals are exactly those of the whole canvas.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from srcli.models.siren import SirenFunction, evaluate, values_to_image, values_to_unit
from srcli.tasks.forward_models import ForwardModel, data_term

#: the known support replaces the full canvas only below this fraction of its pixels
SUPPORT_MAX_FRACTION = 0.75


@dataclass
class DataTerm:
    """One observation prepared for fitting.

    Attributes:
        operator: its forward model ``A``.
        observed: ``(1, C, h, w)`` float32 observation on the fit's device.
        weight: ``w``, finite and >= 0.
        mask: ``(1, 1 or C, h, w)`` weights ``m`` of the data term, or None for all ones.
    """

    operator: ForwardModel
    observed: torch.Tensor
    weight: float
    mask: torch.Tensor | None


@dataclass
class FlatTerm:
    """A pointwise :class:`DataTerm` as pixel rows: ``observed`` ``(h*w, C)``, ``mask`` ``(h*w, 1 or C)`` or None."""

    weight: float
    observed: torch.Tensor
    mask: torch.Tensor | None


def _masked_term(predicted: torch.Tensor, observed: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """:func:`data_term` of ``A x`` before its mask: the mask applied as :class:`Mask` does, then as weights."""
    return data_term(predicted if mask is None else predicted * mask, observed, mask)


def _rows(image: torch.Tensor) -> torch.Tensor:
    """``(1, C, h, w)`` -> ``(h*w, C)`` in raster order (the order of the SIREN's coordinates)."""
    return image[0].reshape(image.shape[1], -1).t()


def flatten_terms(terms: list[DataTerm]) -> list[FlatTerm]:
    """Pixel-row views of pointwise data terms (the observation grid must be the canvas)."""
    return [FlatTerm(t.weight, _rows(t.observed), None if t.mask is None else _rows(t.mask)) for t in terms]


def known_support(terms: list[DataTerm], canvas_hw: tuple[int, int]) -> torch.Tensor | None:
    """Canvas pixels that enter some data term, where that saves work.

    Args:
        terms: the fit's data terms.
        canvas_hw: canvas ``(H, W)``.

    Returns:
        Sorted raster indices ``(n,)`` of the pixels some mask keeps (in any channel), or
        None when an operator is not pointwise, a term has no mask, or the pixels kept
        are more than :data:`SUPPORT_MAX_FRACTION` of the canvas.
    """
    if not all(t.operator.pointwise and t.mask is not None and tuple(t.observed.shape[-2:]) == tuple(canvas_hw)
               for t in terms):
        return None
    kept = torch.zeros(canvas_hw[0] * canvas_hw[1], dtype=torch.bool, device=terms[0].observed.device)
    for term in terms:
        kept |= (_rows(term.mask) > 0).any(dim=1)  # type: ignore[arg-type]
    if int(kept.sum()) > SUPPORT_MAX_FRACTION * kept.numel():
        return None
    return kept.nonzero().squeeze(1)


def full_loss(model: SirenFunction, coords: torch.Tensor, canvas_hw: tuple[int, int], terms: list[DataTerm],
              autocast_dtype: torch.dtype | None, chunk: int | None = None) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    """The weighted loss over the whole canvas.

    Args:
        model: the SIREN (or a compiled one).
        coords: ``(H*W, 2)`` canvas coordinates.
        canvas_hw: ``(H, W)``.
        terms: the data terms.
        autocast_dtype: precision of the hidden layers (None: fp32).
        chunk: coordinates per SIREN pass (:func:`srcli.models.siren.evaluate`).

    Returns:
        ``(loss, per-term data MSEs, canvas (1, C, H, W))``.
    """
    canvas = values_to_image(evaluate(model, coords, autocast_dtype, chunk), canvas_hw)
    mses = [data_term(t.operator(canvas, tuple(t.observed.shape[-2:])), t.observed, t.mask) for t in terms]
    return sum(t.weight * m for t, m in zip(terms, mses, strict=True)), mses, canvas


def pixel_loss(model: SirenFunction, coords: torch.Tensor, flat: list[FlatTerm], index: torch.Tensor,
               autocast_dtype: torch.dtype | None, *, pixels: int | None = None,
               chunk: int | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The weighted loss of pointwise terms on the canvas pixels ``index`` only.

    A mask acts as it does on the whole canvas (``A x = m x``, weights ``m``), so on the
    known support this equals :func:`full_loss`.

    Args:
        model: the SIREN (or a compiled one).
        coords: ``(H*W, 2)`` canvas coordinates.
        flat: :func:`flatten_terms` of the data terms.
        index: ``(n,)`` raster indices of the pixels evaluated.
        autocast_dtype: precision of the hidden layers (None: fp32).
        pixels: canvas pixel count ``H*W`` when ``index`` holds every pixel that enters the
            loss (the known support): the means are then taken over all elements, the
            exact loss. None: means over the pixels drawn (a random-batch estimate).
        chunk: coordinates per SIREN pass (:func:`srcli.models.siren.evaluate`).

    Returns:
        ``(loss, per-term data MSEs)``.
    """
    predicted = values_to_unit(evaluate(model, coords[index], autocast_dtype, chunk))
    share = 1.0 if pixels is None else index.numel() / pixels
    mses = [_masked_term(predicted, t.observed[index], None if t.mask is None else t.mask[index]) * share for t in flat]
    return sum(t.weight * m for t, m in zip(flat, mses, strict=True)), mses


def crop_window(canvas_hw: tuple[int, int], side: int, generator: torch.Generator) -> tuple[int, int, int, int]:
    """A random ``side x side`` window ``(top, left, height, width)`` inside the canvas (clipped to it)."""
    h, w = min(side, canvas_hw[0]), min(side, canvas_hw[1])
    top, left = (int(torch.randint(n - d + 1, (1,), generator=generator, device=generator.device))
                 for n, d in zip(canvas_hw, (h, w), strict=True))
    return top, left, h, w


def crop_loss(model: SirenFunction, coords: torch.Tensor, canvas_hw: tuple[int, int], terms: list[DataTerm],
              window: tuple[int, int, int, int], autocast_dtype: torch.dtype | None, chunk: int | None = None) -> torch.Tensor:
    """The weighted loss on one window of the observations (operators with a ``reach``).

    Args:
        model: the SIREN (or a compiled one).
        coords: ``(H*W, 2)`` canvas coordinates.
        canvas_hw: ``(H, W)``; every observation is on this grid.
        terms: the data terms.
        window: ``(top, left, height, width)`` on the canvas grid.
        autocast_dtype: precision of the hidden layers (None: fp32).
        chunk: coordinates per SIREN pass (:func:`srcli.models.siren.evaluate`).

    Returns:
        Scalar loss: each data term's mean over the window's elements, weighted and summed
        (the full loss when the window is the whole canvas).
    """
    top, left, h, w = window
    margin = max(t.operator.reach for t in terms)  # type: ignore[type-var]
    rows = slice(max(top - margin, 0), min(top + h + margin, canvas_hw[0]))
    cols = slice(max(left - margin, 0), min(left + w + margin, canvas_hw[1]))
    grid = coords.view(canvas_hw[0], canvas_hw[1], -1)[rows, cols].reshape(-1, coords.shape[1])
    canvas = values_to_image(evaluate(model, grid, autocast_dtype, chunk), (rows.stop - rows.start, cols.stop - cols.start))
    inner = (..., slice(top - rows.start, top - rows.start + h), slice(left - cols.start, left - cols.start + w))
    outer = (..., slice(top, top + h), slice(left, left + w))
    return sum(t.weight * _masked_term(t.operator.apply_local(canvas)[inner], t.observed[outer],
                                       None if t.mask is None else t.mask[outer]) for t in terms)

