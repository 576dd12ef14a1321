"""Base class of the local implicit SR models (LIIF, A-LIIF, DIINN): encoder + decoder.

The modules here hold weights and drive the decoding; the tensor maths (lookups, local
ensemble, unfolding, coordinate conventions) is in :mod:`srcli.models.implicit_functional`
and re-exported here.

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
from torch import nn

from srcli.geometry import query_coords_and_cells
from srcli.models.encoders import make_encoder
from srcli.models.implicit_functional import (
    AREA_EPS,
    COORD_CLAMP,
    ENSEMBLE_EPS,
    add_coordinate_terms,
    ensemble_lookups,
    ensemble_weights,
    gather_rows,
    nearest_pixel,
    pixel_centres_of,
    pixel_rows,
    project_unfolded,
    relative_coord,
    relu_,
    scaled_cell,
    unfold3x3,
)

__all__ = [  # public names, including those re-exported from srcli.models.implicit_functional
    "AREA_EPS",
    "COORD_CLAMP",
    "DEFAULT_CHUNK",
    "ENSEMBLE_EPS",
    "NORM_DIV",
    "NORM_SUB",
    "LocalImplicitSR",
    "PreparedFeatures",
    "add_coordinate_terms",
    "check_frame",
    "check_image",
    "check_queries",
    "ensemble_lookups",
    "ensemble_weights",
    "gather_rows",
    "nearest_pixel",
    "pixel_centres_of",
    "pixel_rows",
    "project_unfolded",
    "relative_coord",
    "relu_",
    "scaled_cell",
    "unfold3x3",
]

#: image normalisation inside the models: ``(x - NORM_SUB) / NORM_DIV``
NORM_SUB, NORM_DIV = 0.5, 0.5
#: queries per decoder call in ``forward``; fast-path peak memory is about
#: ``chunk * 4 * (gathered width + 2 * 256) * 4`` bytes (~0.8 GB for LIIF at 65536)
DEFAULT_CHUNK = 65536


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
