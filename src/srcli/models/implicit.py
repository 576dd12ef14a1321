"""Shared math and base class of the local implicit SR models (LIIF, A-LIIF, DIINN).

Coordinates are model space, ``(y, x)`` order: pixel ``i`` of ``n`` has its centre at
``-1 + (2 i + 1) / n``. A lookup reads the LR pixel *containing* a point
(``floor((c + 1) n / 2)`` after clamping ``c`` into ``(-1 + 1e-6, 1 - 1e-6)``); ``cell``
is the output pixel size ``(2 / H, 2 / W)``. As in the official LIIF, queries at the
centres of border pixels mix in a neighbour (all four ensemble areas are ~0 there).

Two decoder paths give the same outputs:

* reference: unfold the features 3x3 (``9 C`` channels in ``F.unfold`` order), gather per
  query, concatenate ``[feature, rel_coord, cell]``, run the MLP, as in the papers;
* fast: the first layer is linear in ``[feature, coordinates]``; its feature part is
  applied once per LR pixel as a 3x3 convolution (:func:`project_unfolded`, no 9 C
  tensor), each query gathers that vector and adds the coordinate part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srcli.geometry import query_coords_and_cells
from srcli.models.encoders import make_encoder

#: coordinates are clamped into (-1 + COORD_CLAMP, 1 - COORD_CLAMP) before a lookup
COORD_CLAMP = 1e-6
#: LIIF's shift that breaks ties when a shifted query lands exactly on a pixel edge
ENSEMBLE_EPS = 1e-6
#: added to every ensemble area before normalising (as LIIF does)
AREA_EPS = 1e-9
#: image normalisation inside the models: ``(x - NORM_SUB) / NORM_DIV``
NORM_SUB, NORM_DIV = 0.5, 0.5
#: queries per decoder call in ``forward``; fast-path peak memory is about
#: ``chunk * 4 * (gathered width + 2 * 256) * 4`` bytes (~0.8 GB for LIIF at 65536)
DEFAULT_CHUNK = 65536


def unfold3x3(feat: torch.Tensor) -> torch.Tensor:
    """3x3 neighbourhood of every pixel, zero padded.

    Args:
        feat: (B, C, h, w).

    Returns:
        (B, 9 C, h, w); channel ``c * 9 + ky * 3 + kx`` is ``feat[c]`` at offset
        ``(ky - 1, kx - 1)``.
    """
    b, c, h, w = feat.shape
    return F.unfold(feat, 3, padding=1).view(b, c * 9, h, w)


def project_unfolded(feat: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``weight @ unfold3x3(feat) + bias`` per pixel, computed as one 3x3 convolution.

    Args:
        feat: (B, C, h, w).
        weight: (out, 9 C), columns in :func:`unfold3x3` order.
        bias: (out,) or None.

    Returns:
        (B, out, h, w).
    """
    out_channels = weight.shape[0]
    kernel = weight.reshape(out_channels, feat.shape[1], 3, 3)
    return F.conv2d(feat, kernel, bias, padding=1)


def pixel_rows(maps: torch.Tensor) -> torch.Tensor:
    """Channel-last rows of per-pixel vectors: (B, C, h, w) -> (B * h * w, C)."""
    return maps.permute(0, 2, 3, 1).reshape(-1, maps.shape[1])


