"""Tensor functions of the local implicit SR decoders (LIIF, A-LIIF, DIINN).

Coordinates are model space, ``(y, x)`` order: pixel ``i`` of ``n`` has its centre at
``-1 + (2 i + 1) / n``. A lookup reads the LR pixel *containing* a point
(``floor((c + 1) n / 2)`` after clamping ``c`` into ``(-1 + 1e-6, 1 - 1e-6)``); ``cell``
is the output pixel size ``(2 / H, 2 / W)``. As in the official LIIF, queries at the
centres of border pixels mix in a neighbour (all four ensemble areas are ~0 there).

The modules holding the weights, and the two decoder paths these functions serve, are in
:mod:`srcli.models.implicit`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: coordinates are clamped into (-1 + COORD_CLAMP, 1 - COORD_CLAMP) before a lookup
COORD_CLAMP = 1e-6
#: LIIF's shift that breaks ties when a shifted query lands exactly on a pixel edge
ENSEMBLE_EPS = 1e-6
#: added to every ensemble area before normalising (as LIIF does)
AREA_EPS = 1e-9


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
