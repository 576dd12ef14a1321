"""Exact tiled inference and chunked queries for encoder + implicit-decoder models.

The *output* is cut into tiles that correspond to LR tiles of side ``tile``: output pixel
``i`` (of ``H``) belongs to the LR row containing its centre, ``((2 i + 1) h) // (2 H)``,
computed with integers so the partition is exact. For each LR tile, the LR image is
cropped with a halo of ``model.receptive_radius + 1`` pixels (clamped at the image
borders, so real borders see the same zero padding as the whole image), the crop is
encoded, and the tile's output pixels are queried in chunks of ``chunk``. An output pixel
depends only on LR pixels within ``receptive_radius`` of the pixel containing its centre
(the extra pixel absorbs float rounding of that lookup), so every tile sees exactly the
features the whole image would give it, and memory is bounded by the tile, not the image.

Two ways to give the decoder the tile's geometry:

* *frame* (exact to the last bit of the lookups; srcli's LIIF, A-LIIF and DIINN): when
  ``model.prepare`` accepts ``frame=(top, left, full_h, full_w)``, queries keep the whole
  image's coordinates and the model does its nearest-pixel arithmetic in the whole image's
  frame, translating the looked-up indices into the crop.
* *crop frame* (any model with ``encode``/``query``): coordinates and cells are mapped into
  the crop's own model space with exact rational arithmetic (:func:`crop_centres`; a
  query on an LR pixel centre lands exactly on it, as in the whole image, which LIIF's
  ensemble weights at the image borders need). It selects the same LR pixels as the
  whole image except for queries lying within the models' tie-breaking shift (1e-6 in
  model space, ``5e-7 h`` LR pixels) below a pixel edge without being on it, which exist
  only when ``h * H > 1e6`` at ratios ``h / H`` with a large denominator. LIIF and A-LIIF
  are continuous across such a switch (the switching branches have vanishing weight:
  measured differences 5e-6); DIINN's single lookup is not (measured 0.01 at 2 of 2999
  rows for 1201 -> 2999 rows), hence the frame API.

Defaults (:func:`default_tile_and_chunk`): a memory budget of a quarter of the free RAM
capped at 1 GiB on the CPU, half of the free memory on CUDA; half of it goes to the
encoded crop, half to one chunk of queries, with per-pixel costs estimated from the model
(see :func:`memory_per_lr_pixel`, :func:`memory_per_query`); on the CPU a chunk is at most
:data:`CPU_MAX_CHUNK` queries, which keeps the decoder's activations in cache. An out-of-memory error
halves the tile and the chunk and retries the unfinished tiles.
"""

from __future__ import annotations

import inspect
import math
from collections import deque
from typing import Any

import torch
from torch import nn

from srcli.device import free_memory_bytes, is_out_of_memory

#: extra LR pixels of halo beyond the model's receptive radius (float rounding of lookups)
HALO_MARGIN = 1
#: fraction of the free memory a tile may use, and the CPU cap in bytes
BUDGET_FRACTION = {"cpu": 0.25, "cuda": 0.5}
CPU_BUDGET_CAP = 1 << 30
#: bounds of the default tile side (LR pixels) and chunk (queries)
MIN_TILE, MAX_TILE = 32, 1024
MIN_CHUNK, MAX_CHUNK = 1024, 1 << 18
#: largest default chunk on the CPU: a decoder layer's activations for 2048 queries (x4
#: ensemble branches x 256 features) stay in the L2 cache, so the bias, ReLU and gather
#: passes between the matrix products do not go to main memory. Measured with
#: ``upscale_tiled`` (96^2 -> 384^2, random weights, 1 and 2 threads): 1.1-2.6x faster
#: than 65536-query chunks for LIIF, A-LIIF and DIINN in fp32 and bf16.
CPU_MAX_CHUNK = 2048
#: bytes per float assumed by the estimates (fp32; lower precisions only use less)
FLOAT_BYTES = 4
#: local-ensemble branches a query may evaluate (LIIF, A-LIIF: 4)
ENSEMBLE_BRANCHES = 4

Box = tuple[int, int, int, int]  # LR rows [y0, y1) and columns [x0, x1)


