"""A-LIIF: adaptive local implicit image function (Li, Dai, Li, Zou, Xia, ICIP 2022).

LIIF's single decoder MLP is replaced by a per-query mixture of ``K = 10`` basis MLPs
``580 -> 16 x 4 -> 3``. An expansion MLP ``580 -> 256 x 4 -> K`` maps the same input as
LIIF's decoder, ``[feature, rel_coord, cell * [h, w]]``, to coefficients ``c`` that are
L2-normalised per query. As in the official code, the mixture is of *weights*, layer by
layer: every layer computes ``act(sum_k c_k (W_{l,k} x + b_{l,k}))`` (ReLU between layers,
none after the last). The four local-ensemble branches are then mixed with LIIF's area
weights. With the EDSR-baseline encoder: 1,670,728 parameters.

Official-checkpoint names: ``expansion.{i}`` = ``pdn.layers.{2 i}``;
``basis_weights.{l}`` = ``basis.w{l}`` reshaped to (K, out, in);
``basis_biases.{l}`` = ``basis.bias{l + 1}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srcli.models.implicit import (
    LocalImplicitSR,
    PreparedFeatures,
    add_coordinate_terms,
    ensemble_lookups,
    project_unfolded,
    relu_,
    scaled_cell,
)
from srcli.models.liif import make_mlp, mix_ensemble, run_mlp_tail
from srcli.registry import register

ALIIF_DEFAULT_ARGS: dict[str, Any] = {
    "encoder": "edsr-baseline",
    "encoder_args": {},
    "n_basis": 10,
    "basis_hidden_dims": [16, 16, 16, 16],
    "expansion_hidden_dims": [256, 256, 256, 256],
}


def basis_outputs(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Every basis layer applied to the same input: (N, in), (K, out, in), (K, out) -> (N, K, out)."""
    n_basis, out_dim, in_dim = weight.shape
    flat = F.linear(x, weight.reshape(n_basis * out_dim, in_dim), bias.reshape(-1))
    return flat.view(*x.shape[:-1], n_basis, out_dim)


def mix_basis(per_basis: torch.Tensor, coeff: torch.Tensor) -> torch.Tensor:
    """``sum_k coeff_k per_basis_k``: (..., K, out) and (..., K) -> (..., out) (one batched matmul)."""
    n_basis, out_dim = per_basis.shape[-2:]
    rows = per_basis.reshape(-1, n_basis, out_dim)
    mixed = torch.bmm(coeff.reshape(-1, 1, n_basis).to(rows.dtype), rows)
    return mixed.view(*per_basis.shape[:-2], out_dim)


def run_mixed_tail(weights: nn.ParameterList, biases: nn.ParameterList, first_mixed: torch.Tensor,
                   coeff: torch.Tensor) -> torch.Tensor:
    """Finish the mixed basis MLP from its first layer's mixed pre-activation: (..., d1) -> (..., 3)."""
    x = first_mixed
    for weight, bias in zip(list(weights)[1:], list(biases)[1:]):
        x = mix_basis(basis_outputs(relu_(x), weight, bias), coeff)
    return x


