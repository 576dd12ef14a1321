"""SIREN, the sine-activated MLP that LINR fits to one image, and LINR's coordinates.

A SIREN (Sitzmann et al. 2020) maps a coordinate to a value through sine layers
``h -> sin(omega_0 (W h + b))`` and a final linear layer. LINR (Xu and Jiao 2023) fits one
per image with ``omega_0 = 30``, 256 features, ``hidden_layers = 6`` (the SIREN code's
count of sine layers after the first one: 7 sine layers and a final linear layer, 8 linear
layers in all). Here ``depth`` is that count of hidden sine layers.

Initialisation (SIREN): first layer weights ``U(-1/in, 1/in)``, every later weight
(hidden and final) ``U(-sqrt(6/in)/omega_0, sqrt(6/in)/omega_0)``; biases keep PyTorch's
default ``U(-1/sqrt(in), 1/sqrt(in))``.

Coordinates (LINR): the longer side of the image spans ``[-1, 1]``; the shorter side
spans the same pixel pitch, centred on 0, so the function is not stretched. Unlike LINR's
code, which puts samples on ``linspace(-1, 1)`` and crops the shorter side by an integer
offset, pixels here sit at their centres: a fitted function rendered at another size
covers the same continuous extent, and the centres of an ``s``-times finer grid fall
symmetrically around each coarse pixel centre.

Values: LINR fits images scaled to ``[-1, 1]`` (a fresh SIREN outputs about 0, mid-grey);
:func:`values_to_unit` and :func:`values_to_image` map back to ``[0, 1]`` and
:func:`render` draws a fitted function on any grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from srcli.registry import register

OMEGA_0 = 30.0
DEFAULT_WIDTH = 256
DEFAULT_DEPTH = 6
RENDER_CHUNK = 65536

#: a SIREN or anything called like one (a compiled SIREN): ``(N, in) -> (N, out)``
SirenFunction = Callable[[torch.Tensor], torch.Tensor]


def linr_extent(h: int, w: int) -> tuple[float, float]:
    """Half-extents ``(ey, ex)`` of an ``h x w`` image: the longer side gets 1.

    Raises:
        ValueError: when a side is not positive.
    """
    if h <= 0 or w <= 0:
        raise ValueError(f"image size must be positive, got {h}x{w} (HxW)")
    longer = max(h, w)
    return h / longer, w / longer


def linr_coords(h: int, w: int, *, extent: tuple[float, float] | None = None,
                device: torch.device | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Pixel-centre coordinates of an ``h x w`` grid over a continuous extent, ``(y, x)`` order.

    Pixel ``i`` of ``n`` along an axis of half-extent ``e`` sits at ``e (-1 + (2 i + 1) / n)``.

    Args:
        h: grid height in pixels.
        w: grid width in pixels.
        extent: half-extents ``(ey, ex)``; default :func:`linr_extent` of ``(h, w)``, so
            the longer side spans ``[-1, 1]``. Pass a fitted model's extent to render it at
            another size.
        device: device of the result.
        dtype: dtype of the result (default float32).

    Returns:
        Tensor of shape ``(h * w, 2)``, rows in raster order.
    """
    ey, ex = linr_extent(h, w) if extent is None else (float(extent[0]), float(extent[1]))
    ys = ey * (-1.0 + (2.0 * torch.arange(h, device=device, dtype=torch.float64) + 1.0) / h)
    xs = ex * (-1.0 + (2.0 * torch.arange(w, device=device, dtype=torch.float64) + 1.0) / w)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)
    return grid.reshape(-1, 2).to(dtype or torch.float32)


def sine_layer(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, omega: float) -> torch.Tensor:
    """``sin(omega (x W^T + b))``, with ``omega`` folded into ``W`` and ``b``.

    Folding scales the small weight matrix instead of the large activation: the same
    function and gradients, one pass less over the activations.

    Args:
        x: inputs ``(..., in)``.
        weight: ``(out, in)``.
        bias: ``(out,)``.
        omega: frequency factor.

    Returns:
        ``(..., out)``.
    """
    return torch.sin(F.linear(x, weight * omega, bias * omega))


def siren_init_(layer: nn.Linear, *, first: bool, omega: float) -> None:
    """SIREN initialisation of ``layer``'s weight in place (the bias keeps PyTorch's default)."""
    fan_in = layer.in_features
    bound = 1.0 / fan_in if first else math.sqrt(6.0 / fan_in) / omega
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound)


@register("siren", task="fit", family="linr", trainable=False,
          description="SIREN fitted to one image (LINR): denoise, SR, inpaint, deblur",
          default_args={"in_features": 2, "out_features": 3, "width": DEFAULT_WIDTH, "depth": DEFAULT_DEPTH})
