"""What each training item is: per-step seeded patch plans, uniform or PSNR-gain weighted.

A *plan* (:class:`ItemPlan`) names everything random about one training item: the image,
the HR crop (corner and side), the scale, the flips and the seed of the query-pixel draw.
The plans of step ``t`` are a pure function of ``(seed, t)`` and the sampler's state, so

* resuming at step ``t`` replays the same batches (the "sampler position" is ``t``),
* data-loading workers only execute plans, in any order, with the same result,
* ``N`` data-parallel ranks take contiguous slices of the same global batch.

Item ``i`` of step ``t`` draws from ``numpy.random.default_rng([seed, 0, t, i])``.

LIIF's draw (Chen et al. 2021, ``sr-implicit-downsampled``): a scale ``s ~ U(scale_min,
scale_max)``, an HR crop of side ``round(lr_size * s)`` (here ``floor(lr_size * s + 0.5)``)
at a uniform position, flips and a transpose each with probability 1/2. An image (or
region) smaller than that side gets the largest square crop it holds, and ``scale`` is then
the scale actually used (``side / lr_size``).

**Uniform sampler.** Images are visited in epochs: global item ``g = t * batch + i`` takes
image ``perm_e[g mod N]`` of the permutation ``perm_e`` of epoch ``e = g // N`` (drawn from
``default_rng([seed, 1, e])``), so every image is used once per epoch, as LIIF's loader does.

**PSNR-gain sampler** (``psnr-gain``). The rule, exactly:

1. *Candidates.* Each image is covered by square-ish cells of side ``G = round(lr_size *
   scale_max)`` (the largest HR crop): ``n = ceil(H / G)`` rows of cells at offsets
   ``round(k (H - G) / (n - 1))`` (so the last touches the border; cells overlap a little),
   the same across; a side shorter than ``G`` gives one cell of that side.
2. *Measure.* Every ``every`` steps (first at step ``every``) the training model is run on
   every cell: HR = the cell, LR = MATLAB-bicubic downscale by ``scale_max`` (to
   ``round(side / scale_max)``, quantised like training LR), at ``measure_queries``
   pixels of the cell drawn from ``default_rng([seed, 2, cell])``. The cell's gain is
   ``g = 10 log10((mse_bicubic + 1e-10) / (mse_model + 1e-10))`` dB, where the bicubic
   prediction is the LR upscaled back to the cell size (MATLAB bicubic): the PSNR gain of
   the model over bicubic interpolation on those pixels (RGB, [0, 1]).
3. *Histogram.* The gains go into ``bins`` equal-width bins over ``[min g, max g]``. Bin
   ``b`` with ``n_b`` cells has mid-rank ``F_b = (sum_{b' < b} n_b' + n_b / 2) / N``: the
   fraction of cells easier than it. Unmeasured cells get ``F = 1/2``.
4. *Probabilities.* ``p_c = (1 - mix) / N + mix * F_{b(c)} / sum_c' F_{b(c')}``. They sum
   to 1, grow with the gain, are equal inside a bin, and ``mix`` keeps every cell in play.

"Hard" means a *large* gain: detail (edges, texture) that interpolation cannot recover and a
network can. Flat regions (gain near 0) dominate natural images and a uniform sampler spends
most items on them (the SamplingAug observation, BMVC 2021); the mid-rank weighting moves
those draws to the informative cells, with at most ``(1 + mix) : (1 - mix)`` between the
hardest and easiest (3 : 1 at the default ``mix = 0.5``). Using ranks through the histogram
keeps the rule insensitive to the overall dB level, which drifts as the model trains.
An item then picks cell ``c`` with probability ``p_c`` (inverse CDF of one uniform draw) and
a crop inside it as above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from srcli.geometry import scaled_length

SAMPLERS = ("uniform", "psnr-gain")
ITEM_STREAM, EPOCH_STREAM, MEASURE_STREAM = 0, 1, 2
GAIN_EPS = 1e-10


@dataclass(frozen=True)
class ItemPlan:
    """Everything random about one training item (picklable; sent to data workers).

    Attributes:
        image: index into the training image list.
        top, left: HR crop corner in the (EXIF-oriented) image.
        hr_size: side of the square HR crop.
        scale: ``hr_size / lr_size``, the scale actually trained on.
        hflip, vflip, transpose: augmentations (applied to LR and HR alike).
        query_seed: seed of the draw of the query pixels.
    """

    image: int
    top: int
    left: int
    hr_size: int
    scale: float
    hflip: bool
    vflip: bool
    transpose: bool
    query_seed: int


@dataclass(frozen=True)
class PatchGeometry:
    """The LIIF patch protocol: LR side, scale range and augmentation."""

    lr_size: int = 48
    scale_min: float = 1.0
    scale_max: float = 4.0
    augment: bool = True


def item_rng(seed: int, step: int, item: int) -> np.random.Generator:
    """The generator of item ``item`` of step ``step``."""
    return np.random.default_rng([seed, ITEM_STREAM, step, item])


def draw_item(rng: np.random.Generator, image: int, region: tuple[int, int, int, int], geometry: PatchGeometry) -> ItemPlan:
    """Draw scale, crop, augmentation and query seed inside ``region`` = (top, left, h, w)."""
    top0, left0, height, width = region
    scale = float(rng.uniform(geometry.scale_min, geometry.scale_max))
    side = min(scaled_length(geometry.lr_size, scale), height, width)
    top = top0 + int(rng.integers(0, height - side + 1))
    left = left0 + int(rng.integers(0, width - side + 1))
    flips = rng.random(3) < 0.5 if geometry.augment else np.zeros(3, dtype=bool)
    return ItemPlan(image, top, left, side, side / geometry.lr_size, bool(flips[0]), bool(flips[1]), bool(flips[2]),
                    int(rng.integers(0, 2**62)))


class UniformSampler:
    """Images in seeded epochs, LIIF crops (see the module docstring).

    Args:
        image_sizes: ``(H, W)`` of each training image.
        geometry: the patch protocol.
        seed: the run's seed.
    """

    name = "uniform"

    def __init__(self, image_sizes: Sequence[tuple[int, int]], geometry: PatchGeometry, seed: int) -> None:
        if not image_sizes:
            raise ValueError("no training images")
        self.image_sizes = [(int(h), int(w)) for h, w in image_sizes]
        self.geometry = geometry
        self.seed = int(seed)
        self._perm: tuple[int, np.ndarray] | None = None

    def image_at(self, global_item: int) -> int:
        """The image of global item ``global_item`` (epoch permutations)."""
        n = len(self.image_sizes)
        epoch = global_item // n
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng([self.seed, EPOCH_STREAM, epoch]).permutation(n))
        return int(self._perm[1][global_item % n])

    def plan_batch(self, step: int, batch_size: int) -> list[ItemPlan]:
        """The ``batch_size`` plans of step ``step`` (the global batch)."""
        plans = []
        for i in range(batch_size):
            image = self.image_at(step * batch_size + i)
            h, w = self.image_sizes[image]
            plans.append(draw_item(item_rng(self.seed, step, i), image, (0, 0, h, w), self.geometry))
        return plans

    def measurement_due(self, step: int) -> bool:
        """Whether the model must be measured before step ``step`` (never for this sampler)."""
        return False

    def next_change(self, step: int) -> int | None:
        """First step after ``step`` whose plans may depend on new state (None: never)."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """Sampler state for a training checkpoint (plans depend on the step only)."""
        return {"name": self.name}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        if state.get("name") != self.name:
            raise ValueError(f"checkpoint sampler is {state.get('name')!r}, not {self.name!r}")


def axis_offsets(length: int, cell: int) -> list[tuple[int, int]]:
    """``(offset, size)`` of the cells covering an axis of ``length`` pixels (rule 1)."""
    if length <= cell:
        return [(0, length)]
    n = math.ceil(length / cell)
    return [(int(round(k * (length - cell) / (n - 1))), cell) for k in range(n)]


def candidate_cells(image_sizes: Sequence[tuple[int, int]], cell: int) -> np.ndarray:
    """All candidate cells: an int64 array (N, 5) of ``(image, top, left, height, width)``."""
    rows = []
    for index, (h, w) in enumerate(image_sizes):
        for top, ch in axis_offsets(h, cell):
            for left, cw in axis_offsets(w, cell):
                rows.append((index, top, left, ch, cw))
    return np.asarray(rows, dtype=np.int64).reshape(-1, 5)


def gain_probabilities(gains: np.ndarray, bins: int = 16, mix: float = 0.5) -> np.ndarray:
    """Cell probabilities from PSNR gains by the histogram mid-rank rule (rules 3-4).

    Args:
        gains: (N,) gains in dB; NaN for unmeasured cells.
        bins: histogram bins (>= 1).
        mix: weight of the gain-driven part, in [0, 1].

    Returns:
        (N,) float64 probabilities summing to 1.
    """
    gains = np.asarray(gains, dtype=np.float64)
    n = gains.size
    if n == 0 or bins < 1 or not 0.0 <= mix <= 1.0:
        raise ValueError(f"need cells, bins >= 1 and mix in [0, 1]; got {n} cells, bins={bins}, mix={mix}")
    weights = np.full(n, 0.5)
    measured = np.isfinite(gains)
    values = gains[measured]
    if values.size and values.max() > values.min():
        edges = np.linspace(values.min(), values.max(), bins + 1)
        which = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
        counts = np.bincount(which, minlength=bins).astype(np.float64)
        mid_rank = (np.cumsum(counts) - counts / 2) / values.size
        weights[measured] = mid_rank[which]
    probabilities = (1.0 - mix) / n + mix * weights / weights.sum()
    return probabilities / probabilities.sum()


class PsnrGainSampler(UniformSampler):
    """Cells drawn by the PSNR-gain rule of the module docstring.

    Args:
        image_sizes: ``(H, W)`` of each training image.
        geometry: the patch protocol.
        seed: the run's seed.
        every: steps between measurements (>= 1).
        bins: histogram bins.
        mix: weight of the gain-driven part of the probabilities.
        measure_queries: pixels per cell used to measure the gain.
    """

    name = "psnr-gain"

    def __init__(self, image_sizes: Sequence[tuple[int, int]], geometry: PatchGeometry, seed: int, *,
                 every: int = 5000, bins: int = 16, mix: float = 0.5, measure_queries: int = 2304) -> None:
        super().__init__(image_sizes, geometry, seed)
        if every < 1 or bins < 1 or not 0.0 <= mix <= 1.0 or measure_queries < 1:
            raise ValueError(f"bad psnr-gain settings: every={every}, bins={bins}, mix={mix}, queries={measure_queries}")
        self.every, self.bins, self.mix, self.measure_queries = int(every), int(bins), float(mix), int(measure_queries)
        self.cell_side = scaled_length(geometry.lr_size, geometry.scale_max)
        self.cells = candidate_cells(self.image_sizes, self.cell_side)
        self.gains = np.full(len(self.cells), np.nan)
        self.probabilities = gain_probabilities(self.gains, self.bins, self.mix)
        self._cdf = np.cumsum(self.probabilities)
        self.measured_at = 0

    def plan_batch(self, step: int, batch_size: int) -> list[ItemPlan]:
        """The plans of step ``step``: a cell by probability, then a crop inside it."""
        plans = []
        for i in range(batch_size):
            rng = item_rng(self.seed, step, i)
            cell = min(int(np.searchsorted(self._cdf, rng.random() * self._cdf[-1], side="right")), len(self.cells) - 1)
            image, top, left, h, w = (int(v) for v in self.cells[cell])
            plans.append(draw_item(rng, image, (top, left, h, w), self.geometry))
        return plans

    def measurement_due(self, step: int) -> bool:
        """True at positive multiples of ``every`` not yet measured."""
        return step > 0 and step % self.every == 0 and self.measured_at != step

    def next_change(self, step: int) -> int | None:
        """The next multiple of ``every`` after ``step``."""
        return (step // self.every + 1) * self.every

    def measure_pixels(self, cell: int, pixels: int) -> np.ndarray:
        """Which of a cell's ``pixels`` pixels measure its gain (sorted flat indices)."""
        rng = np.random.default_rng([self.seed, MEASURE_STREAM, cell])
        return np.sort(rng.choice(pixels, size=min(pixels, self.measure_queries), replace=False))

    def set_gains(self, gains: np.ndarray, step: int) -> None:
        """Store measured gains (N,) and recompute the probabilities."""
        gains = np.asarray(gains, dtype=np.float64)
        if gains.shape != self.gains.shape:
            raise ValueError(f"expected {self.gains.shape[0]} gains, got shape {gains.shape}")
        self.gains = gains.copy()
        self.probabilities = gain_probabilities(self.gains, self.bins, self.mix)
        self._cdf = np.cumsum(self.probabilities)
        self.measured_at = int(step)

    def state_dict(self) -> dict[str, Any]:
        """Gains, the step they were measured at, and the settings they depend on."""
        import torch

        return {"name": self.name, "gains": torch.from_numpy(self.gains.copy()), "measured_at": self.measured_at,
                "cells": len(self.cells)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (the training images must be the same)."""
        super().load_state_dict(state)
        if int(state["cells"]) != len(self.cells):
            raise ValueError(f"checkpoint has {state['cells']} candidate cells, these images give {len(self.cells)}")
        gains = state["gains"]
        self.set_gains(gains.numpy() if hasattr(gains, "numpy") else np.asarray(gains), int(state["measured_at"]))


def make_sampler(name: str, image_sizes: Sequence[tuple[int, int]], geometry: PatchGeometry, seed: int,
                 **psnr_gain_args: Any) -> UniformSampler:
    """Build the sampler called ``name`` (``uniform`` or ``psnr-gain``)."""
    if name == "uniform":
        return UniformSampler(image_sizes, geometry, seed)
    if name == "psnr-gain":
        return PsnrGainSampler(image_sizes, geometry, seed, **psnr_gain_args)
    raise ValueError(f"unknown sampler {name!r}; use one of {', '.join(SAMPLERS)}")