@register(
    "a-liif",
    task="upscale",
    family="liif",
    description="A-LIIF (ICIP 2022): LIIF with a per-pixel mixture of 10 basis MLPs, EDSR-baseline encoder",
    default_args=ALIIF_DEFAULT_ARGS,
)
class ALIIF(LocalImplicitSR):
    """A-LIIF: expansion network + K basis MLPs inside LIIF's local ensemble.

    Args:
        encoder: ``"edsr-baseline"`` or ``"rdn"``.
        encoder_args: encoder constructor arguments.
        n_basis: K, number of basis MLPs (and expansion outputs).
        basis_hidden_dims: hidden widths of each basis MLP.
        expansion_hidden_dims: hidden widths of the expansion MLP.
    """

    decoder_reach = 2

    def __init__(self, encoder: str = "edsr-baseline", encoder_args: dict[str, Any] | None = None,
                 n_basis: int = 10, basis_hidden_dims: Sequence[int] = (16, 16, 16, 16),
                 expansion_hidden_dims: Sequence[int] = (256, 256, 256, 256)) -> None:
        super().__init__(encoder, encoder_args)
        if n_basis < 1 or not basis_hidden_dims or not expansion_hidden_dims:
            raise ValueError("A-LIIF needs n_basis >= 1 and at least one hidden layer in each MLP")
        self.unfolded_channels = self.feat_channels * 9
        in_dim = self.unfolded_channels + 4
        self.n_basis = n_basis
        self.expansion = make_mlp(in_dim, expansion_hidden_dims, n_basis)
        dims = [in_dim, *basis_hidden_dims, 3]
        self.basis_weights = nn.ParameterList(nn.Parameter(torch.empty(n_basis, b, a)) for a, b in pairwise(dims))
        self.basis_biases = nn.ParameterList(nn.Parameter(torch.empty(n_basis, b)) for b in dims[1:])
        self.reset_basis()

    def reset_basis(self) -> None:
        """Official initialisation: uniform in ``+-1 / sqrt(out * in)`` for weights and biases."""
        with torch.no_grad():
            for weight, bias in zip(self.basis_weights, self.basis_biases):
                bound = 1.0 / math.sqrt(weight.shape[1] * weight.shape[2])
                weight.uniform_(-bound, bound)
                bias.uniform_(-bound, bound)

    def _projection(self, feat: torch.Tensor) -> torch.Tensor:
        weight = torch.cat(self._first_layer_weight(0, self.unfolded_channels))
        bias = torch.cat([self.expansion[0].bias, self.basis_biases[0].reshape(-1)])
        return project_unfolded(feat, weight, bias)

    def _first_layer_weight(self, start: int, stop: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Columns ``start:stop`` of the expansion (256, n) and stacked basis (K 16, n) first layers."""
        basis_first = self.basis_weights[0][:, :, start:stop]
        return self.expansion[0].weight[:, start:stop], basis_first.reshape(-1, basis_first.shape[-1])

    def _mixture(self, expansion_first: torch.Tensor, basis_first: torch.Tensor) -> torch.Tensor:
        """Mixed prediction (..., 3) from first-layer pre-activations (..., 256) and (..., K 16)."""
        coeff = F.normalize(run_mlp_tail(self.expansion, expansion_first), dim=-1)
        per_basis = basis_first.unflatten(-1, self.basis_weights[0].shape[:2])
        return run_mixed_tail(self.basis_weights, self.basis_biases, mix_basis(per_basis, coeff), coeff)

    def _decode_fast(self, prepared: PreparedFeatures, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        h, w = prepared.frame_size
        index, rel = ensemble_lookups(coord, h, w)
        geometry = torch.cat([rel, scaled_cell(cell, h, w).expand_as(rel)], dim=-1)
        width = self.expansion[0].out_features
        expansion_weight, basis_weight = self._first_layer_weight(self.unfolded_channels, None)
        # two contiguous gathers keep the 256-wide expansion input dense for its matmuls
        expansion_first = prepared.gather(index, slice(0, width))
        basis_first = prepared.gather(index, slice(width, None))
        expansion_first = add_coordinate_terms(expansion_first, geometry, expansion_weight)
        basis_first = add_coordinate_terms(basis_first, geometry, basis_weight)
        return mix_ensemble(self._mixture(expansion_first, basis_first), rel)

    def _decode_reference(self, prepared: PreparedFeatures, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        h, w = prepared.frame_size
        index, rel = ensemble_lookups(coord, h, w)
        features = prepared.gather(index)
        geometry = torch.cat([rel, scaled_cell(cell, h, w).expand_as(rel)], dim=-1).to(features.dtype)
        inputs = torch.cat([features, geometry], dim=-1)
        coeff = F.normalize(run_mlp_tail(self.expansion, self.expansion[0](inputs)), dim=-1)
        first = mix_basis(basis_outputs(inputs, self.basis_weights[0], self.basis_biases[0]), coeff)
        preds = run_mixed_tail(self.basis_weights, self.basis_biases, first, coeff)
        return mix_ensemble(preds, rel)