class Siren(nn.Module):
    """Sine MLP ``in_features -> width (x depth + 1 sine layers) -> out_features``.

    The first and the final layer always run in the input's precision, outside any
    autocast: the first sees raw coordinates, whose pixel pitch bf16 cannot resolve (its
    spacing near 1 is 2^-8), and the last gives the output values. Only the hidden
    ``width x width`` layers, nearly all of the work, follow autocast.

    Attributes:
        extent: buffer ``(2,)``, half-extents ``(ey, ex)`` of the image the function was
            fitted on (saved with the weights, so a loaded model renders the same grid).
    """

    def __init__(self, in_features: int = 2, out_features: int = 3, width: int = DEFAULT_WIDTH,
                 depth: int = DEFAULT_DEPTH, omega_0: float = OMEGA_0, first_omega_0: float = OMEGA_0) -> None:
        super().__init__()
        if min(in_features, out_features, width) < 1 or depth < 0:
            raise ValueError(f"bad SIREN shape: in={in_features} out={out_features} width={width} depth={depth}")
        self.omega_0 = float(omega_0)
        self.first_omega_0 = float(first_omega_0)
        self.first = nn.Linear(in_features, width)
        self.hidden = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.last = nn.Linear(width, out_features)
        siren_init_(self.first, first=True, omega=self.first_omega_0)
        for layer in self.hidden:
            siren_init_(layer, first=False, omega=self.omega_0)
        siren_init_(self.last, first=False, omega=self.omega_0)
        self.register_buffer("extent", torch.ones(2))

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """Evaluate the function.

        Args:
            coords: ``(..., in_features)`` coordinates (``(y, x)`` for images).

        Returns:
            ``(..., out_features)`` values in the input's dtype, on LINR's ``[-1, 1]``
            image scale (see :func:`values_to_image`).
        """
        device_type = coords.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            h = sine_layer(coords, self.first.weight, self.first.bias, self.first_omega_0)
        for layer in self.hidden:
            h = sine_layer(h, layer.weight, layer.bias, self.omega_0)
        with torch.autocast(device_type=device_type, enabled=False):
            return F.linear(h.to(coords.dtype), self.last.weight, self.last.bias)

    def extra_repr(self) -> str:
        return f"omega_0={self.omega_0}, first_omega_0={self.first_omega_0}"


def evaluate(model: SirenFunction, coords: torch.Tensor, autocast_dtype: torch.dtype | None = None,
             chunk: int | None = None) -> torch.Tensor:
    """A SIREN's outputs at ``coords``, with its hidden layers in ``autocast_dtype``.

    With ``chunk``, the SIREN runs on ``chunk`` coordinates at a time (the last chunk
    padded to the same size, so compiled code sees one shape). When gradients are on, each
    chunk's activations are dropped after its forward pass and recomputed in the backward
    pass (activation checkpointing): only one chunk's activations exist at a time, so the
    memory of a step no longer grows with the image, and on a CPU the elementwise work
    (sines, casts, their gradients) stays in cache. The values and gradients are those
    of one pass, up to float rounding; the cost is one more forward pass.

    Args:
        model: the SIREN (or a compiled one).
        coords: ``(N, 2)`` coordinates.
        autocast_dtype: e.g. ``torch.bfloat16`` for the hidden layers; None for fp32.
        chunk: coordinates per pass (>= 1); None: all at once.

    Returns:
        ``(N, C)`` float32 values on LINR's ``[-1, 1]`` scale (see :func:`values_to_unit`).
    """
    enabled = autocast_dtype is not None
    with torch.autocast(coords.device.type, dtype=autocast_dtype or torch.bfloat16, enabled=enabled):
        if chunk is None or coords.shape[0] <= chunk:
            return model(coords).float()
        parts = list(coords.split(chunk))
        short = chunk - parts[-1].shape[0]
        if short:
            parts[-1] = torch.cat([parts[-1], parts[-1][-1:].expand(short, -1)])
        if torch.is_grad_enabled():
            values = [checkpoint(model, part, use_reentrant=False, preserve_rng_state=False) for part in parts]
        else:
            values = [model(part) for part in parts]
        return torch.cat(values)[: coords.shape[0]].float()


def values_to_unit(values: torch.Tensor) -> torch.Tensor:
    """SIREN outputs on ``[-1, 1]`` to image values on ``[0, 1]`` (not clipped), any shape."""
    return values.float() * 0.5 + 0.5


def values_to_image(values: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """SIREN outputs ``(H*W, C)`` on ``[-1, 1]`` to an image ``(1, C, H, W)`` on ``[0, 1]`` (not clipped)."""
    return values_to_unit(values).t().reshape(1, -1, hw[0], hw[1])


def render(model: Siren, size: tuple[int, int], *, extent: tuple[float, float] | None = None,
           chunk: int = RENDER_CHUNK, autocast_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Render a fitted SIREN on an ``H x W`` grid of pixel centres over its extent.

    Args:
        model: fitted SIREN (its ``extent`` buffer gives the continuous extent).
        size: output ``(H, W)``.
        extent: override of the half-extents ``(ey, ex)``.
        chunk: coordinates evaluated at once (bounds memory).
        autocast_dtype: e.g. ``torch.bfloat16`` for the hidden layers; None for fp32.

    Returns:
        ``(1, C, H, W)`` float32 image clipped to ``[0, 1]``, on the model's device.
    """
    h, w = int(size[0]), int(size[1])
    if h <= 0 or w <= 0 or chunk <= 0:
        raise ValueError(f"render size and chunk must be positive, got {h}x{w}, chunk {chunk}")
    device = model.extent.device
    ext = tuple(model.extent.tolist()) if extent is None else extent
    coords = linr_coords(h, w, extent=ext, device=device)
    with torch.no_grad():
        values = torch.cat([evaluate(model, part, autocast_dtype) for part in coords.split(chunk)])
    return values_to_image(values, (h, w)).clamp_(0.0, 1.0)