def pixel_centres_of(index: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    """Model-space centres ``-1 + (2 i + 1) / n`` of integer pixel indices (any shape)."""
    return (2 * index + 1).to(dtype) / n - 1.0


def nearest_pixel(coord: torch.Tensor, h: int, w: int, shift: tuple[float, float] = (0.0, 0.0)) -> tuple[torch.Tensor, torch.Tensor]:
    """The LR pixel containing ``coord + shift`` (clamped into the image).

    Args:
        coord: (..., 2) model-space ``(y, x)``.
        h, w: LR size.
        shift: added to ``(y, x)`` before the lookup.

    Returns:
        ``(flat_index, centre)``: (...) long ``iy * w + ix`` and (..., 2) pixel centres.
    """
    lo, hi = -1.0 + COORD_CLAMP, 1.0 - COORD_CLAMP
    ys = (coord[..., 0] + shift[0]).clamp(lo, hi)
    xs = (coord[..., 1] + shift[1]).clamp(lo, hi)
    iy = ((ys + 1) * (h / 2)).floor().long().clamp_(0, h - 1)
    ix = ((xs + 1) * (w / 2)).floor().long().clamp_(0, w - 1)
    centre = torch.stack([pixel_centres_of(iy, h, coord.dtype), pixel_centres_of(ix, w, coord.dtype)], dim=-1)
    return iy * w + ix, centre


def relative_coord(coord: torch.Tensor, centre: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``(coord - centre) * [h, w]``: offset to a pixel centre in half LR pixels (LIIF's unit).

    Args:
        coord, centre: (..., 2).

    Returns:
        (..., 2); in ``[-1, 1]`` inside the pixel, ``[-3, 3]`` for a neighbour.
    """
    return (coord - centre) * coord.new_tensor([h, w])


def scaled_cell(cell: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``cell * [h, w]``: the output pixel size relative to the LR grid (LIIF's cell decoding)."""
    return cell * cell.new_tensor([h, w])


def ensemble_lookups(coord: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The four shifted nearest lookups of LIIF's local ensemble.

    Branch ``k`` for ``(vy, vx)`` in ``(-1,-1), (-1,1), (1,-1), (1,1)`` looks up the pixel
    containing ``coord + (vy / h + eps, vx / w + eps)`` (half an LR pixel each way).

    Args:
        coord: (B, Q, 2).

    Returns:
        ``(flat_index, rel_coord)``: (4, B, Q) long and (4, B, Q, 2) relative coordinates
        of ``coord`` to each looked-up centre (:func:`relative_coord`).
    """
    indices, rels = [], []
    for vy in (-1, 1):
        for vx in (-1, 1):
            index, centre = nearest_pixel(coord, h, w, (vy / h + ENSEMBLE_EPS, vx / w + ENSEMBLE_EPS))
            indices.append(index)
            rels.append(relative_coord(coord, centre, h, w))
    return torch.stack(indices), torch.stack(rels)


def ensemble_weights(rel_coord: torch.Tensor) -> torch.Tensor:
    """Area weights of the local ensemble: each branch gets the area of the opposite one.

    Args:
        rel_coord: (4, ...) x 2, branches ordered as in :func:`ensemble_lookups`.

    Returns:
        (4, ...) weights ``(|ry_{3-k} rx_{3-k}| + 1e-9) / sum_j (|ry_j rx_j| + 1e-9)``; they
        sum to 1 over the first axis.
    """
    area = (rel_coord[..., 0] * rel_coord[..., 1]).abs() + AREA_EPS
    return area.flip(0) / area.sum(dim=0, keepdim=True)


def gather_rows(rows: torch.Tensor, flat_index: torch.Tensor, pixels_per_image: int) -> torch.Tensor:
    """Per-query vectors from per-pixel rows.

    Args:
        rows: (B * h * w, C) from :func:`pixel_rows`.
        flat_index: (..., B, Q) long pixel indices within each image.
        pixels_per_image: ``h * w``.

    Returns:
        (..., B, Q, C).
    """
    batch = flat_index.shape[-2]
    offset = torch.arange(batch, device=flat_index.device).view(batch, 1) * pixels_per_image
    index = flat_index + offset
    return rows.index_select(0, index.reshape(-1)).view(*index.shape, rows.shape[1])


def relu_(x: torch.Tensor) -> torch.Tensor:
    """ReLU of a fresh activation: in place without autograd (saves a buffer at inference).

    With autograd it is out of place: the activations here are often views (a Linear on
    a (4, B, Q, D) input returns one), and an in-place update of a view makes the backward
    pass copy the whole base tensor (CopySlices), which costs more than the buffer.
    """
    if torch.is_grad_enabled() and x.requires_grad:
        return torch.relu(x)
    return torch.relu_(x)


def add_coordinate_terms(projected: torch.Tensor, geometry: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``projected + geometry @ weight.T``, the first layers' pre-activations.

    Without autograd the sum is written into ``projected`` (a fresh gather), saving one
    (..., D) buffer at inference; with autograd it is a new tensor, since an in-place
    update of a view makes the backward pass copy the whole buffer (CopySlices).

    Args:
        projected: (..., D) gathered first-layer feature terms.
        geometry: (..., g) per-query coordinate inputs.
        weight: (D, g) coordinate columns of the first layer(s).

    Returns:
        (..., D) pre-activations (``projected`` itself when no gradient is recorded).
    """
    flat = projected.view(-1, projected.shape[-1])
    coords = geometry.reshape(-1, geometry.shape[-1]).to(flat.dtype)
    if torch.is_grad_enabled() and (flat.requires_grad or weight.requires_grad):
        return torch.addmm(flat, coords, weight.t().to(flat.dtype)).view(projected.shape)
    flat.addmm_(coords, weight.t().to(flat.dtype))
    return projected


@dataclass
class PreparedFeatures:
    """Per-LR-pixel data a decoder gathers from, built once per feature map.

    Attributes:
        rows: (B * h * w, D): projected first layers (fast path) or unfolded features
            (reference path), channel-last.
        batch, height, width: the feature map's shape.
        fast: which decoder path the rows are for.
        frame: ``(top, left, full_h, full_w)`` when the features cover a crop of a larger
            image whose model space the queries use; None when they cover the whole image.
    """

    rows: torch.Tensor
    batch: int
    height: int
    width: int
    fast: bool
    frame: tuple[int, int, int, int] | None = None

    @property
    def frame_size(self) -> tuple[int, int]:
        """``(h, w)`` of the image whose model space the queries use (lookups happen there)."""
        return (self.frame[2], self.frame[3]) if self.frame else (self.height, self.width)

    def gather(self, frame_index: torch.Tensor, columns: slice = slice(None)) -> torch.Tensor:
        """Rows of the pixels ``frame_index`` (flat indices in the frame), translated into the crop.

        Args:
            frame_index: (..., B, Q) long ``iy * full_w + ix``.
            columns: which columns of ``rows`` to gather.

        Returns:
            (..., B, Q, D').

        Raises:
            ValueError: a looked-up pixel lies outside the crop (the halo was too small).
        """
        rows = self.rows[:, columns]
        if self.frame is None:
            return gather_rows(rows, frame_index, self.height * self.width)
        top, left, _, full_w = self.frame
        iy = torch.div(frame_index, full_w, rounding_mode="floor") - top
        ix = frame_index % full_w - left
        if bool(((iy < 0) | (iy >= self.height) | (ix < 0) | (ix >= self.width)).any()):
            raise ValueError(f"a query reads LR pixels outside the prepared crop {self.frame}; widen the halo")
        return gather_rows(rows, iy * self.width + ix, self.height * self.width)


def check_frame(frame: Any, height: int, width: int) -> tuple[int, int, int, int]:
    """Validate ``(top, left, full_h, full_w)`` for a crop of ``height x width`` features."""
    if not (isinstance(frame, (tuple, list)) and len(frame) == 4 and all(isinstance(v, int) for v in frame)):
        raise ValueError(f"frame must be four integers (top, left, full_h, full_w), got {frame!r}")
    top, left, full_h, full_w = frame
    if top < 0 or left < 0 or top + height > full_h or left + width > full_w:
        raise ValueError(f"a {height}x{width} crop at ({top}, {left}) does not fit a {full_h}x{full_w} frame")
    return top, left, full_h, full_w


def check_image(image: Any) -> None:
    """Raise ``ValueError``/``TypeError`` unless ``image`` is a (B, 3, h, w) floating tensor."""
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"image must be a torch.Tensor, got {type(image).__name__}")
    if image.dim() != 4 or image.shape[1] != 3 or image.shape[2] < 1 or image.shape[3] < 1:
        raise ValueError(f"image must have shape (B, 3, h, w), got {tuple(image.shape)}")
    if not image.is_floating_point():
        raise TypeError(f"image must be a floating tensor in [0, 1], got {image.dtype}")


def check_queries(coord: torch.Tensor, cell: torch.Tensor, batch: int) -> None:
    """Raise ``ValueError`` unless ``coord`` and ``cell`` are matching (batch, Q, 2) tensors."""
    if coord.dim() != 3 or coord.shape[0] != batch or coord.shape[2] != 2:
        raise ValueError(f"coord must have shape ({batch}, Q, 2), got {tuple(coord.shape)}")
    if cell.shape != coord.shape:
        raise ValueError(f"cell must have the shape of coord {tuple(coord.shape)}, got {tuple(cell.shape)}")


class LocalImplicitSR(nn.Module):
    """Base of the encoder + local implicit decoder models.

    Subclasses set ``decoder_reach`` (LR pixels beyond the containing pixel that a query
    reads, unfold included) and implement ``_projection``, ``_decode_fast`` and
    ``_decode_reference``.

    Attributes:
        encoder: the feature encoder.
        receptive_radius: an output depends only on input pixels within this Chebyshev
            distance of the LR pixel containing its centre.
        fast_query: default decoder path (True: fused fast path).
    """

    decoder_reach: int = 1

    def __init__(self, encoder: str = "edsr-baseline", encoder_args: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.encoder = make_encoder(encoder, **dict(encoder_args or {}))
        self.feat_channels: int = self.encoder.out_channels
        self.receptive_radius: int = self.encoder.receptive_radius + self.decoder_reach
        self.fast_query: bool = True

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """Features of an image.

        Args:
            image: (B, 3, h, w) in [0, 1] (normalised inside).

        Returns:
            (B, C, h, w).
        """
        check_image(image)
        return self.encoder((image - NORM_SUB) / NORM_DIV)

    def prepare(self, feat: torch.Tensor, *, fast: bool | None = None,
                frame: tuple[int, int, int, int] | None = None) -> PreparedFeatures:
        """Per-pixel rows for many :meth:`query` calls on the same features.

        Args:
            feat: (B, C, h, w) from :meth:`encode`.
            fast: decoder path; None uses ``self.fast_query``.
            frame: ``(top, left, full_h, full_w)`` when ``feat`` encodes the crop
                ``[top:top + h, left:left + w]`` of a ``full_h x full_w`` image and queries
                will use the *whole image's* coordinates and cells: lookups are then done
                in the whole image's frame (bit-identical to it) and translated into the crop.

        Raises:
            ValueError: bad ``feat`` shape or ``frame``.
        """
        fast = self.fast_query if fast is None else fast
        if feat.dim() != 4 or feat.shape[1] != self.feat_channels:
            raise ValueError(f"feat must have shape (B, {self.feat_channels}, h, w), got {tuple(feat.shape)}")
        b, _, h, w = feat.shape
        frame = None if frame is None else check_frame(frame, h, w)
        maps = self._projection(feat) if fast else unfold3x3(feat)
        return PreparedFeatures(pixel_rows(maps), b, h, w, fast, frame)

    def query(self, feat: torch.Tensor | PreparedFeatures, coord: torch.Tensor, cell: torch.Tensor,
              *, fast: bool | None = None) -> torch.Tensor:
        """RGB at query points (unclamped, de-normalised: [0, 1] is the valid range).

        Args:
            feat: (B, C, h, w) features of the image they cover, or :meth:`prepare`'s result.
            coord: (B, Q, 2) model-space ``(y, x)`` of the whole image ``feat`` covers.
            cell: (B, Q, 2) output pixel size ``(2 / H_out, 2 / W_out)``.
            fast: decoder path; None uses the prepared path or ``self.fast_query``.

        Returns:
            (B, Q, 3) in ``coord.dtype``.
        """
        if isinstance(feat, PreparedFeatures):
            if fast is not None and fast != feat.fast:
                raise ValueError(f"features were prepared for fast={feat.fast}, query asked for fast={fast}")
            prepared = feat
        else:
            prepared = self.prepare(feat, fast=fast)
        check_queries(coord, cell, prepared.batch)
        decode = self._decode_fast if prepared.fast else self._decode_reference
        return (decode(prepared, coord, cell) * NORM_DIV + NORM_SUB).to(coord.dtype)

    def forward(self, image: torch.Tensor, size: tuple[int, int], *, fast: bool | None = None,
                chunk_size: int = DEFAULT_CHUNK) -> torch.Tensor:
        """Upscale (or resample) whole images: encode, then query every output pixel centre.

        Args:
            image: (B, 3, h, w) in [0, 1].
            size: output ``(H, W)``.
            fast: decoder path; None uses ``self.fast_query``.
            chunk_size: queries per decoder call (bounds memory).

        Returns:
            (B, 3, H, W) clamped to [0, 1], in ``image.dtype``.
        """
        out_h, out_w = (int(v) for v in size)
        if out_h < 1 or out_w < 1 or chunk_size < 1:
            raise ValueError(f"size must be positive and chunk_size >= 1, got size={size}, chunk_size={chunk_size}")
        prepared = self.prepare(self.encode(image), fast=fast)
        coord, cell = query_coords_and_cells(out_h, out_w, device=image.device, dtype=image.dtype)
        parts = []
        for start in range(0, coord.shape[0], chunk_size):
            stop = start + chunk_size
            chunk_coord = coord[start:stop].expand(prepared.batch, -1, -1)
            chunk_cell = cell[start:stop].expand(prepared.batch, -1, -1)
            parts.append(self.query(prepared, chunk_coord, chunk_cell))
        rgb = torch.cat(parts, dim=1).clamp(0.0, 1.0).to(image.dtype)
        return rgb.view(prepared.batch, out_h, out_w, 3).permute(0, 3, 1, 2).contiguous()

    def _projection(self, feat: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, D, h, w): feature terms of the first layers, per LR pixel."""
        raise NotImplementedError

    def _decode_fast(self, prepared: PreparedFeatures, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Normalised RGB (B, Q, 3) from projected rows."""
        raise NotImplementedError

    def _decode_reference(self, prepared: PreparedFeatures, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """Normalised RGB (B, Q, 3) from unfolded feature rows."""
        raise NotImplementedError
