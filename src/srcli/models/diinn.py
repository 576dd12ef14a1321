"""DIINN: dual interactive implicit neural network (Nguyen, Beksi, WACV 2023).

The decoder reads one LR pixel per query, the one containing it (no ensemble): content
``z`` = its 3x3-unfolded features (576 channels); position ``p`` = ``[rel_coord, ratio]``
with ``rel_coord = (q - centre) * [h, w]`` (half LR pixels, in ``[-1, 1]``, as the official
code) and ``ratio = (h w) / (H_out W_out)`` computed from the cell as
``(cell_y h / 2) (cell_x w / 2)``. Two interacting branches of 4 layers of 256 (the
paper's final model, official ``mode=3, init_q=False``)::

    m_1 = relu(K_1 z)                 s_1 = m_1 * sin(Q_1 p)
    m_i = relu(K_i [s_{i-1}, z])      s_i = m_i * sin(Q_i s_{i-1})     (i = 2..4)
    rgb = L s_4

Decoder 986,627 parameters; with the EDSR-baseline encoder 2,207,043.

Official-checkpoint names (1x1 convs squeezed to linear): ``modulation.{i}`` =
``decoder.K.{i}.0``, ``synthesis.{i}`` = ``decoder.Q.{i}.0``, ``output`` =
``decoder.last_layer``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import torch
from torch import nn

from srcli.models.implicit import (
    ENSEMBLE_EPS,
    LocalImplicitSR,
    PreparedFeatures,
    nearest_pixel,
    project_unfolded,
    relative_coord,
    relu_,
)
from srcli.registry import register

DIINN_DEFAULT_ARGS: dict[str, Any] = {"encoder": "edsr-baseline", "encoder_args": {}, "hidden_dims": [256, 256, 256, 256]}


def positional_input(coord: torch.Tensor, cell: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The looked-up pixel and the synthesis input of each query.

    A tiny shift (1e-6) resolves queries exactly on a pixel edge to the upper pixel, as
    the official ``nearest-exact`` does, robustly to rounding.

    Args:
        coord, cell: (B, Q, 2).

    Returns:
        ``(flat_index (B, Q), p (B, Q, 3))`` with ``p = [rel_y, rel_x, area ratio]``.
    """
    index, centre = nearest_pixel(coord, h, w, (ENSEMBLE_EPS, ENSEMBLE_EPS))
    ratio = (cell[..., 0] * (h / 2)) * (cell[..., 1] * (w / 2))
    return index, torch.cat([relative_coord(coord, centre, h, w), ratio.unsqueeze(-1)], dim=-1)


@register(
    "diinn",
    task="upscale",
    family="diinn",
    description="DIINN (WACV 2023): dual interactive implicit network, EDSR-baseline encoder, any scale",
    default_args=DIINN_DEFAULT_ARGS,
)
class DIINN(LocalImplicitSR):
    """DIINN with modulation (ReLU) and synthesis (sine) branches.

    Args:
        encoder: ``"edsr-baseline"`` or ``"rdn"`` (the paper's).
        encoder_args: encoder constructor arguments.
        hidden_dims: widths of the layers of both branches.
    """

    decoder_reach = 1  # the containing pixel's 3x3 unfold

    def __init__(self, encoder: str = "edsr-baseline", encoder_args: dict[str, Any] | None = None,
                 hidden_dims: Sequence[int] = (256, 256, 256, 256)) -> None:
        super().__init__(encoder, encoder_args)
        if not hidden_dims:
            raise ValueError("DIINN needs at least one layer")
        self.unfolded_channels = c = self.feat_channels * 9
        dims = list(hidden_dims)
        self.modulation = nn.ModuleList([nn.Linear(c, dims[0])] + [nn.Linear(a + c, b) for a, b in pairwise(dims)])
        self.synthesis = nn.ModuleList([nn.Linear(3, dims[0])] + [nn.Linear(a, b) for a, b in pairwise(dims)])
        self.output = nn.Linear(dims[-1], 3)

    def _content_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Content (z) columns of all modulation layers stacked: (sum widths, 576) and bias."""
        c = self.unfolded_channels
        weight = torch.cat([layer.weight[:, -c:] for layer in self.modulation])
        return weight, torch.cat([layer.bias for layer in self.modulation])

    def _projection(self, feat: torch.Tensor) -> torch.Tensor:
        """Per LR pixel: ``m_1 = relu(K_1 z + b_1)`` (all of layer 1 is per pixel), then the
        content terms ``K_i^z z + b_i`` of the later layers."""
        weight, bias = self._content_weights()
        terms = project_unfolded(feat, weight, bias)
        width = self.modulation[0].out_features
        return torch.cat([torch.relu(terms[:, :width]), terms[:, width:]], dim=1)

    def _run(self, content_terms: list[torch.Tensor], p: torch.Tensor) -> torch.Tensor:
        """Both branches from ``[m_1, K_2^z z + b_2, ...]`` gathered per query: -> (B, Q, 3)."""
        c = self.unfolded_channels
        s = content_terms[0] * torch.sin(self.synthesis[0](p))
        for modulation, synthesis, content in zip(self.modulation[1:], self.synthesis[1:], content_terms[1:]):
            rows = s.reshape(-1, s.shape[-1])
            m = torch.addmm(content.reshape(rows.shape[0], -1), rows, modulation.weight[:, :-c].t())
            s = relu_(m).view(*s.shape[:-1], -1) * torch.sin(synthesis(s))
        return self.output(s)

    def _decode_fast(self, prepared: PreparedFeatures, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        h, w = prepared.frame_size
        index, p = positional_input(coord, cell, h, w)
        projected = prepared.gather(index)
        widths = [layer.out_features for layer in self.modulation]
        return self._run(list(projected.split(widths, dim=-1)), p)

    def _decode_reference(self, prepared: PreparedFeatures, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        h, w = prepared.frame_size
        index, p = positional_input(coord, cell, h, w)
        z = prepared.gather(index)
        s = torch.relu(self.modulation[0](z)) * torch.sin(self.synthesis[0](p))
        for modulation, synthesis in zip(self.modulation[1:], self.synthesis[1:]):
            m = relu_(modulation(torch.cat([s, z.to(s.dtype)], dim=-1)))
            s = m * torch.sin(synthesis(s))
        return self.output(s)
