"""Convolutional feature encoders for the implicit SR models (EDSR-baseline, RDN).

An encoder maps a *normalised* image ``(B, 3, h, w)`` (values ``(x - 0.5) / 0.5``; the
implicit models normalise before calling it) to features ``(B, C, h, w)`` at the input
resolution: no upsampler. Every encoder exposes ``out_channels`` and
``receptive_radius``: the number of input pixels (Chebyshev distance) that can influence
one output feature, which a tiler needs for an exact halo.

State-dict names and the official LIIF / EDSR-PyTorch names they correspond to:

* EDSR-baseline: ``head`` = ``head.0``; ``blocks.{i}.conv1|conv2`` = ``body.{i}.body.0|2``;
  ``tail`` = ``body.{n_blocks}``. (The official ``sub_mean``/``add_mean`` are unused.)
* RDN: ``shallow1|shallow2`` = ``SFENet1|SFENet2``; ``blocks.{i}.convs.{j}`` =
  ``RDBs.{i}.convs.{j}.conv.0``; ``blocks.{i}.fuse`` = ``RDBs.{i}.LFF``;
  ``global_fuse1|global_fuse2`` = ``GFF.0|GFF.1``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

ENCODER_NAMES = ("edsr-baseline", "rdn")


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 3x3 convolution with zero padding 1 (keeps the spatial size)."""
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


class ResidualBlock(nn.Module):
    """EDSR residual block: ``x + res_scale * conv2(relu(conv1(x)))``."""

    def __init__(self, channels: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.conv1 = conv3x3(channels, channels)
        self.conv2 = conv3x3(channels, channels)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, C, h, w)."""
        return x + self.res_scale * self.conv2(torch.relu(self.conv1(x)))


class EDSRBaseline(nn.Module):
    """EDSR-baseline without upsampler: head conv, residual blocks, tail conv, global skip.

    With the defaults (64 features, 16 blocks) it has 1,220,416 parameters.

    Args:
        n_feats: feature channels.
        n_blocks: residual blocks.
        res_scale: residual scaling inside each block.
        in_channels: image channels.
    """

    def __init__(self, n_feats: int = 64, n_blocks: int = 16, res_scale: float = 1.0, in_channels: int = 3) -> None:
        super().__init__()
        if n_feats < 1 or n_blocks < 0:
            raise ValueError(f"EDSR-baseline needs n_feats >= 1 and n_blocks >= 0, got {n_feats}, {n_blocks}")
        self.head = conv3x3(in_channels, n_feats)
        self.blocks = nn.ModuleList(ResidualBlock(n_feats, res_scale) for _ in range(n_blocks))
        self.tail = conv3x3(n_feats, n_feats)
        self.out_channels = n_feats
        self.receptive_radius = 2 + 2 * n_blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised image (B, 3, h, w) -> features (B, n_feats, h, w)."""
        shallow = self.head(x)
        deep = shallow
        for block in self.blocks:
            deep = block(deep)
        return shallow + self.tail(deep)


class DenseBlock(nn.Module):
    """Residual dense block: ``n_layers`` densely connected conv-ReLU layers, 1x1 fusion, skip."""

    def __init__(self, channels: int, growth: int, n_layers: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(conv3x3(channels + i * growth, growth) for i in range(n_layers))
        self.fuse = nn.Conv2d(channels + n_layers * growth, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, C, h, w)."""
        stacked = x
        for conv in self.convs:
            stacked = torch.cat([stacked, torch.relu(conv(stacked))], dim=1)
        return x + self.fuse(stacked)


class RDN(nn.Module):
    """Residual dense network without upsampler (RDN-B by default: G0=64, D=16, C=8, G=64).

    Args:
        n_feats: G0, the channels between blocks.
        n_blocks: D, residual dense blocks.
        n_layers: C, conv layers per block.
        growth: G, channels each layer adds.
        in_channels: image channels.
    """

    def __init__(self, n_feats: int = 64, n_blocks: int = 16, n_layers: int = 8, growth: int = 64,
                 in_channels: int = 3) -> None:
        super().__init__()
        if min(n_feats, n_blocks, n_layers, growth) < 1:
            raise ValueError("RDN needs n_feats, n_blocks, n_layers and growth >= 1")
        self.shallow1 = conv3x3(in_channels, n_feats)
        self.shallow2 = conv3x3(n_feats, n_feats)
        self.blocks = nn.ModuleList(DenseBlock(n_feats, growth, n_layers) for _ in range(n_blocks))
        self.global_fuse1 = nn.Conv2d(n_blocks * n_feats, n_feats, 1)
        self.global_fuse2 = conv3x3(n_feats, n_feats)
        self.out_channels = n_feats
        self.receptive_radius = 3 + n_blocks * n_layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised image (B, 3, h, w) -> features (B, n_feats, h, w)."""
        shallow = self.shallow1(x)
        y = self.shallow2(shallow)
        outputs = []
        for block in self.blocks:
            y = block(y)
            outputs.append(y)
        return shallow + self.global_fuse2(self.global_fuse1(torch.cat(outputs, dim=1)))


def make_encoder(name: str, **kwargs: Any) -> nn.Module:
    """Build an encoder by name.

    Args:
        name: ``"edsr-baseline"`` or ``"rdn"``.
        **kwargs: constructor arguments of :class:`EDSRBaseline` or :class:`RDN`.

    Returns:
        A module with ``out_channels`` and ``receptive_radius`` attributes.

    Raises:
        ValueError: unknown name or bad arguments.
    """
    classes = {"edsr-baseline": EDSRBaseline, "rdn": RDN}
    if name not in classes:
        raise ValueError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODER_NAMES)}")
    try:
        return classes[name](**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad arguments for encoder {name!r}: {exc}") from None
