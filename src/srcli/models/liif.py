"""LIIF: local implicit image function (Chen, Liu, Wang, CVPR 2021).

Encoder features are unfolded 3x3 (``64 * 9 = 576`` channels). A query at ``q`` runs the
MLP ``[576 + 2 + 2] -> 256 x 4 -> 3`` (ReLU) on ``[feature, rel_coord, cell * [h, w]]``
for each of the four LR pixels of the local ensemble (:func:`ensemble_lookups`) and mixes
the four predictions with the opposite-rectangle area weights (:func:`ensemble_weights`).
With the EDSR-baseline encoder: 1,567,299 parameters.

Official-checkpoint names: ``decoder.{i}`` = ``imnet.layers.{2 i}``; encoder: see
:mod:`srcli.models.encoders`.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import torch
from torch import nn

from srcli.models.implicit import (
    LocalImplicitSR,
    PreparedFeatures,
    add_coordinate_terms,
    ensemble_lookups,
    ensemble_weights,
    project_unfolded,
    relu_,
    scaled_cell,
)
from srcli.registry import register

LIIF_DEFAULT_ARGS: dict[str, Any] = {"encoder": "edsr-baseline", "encoder_args": {}, "hidden_dims": [256, 256, 256, 256]}


def make_mlp(in_dim: int, hidden_dims: Sequence[int], out_dim: int) -> nn.ModuleList:
    """Linear layers ``in_dim -> hidden_dims... -> out_dim`` (ReLU goes between them)."""
    dims = [in_dim, *hidden_dims, out_dim]
    return nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(dims))


def run_mlp_tail(layers: nn.ModuleList, first_pre_activation: torch.Tensor) -> torch.Tensor:
    """Finish an MLP whose first layer's output (before ReLU) is given: (..., d1) -> (..., out).

    ``first_pre_activation`` must be a fresh tensor: ReLU runs in place (autograd-safe,
    since no layer here needs its own output for the backward pass).
    """
    x = first_pre_activation
    for layer in layers[1:]:
        x = layer(relu_(x))
    return x


def mix_ensemble(preds: torch.Tensor, rel_coord: torch.Tensor) -> torch.Tensor:
    """Area-weighted sum over the ensemble: (4, B, Q, C) and (4, B, Q, 2) -> (B, Q, C)."""
    weights = ensemble_weights(rel_coord).to(preds.dtype)
    return (preds * weights.unsqueeze(-1)).sum(dim=0)


@register(
    "liif",
    task="upscale",
    family="liif",
    description="LIIF (CVPR 2021): local implicit image function, EDSR-baseline encoder, any scale",
    default_args=LIIF_DEFAULT_ARGS,
)
class LIIF(LocalImplicitSR):
    """LIIF with feature unfolding, local ensemble and cell decoding.

    Args:
        encoder: ``"edsr-baseline"`` or ``"rdn"``.
        encoder_args: encoder constructor arguments (e.g. ``{"n_blocks": 2}``).
        hidden_dims: hidden widths of the decoder MLP.
    """

    decoder_reach = 2  # one neighbour from the ensemble + one from the 3x3 unfold

    def __init__(self, encoder: str = "edsr-baseline", encoder_args: dict[str, Any] | None = None,
                 hidden_dims: Sequence[int] = (256, 256, 256, 256)) -> None:
        super().__init__(encoder, encoder_args)
        if not hidden_dims:
            raise ValueError("LIIF needs at least one hidden layer")
        self.unfolded_channels = self.feat_channels * 9
        self.decoder = make_mlp(self.unfolded_channels + 4, hidden_dims, 3)

    def _projection(self, feat: torch.Tensor) -> torch.Tensor:
        first = self.decoder[0]
        return project_unfolded(feat, first.weight[:, : self.unfolded_channels], first.bias)

    def _decode_fast(self, prepared: PreparedFeatures, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        h, w = prepared.frame_size
        index, rel = ensemble_lookups(coord, h, w)
        projected = prepared.gather(index)
        geometry = torch.cat([rel, scaled_cell(cell, h, w).expand_as(rel)], dim=-1)
        first = add_coordinate_terms(projected, geometry, self.decoder[0].weight[:, self.unfolded_channels:])
        return mix_ensemble(run_mlp_tail(self.decoder, first), rel)

    def _decode_reference(self, prepared: PreparedFeatures, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        h, w = prepared.frame_size
        index, rel = ensemble_lookups(coord, h, w)
        features = prepared.gather(index)
        inputs = torch.cat([features, rel.to(features.dtype), scaled_cell(cell, h, w).expand_as(rel).to(features.dtype)], dim=-1)
        return mix_ensemble(run_mlp_tail(self.decoder, self.decoder[0](inputs)), rel)