def output_start(lr_index: int, lr_len: int, out_len: int) -> int:
    """First output pixel whose centre lies in LR pixel ``lr_index`` or later.

    Output pixel ``i`` has its centre in LR pixel ``((2 i + 1) lr_len) // (2 out_len)``;
    this returns the smallest ``i`` with that index ``>= lr_index`` (integer arithmetic).
    """
    numerator = 2 * lr_index * out_len - lr_len
    return min(out_len, max(0, -(-numerator // (2 * lr_len))))


def split_box(box: Box, tile: int) -> list[Box]:
    """Cut an LR box into boxes of side at most ``tile``, row-major."""
    y0, y1, x0, x1 = box
    return [(ya, min(ya + tile, y1), xa, min(xa + tile, x1))
            for ya in range(y0, y1, tile) for xa in range(x0, x1, tile)]


def memory_per_lr_pixel(model: nn.Module) -> int:
    """Estimated bytes per LR pixel of an encoded crop (activations plus prepared rows).

    ``FLOAT_BYTES * (4 C + widest conv input + prepared row width)``: four live feature
    maps, the widest concatenation the encoder builds (RDN's dense and global fusion
    inputs), and the per-pixel rows the decoder gathers from.
    """
    channels = int(getattr(model, "feat_channels", 64))
    conv_inputs = [m.in_channels for m in model.modules() if isinstance(m, nn.Conv2d)]
    return FLOAT_BYTES * (4 * channels + max(conv_inputs, default=channels) + prepared_row_width(model))


def memory_per_query(model: nn.Module) -> int:
    """Estimated bytes per query: ``FLOAT_BYTES * 4 branches * (row width + 4 x widest layer)``."""
    widths = [m.out_features for m in model.modules() if isinstance(m, nn.Linear)]
    return FLOAT_BYTES * ENSEMBLE_BRANCHES * (prepared_row_width(model) + 4 * max(widths, default=256))


def prepared_row_width(model: nn.Module) -> int:
    """Channels per LR pixel the decoder gathers from (probed with a 1x1 feature map)."""
    channels = int(getattr(model, "feat_channels", 64))
    prepare = getattr(model, "prepare", None)
    if prepare is None:
        return 9 * channels
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    with torch.inference_mode():
        return int(prepare(torch.zeros(1, channels, 1, 1, device=device)).rows.shape[1])


def default_tile_and_chunk(model: nn.Module, device: torch.device | str, *, batch: int = 1) -> tuple[int, int]:
    """Tile side (LR pixels) and chunk (queries) that fit the free memory of ``device``.

    Rules: ``budget = free * fraction`` (CPU: a quarter, at most 1 GiB; CUDA: half), divided
    by ``batch``. The crop ``(tile + 2 halo)^2`` pixels may use half the budget at
    :func:`memory_per_lr_pixel`; a chunk may use the other half at :func:`memory_per_query`.
    The tile is clamped to [32, 1024] and the chunk to [1024, 262144] (a multiple of 1024);
    on the CPU the chunk is at most :data:`CPU_MAX_CHUNK`, a cache-sized batch of queries.

    Returns:
        ``(tile, chunk)``.
    """
    device = torch.device(device)
    fraction = BUDGET_FRACTION.get(device.type, BUDGET_FRACTION["cpu"])
    budget = free_memory_bytes(device) * fraction
    if device.type != "cuda":
        budget = min(budget, CPU_BUDGET_CAP)
    half = budget / (2 * max(1, batch))
    halo = int(model.receptive_radius) + HALO_MARGIN
    crop_side = math.isqrt(int(half // memory_per_lr_pixel(model)))
    tile = min(MAX_TILE, max(MIN_TILE, crop_side - 2 * halo))
    chunk = int(half // memory_per_query(model)) // 1024 * 1024
    chunk = min(MAX_CHUNK, max(MIN_CHUNK, chunk))
    return tile, chunk if device.type == "cuda" else min(chunk, CPU_MAX_CHUNK)


def accepts_frame(model: nn.Module) -> bool:
    """True when ``model.prepare`` takes ``frame=(top, left, full_h, full_w)`` (exact lookups)."""
    prepare = getattr(model, "prepare", None)
    if prepare is None:
        return False
    try:
        return "frame" in inspect.signature(prepare).parameters
    except (TypeError, ValueError):
        return False


def frame_centres(start: int, stop: int, out_len: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Whole-image centres ``-1 + (2 i + 1) / out_len`` of outputs ``start..stop-1``.

    Same operations as :func:`srcli.geometry.pixel_centres`, so the values are identical.
    """
    index = torch.arange(start, stop, device=device, dtype=torch.float64)
    return -1.0 + (2.0 * index + 1.0).to(dtype) / out_len


def crop_centres(start: int, stop: int, out_len: int, lr_len: int, crop_start: int, crop_len: int,
                 dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Centres of outputs ``start..stop-1`` in the model space of an LR crop.

    Output ``i`` sits at ``(2 i + 1) lr_len / (2 out_len)`` LR pixels; in a crop starting
    at ``crop_start`` of ``crop_len`` pixels its model coordinate is ``n / d - 1`` with the
    integers ``n = (2 i + 1) lr_len - 2 crop_start out_len`` and ``d = out_len crop_len``.
    The fraction is reduced, and where ``n`` and ``d`` are exact in ``dtype`` the value is
    ``dtype(n) / dtype(d) - 1``: the operations :func:`srcli.geometry.pixel_centres` and
    the models use for pixel centres, so a query at an LR pixel centre sits *exactly* on
    it in the crop as in the whole image (LIIF's ensemble weights at the image borders
    hinge on that exact zero). Elsewhere: float64, rounded once to ``dtype``.
    """
    index = torch.arange(start, stop, device=device, dtype=torch.int64)
    numerator = (2 * index + 1) * lr_len - 2 * crop_start * out_len
    denominator = torch.full_like(numerator, out_len * crop_len)
    common = torch.gcd(numerator, denominator)
    numerator, denominator = numerator // common, denominator // common
    exact_limit = int(2 / torch.finfo(dtype).eps)  # integers up to this are exact
    exact = (numerator.abs() <= exact_limit) & (denominator <= exact_limit)
    same_ops = numerator.to(dtype) / denominator.to(dtype) - 1.0
    rounded_once = (numerator.to(torch.float64) / denominator.to(torch.float64) - 1.0).to(dtype)
    return torch.where(exact, same_ops, rounded_once)


def _tile_queries(box: Box, crop: Box, in_hw: tuple[int, int], out_hw: tuple[int, int], framed: bool,
                  dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, Box]:
    """Coordinates and cells ``(Q, 2)`` of the outputs of an LR box, and their output box."""
    (h, w), (out_h, out_w) = in_hw, out_hw
    oy0, oy1 = output_start(box[0], h, out_h), output_start(box[1], h, out_h)
    ox0, ox1 = output_start(box[2], w, out_w), output_start(box[3], w, out_w)
    if framed:
        ys, xs = frame_centres(oy0, oy1, out_h, dtype, device), frame_centres(ox0, ox1, out_w, dtype, device)
        cell = (2.0 / out_h, 2.0 / out_w)
    else:
        crop_h, crop_w = crop[1] - crop[0], crop[3] - crop[2]
        ys = crop_centres(oy0, oy1, out_h, h, crop[0], crop_h, dtype, device)
        xs = crop_centres(ox0, ox1, out_w, w, crop[2], crop_w, dtype, device)
        cell = (2.0 * h / (out_h * crop_h), 2.0 * w / (out_w * crop_w))
    coord = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1).reshape(-1, 2)
    cells = torch.empty_like(coord)
    cells[:, 0], cells[:, 1] = cell
    return coord, cells, (oy0, oy1, ox0, ox1)


def _render_box(model: nn.Module, image: torch.Tensor, out: torch.Tensor, box: Box, halo: int, chunk: int,
                framed: bool) -> None:
    """Encode the crop around ``box`` and write its output pixels into ``out`` (clamped)."""
    batch, _, h, w = image.shape
    crop = (max(0, box[0] - halo), min(h, box[1] + halo), max(0, box[2] - halo), min(w, box[3] + halo))
    dtype = torch.promote_types(image.dtype, torch.float32)
    coord, cell, (oy0, oy1, ox0, ox1) = _tile_queries(box, crop, (h, w), tuple(out.shape[-2:]), framed,
                                                      dtype, image.device)
    if coord.shape[0] == 0:
        return
    pixels = image[:, :, crop[0]:crop[1], crop[2]:crop[3]].contiguous(memory_format=torch.channels_last)
    feat = model.encode(pixels)  # channels-last convolutions: 1.2-4x faster on CPU, same values
    prepared: Any = feat
    if hasattr(model, "prepare"):
        prepared = model.prepare(feat, frame=(crop[0], crop[2], h, w)) if framed else model.prepare(feat)
    del feat
    rgb = torch.empty(batch, coord.shape[0], 3, device=image.device, dtype=out.dtype)
    for start in range(0, coord.shape[0], chunk):
        stop = start + chunk
        rgb[:, start:stop] = model.query(prepared, coord[None, start:stop].expand(batch, -1, -1),
                                         cell[None, start:stop].expand(batch, -1, -1)).to(out.dtype)
    out[:, :, oy0:oy1, ox0:ox1] = rgb.view(batch, oy1 - oy0, ox1 - ox0, 3).permute(0, 3, 1, 2).clamp(0.0, 1.0)


def _check_arguments(model: nn.Module, image: torch.Tensor, out_hw: tuple[int, int],
                     tile: int | None, chunk: int | None) -> None:
    if not (hasattr(model, "encode") and hasattr(model, "query")):
        raise TypeError(f"{type(model).__name__} is not an encoder + implicit decoder model (no encode/query)")
    if not isinstance(getattr(model, "receptive_radius", None), int):
        raise TypeError(f"{type(model).__name__} has no integer receptive_radius; it cannot be tiled exactly")
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or not image.is_floating_point():
        raise ValueError(f"image must be a floating tensor (B, 3, h, w), got {getattr(image, 'shape', type(image))}")
    if len(out_hw) != 2 or min(int(v) for v in out_hw) < 1:
        raise ValueError(f"out_hw must be two positive sizes (H, W), got {out_hw}")
    for name, value in (("tile", tile), ("chunk", chunk)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def upscale_tiled(model: nn.Module, image: torch.Tensor, out_hw: tuple[int, int], *,
                  tile: int | None = None, chunk: int | None = None) -> torch.Tensor:
    """Resample ``image`` to ``out_hw`` tile by tile; equal to whole-image inference.

    Args:
        model: a model with ``encode``, ``query`` and ``receptive_radius`` (LIIF, A-LIIF, DIINN).
        image: (B, 3, h, w) in [0, 1]; its device is where everything runs.
        out_hw: output ``(H, W)``.
        tile: LR tile side in pixels (None: :func:`default_tile_and_chunk`).
        chunk: queries per decoder call (None: the default).

    Returns:
        (B, 3, H, W) clamped to [0, 1], in ``image.dtype``, on ``image.device``.

    Raises:
        TypeError: the model cannot be tiled. ValueError: bad image, size, tile or chunk.
        torch.OutOfMemoryError: when even a tile of one LR pixel does not fit.
    """
    _check_arguments(model, image, out_hw, tile, chunk)
    out_hw = (int(out_hw[0]), int(out_hw[1]))
    if tile is None or chunk is None:
        default_tile, default_chunk = default_tile_and_chunk(model, image.device, batch=image.shape[0])
        tile, chunk = tile or default_tile, chunk or default_chunk
    halo, framed = model.receptive_radius + HALO_MARGIN, accepts_frame(model)
    out = torch.empty(image.shape[0], 3, *out_hw, device=image.device, dtype=image.dtype)
    pending = deque(split_box((0, image.shape[2], 0, image.shape[3]), tile))
    with torch.no_grad():
        while pending:
            if _render_unless_out_of_memory(model, image, out, pending[0], halo, chunk, framed):
                pending.popleft()
                continue
            if tile == 1:
                raise torch.OutOfMemoryError(f"out of memory even with a tile of 1 LR pixel (halo {halo}) "
                                             f"and chunks of {chunk} queries")
            tile, chunk = max(1, tile // 2), max(1, chunk // 2)
            pending = deque(part for box in pending for part in split_box(box, tile))
            if image.device.type == "cuda":
                torch.cuda.empty_cache()
    return out


def _render_unless_out_of_memory(model: nn.Module, image: torch.Tensor, out: torch.Tensor, box: Box, halo: int,
                                 chunk: int, framed: bool) -> bool:
    """:func:`_render_box`, returning False (tensors freed) instead of raising an out-of-memory error."""
    try:
        _render_box(model, image, out, box, halo, chunk, framed)
    except RuntimeError as exc:  # torch.OutOfMemoryError is a RuntimeError
        if not is_out_of_memory(exc):
            raise
        return False
    return True
