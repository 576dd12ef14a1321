"""Forward models of LINR: how a clean image becomes what was observed.

A fit renders the clean image on a *canvas* and compares ``A(canvas)`` with each
observation ``y`` through a data term. Each operator maps a ``(B, C, H, W)`` canvas to the
observation's size and says, through :meth:`render_size`, which canvas an observation of
a given size needs.

* :class:`Identity` (denoising): ``A x = x``.
* :class:`Downsample` (super-resolution): ``A x = resize(x, observed size)`` with LINR's
  lanczos2 kernel, antialiased, for any scale.
* :class:`Mask` (inpainting): ``A x = m * x``; only known pixels enter the data term.
* :class:`Blur` (deblurring): ``A x = k * x``, a true convolution with replicated borders
  (LINR's replication padding).
* :class:`Chain`: several of them in order (a blurred, downsampled and masked image).

Data term (LINR's): ``mean((m (A x - y))^2)`` over all elements of the observation, the
masked-out ones counting in the denominator (``m = 1`` without a mask). It is an MSE on
the ``[0, 1]`` scale, a quarter of LINR's loss on ``[-1, 1]``; Adam makes the fit
insensitive to that constant.

Noise: :func:`estimate_noise_sigma` measures the white Gaussian noise of an observation
(Donoho's MAD rule), for LINR's reference-free stopping rule. It and the blur kernels of
:func:`parse_blur_kernel` live in :mod:`srcli.tasks.forward_kernels` (re-exported here).
"""

from __future__ import annotations

import math

import torch

from srcli.geometry import scaled_length
from srcli.tasks.forward_kernels import MAD_TO_SIGMA, ForwardModelError, estimate_noise_sigma, parse_blur_kernel

__all__ = [
    "DOWNSAMPLE_KERNELS", "MAD_TO_SIGMA", "Blur", "Chain", "Downsample", "ForwardModel", "ForwardModelError",
    "Identity", "Mask", "data_term", "estimate_noise_sigma", "parse_blur_kernel",
]

DOWNSAMPLE_KERNELS = ("lanczos2", "bicubic")


class ForwardModel:
    """Base class: ``A``, mapping a canvas to an observation."""

    #: True when ``A`` acts on each pixel alone (random-pixel mini-batches are possible)
    pointwise = True
    #: True when the output size differs from the canvas size
    changes_size = False
    #: how far (in canvas pixels) an observed pixel's value reaches around its own
    #: position; None when it may depend on any pixel (random-crop fits need a number)
    reach: int | None = 0

    def __call__(self, image: torch.Tensor, observed_hw: tuple[int, int]) -> torch.Tensor:
        """Apply ``A``. ``image``: ``(B, C, H, W)``; returns ``(B, C, *observed_hw)``."""
        raise NotImplementedError

    def apply_local(self, image: torch.Tensor) -> torch.Tensor:
        """``A`` without its mask on a canvas crop of any size (operators with a ``reach``).

        Pixels at least ``reach`` inside the crop, or on an edge the crop shares with
        the canvas, get the values ``A`` gives them on the whole canvas.
        """
        return image

    def render_size(self, observed_hw: tuple[int, int]) -> tuple[int, int]:
        """Size ``(H, W)`` of the canvas this operator needs for an observation of ``observed_hw``."""
        return observed_hw

    def loss_mask(self) -> torch.Tensor | None:
        """Weights ``m`` of the data term on the observation grid, or None for all ones."""
        return None

    def describe(self) -> str:
        """One line for logs and model cards."""
        return type(self).__name__.lower()


def _check_same_size(image: torch.Tensor, observed_hw: tuple[int, int], name: str) -> None:
    if tuple(image.shape[-2:]) != tuple(observed_hw):
        raise ForwardModelError(f"{name}: canvas {tuple(image.shape[-2:])} differs from the observation {tuple(observed_hw)}")


class Identity(ForwardModel):
    """Denoising: the observation is the clean image plus noise."""

    def __call__(self, image: torch.Tensor, observed_hw: tuple[int, int]) -> torch.Tensor:
        _check_same_size(image, observed_hw, "denoise")
        return image


class Downsample(ForwardModel):
    """Super-resolution: the observation is the clean image resized down by ``scale``.

    Args:
        scale: positive, finite; the canvas is ``floor(scale * n + 0.5)`` per side.
        kernel: ``"lanczos2"`` (LINR) or ``"bicubic"``, antialiased.
    """

    pointwise = False
    changes_size = True
    reach = None

    def __init__(self, scale: float, kernel: str = "lanczos2") -> None:
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
            raise ForwardModelError(f"scale must be a positive number, got {scale!r}")
        if kernel not in DOWNSAMPLE_KERNELS:
            raise ForwardModelError(f"unknown downsampling kernel {kernel!r}; use one of {', '.join(DOWNSAMPLE_KERNELS)}")
        self.scale = float(scale)
        self.kernel = kernel

    def __call__(self, image: torch.Tensor, observed_hw: tuple[int, int]) -> torch.Tensor:
        from srcli.resize import resize

        return resize(image, (int(observed_hw[0]), int(observed_hw[1])), kernel=self.kernel, antialias=True)

    def render_size(self, observed_hw: tuple[int, int]) -> tuple[int, int]:
        return scaled_length(observed_hw[0], self.scale), scaled_length(observed_hw[1], self.scale)

    def describe(self) -> str:
        return f"downsample x{self.scale:g} ({self.kernel})"


class Mask(ForwardModel):
    """Inpainting: only the pixels where ``mask`` is 1 were observed.

    Args:
        mask: ``(H, W)``, ``(1 or C, H, W)`` or ``(1, 1 or C, H, W)``, boolean or with
            values in ``[0, 1]`` (a fractional value scales that residual).
    """

    def __init__(self, mask: torch.Tensor) -> None:
        if not isinstance(mask, torch.Tensor):
            raise ForwardModelError(f"mask must be a tensor, got {type(mask).__name__}")
        m = mask.float()
        while m.dim() < 4:
            m = m.unsqueeze(0)
        if m.dim() != 4 or m.shape[0] != 1:
            raise ForwardModelError(f"mask must be (H, W), (C, H, W) or (1, C, H, W), got shape {tuple(mask.shape)}")
        if not bool(torch.isfinite(m).all()) or float(m.min()) < 0 or float(m.max()) > 1:
            raise ForwardModelError("mask values must lie in [0, 1]")
        if float(m.sum()) == 0:
            raise ForwardModelError("mask keeps no pixel: nothing was observed")
        self.mask = m

    def __call__(self, image: torch.Tensor, observed_hw: tuple[int, int]) -> torch.Tensor:
        _check_same_size(image, observed_hw, "inpaint")
        return image * self.mask.to(image.device, image.dtype)

    def loss_mask(self) -> torch.Tensor:
        return self.mask

    def describe(self) -> str:
        return f"mask ({float(self.mask.mean()):.1%} known)"


class Blur(ForwardModel):
    """Deblurring: the observation is the clean image convolved with ``kernel2d``.

    Uses :func:`srcli.resize.blur`: a true convolution whose centre is element
    ``(kh // 2, kw // 2)`` of the kernel (SciPy's convention), separable when the kernel is.

    Args:
        kernel2d: ``(kh, kw)`` kernel, used as given (see :func:`parse_blur_kernel` to
            normalise).
        padding: border handling: ``"replicate"`` (LINR), ``"reflect"``, ``"symmetric"``,
            ``"circular"`` or ``"zeros"``.
    """

    pointwise = False

    def __init__(self, kernel2d: torch.Tensor, padding: str = "replicate") -> None:
        from srcli.resize import PADDINGS

        if not isinstance(kernel2d, torch.Tensor) or kernel2d.dim() != 2 or min(kernel2d.shape) < 1:
            shape = tuple(kernel2d.shape) if isinstance(kernel2d, torch.Tensor) else type(kernel2d).__name__
            raise ForwardModelError(f"blur kernel must be a 2-D tensor, got {shape}")
        if not bool(torch.isfinite(kernel2d).all()):
            raise ForwardModelError("blur kernel holds NaN or Inf")
        if padding not in PADDINGS:
            raise ForwardModelError(f"unknown padding {padding!r}; use one of {', '.join(PADDINGS)}")
        self.kernel = kernel2d.detach().float()
        self.padding = padding
        # circular borders wrap to the far side of the canvas, outside any crop
        self.reach = None if padding == "circular" else max(self.kernel.shape) // 2

    def __call__(self, image: torch.Tensor, observed_hw: tuple[int, int]) -> torch.Tensor:
        _check_same_size(image, observed_hw, "deblur")
        return self.apply_local(image)

    def apply_local(self, image: torch.Tensor) -> torch.Tensor:
        from srcli.resize import blur

        return blur(image, self.kernel, padding=self.padding)

    def describe(self) -> str:
        return f"blur {self.kernel.shape[0]}x{self.kernel.shape[1]} ({self.padding})"


class Chain(ForwardModel):
    """Operators applied in order (typically blur, downsample, mask).

    At most one of them may change the size; the operators before it work at the canvas
    size, those after it at the observed size.
    """

    def __init__(self, operators: list[ForwardModel]) -> None:
        if not operators:
            raise ForwardModelError("a chain needs at least one operator")
        if sum(op.changes_size for op in operators) > 1:
            raise ForwardModelError("a chain may hold only one size-changing operator")
        self.operators = list(operators)
        self.pointwise = all(op.pointwise for op in self.operators)
        self.changes_size = any(op.changes_size for op in self.operators)
        reaches = [op.reach for op in self.operators]
        self.reach = None if None in reaches else sum(reaches)  # type: ignore[arg-type]

    def __call__(self, image: torch.Tensor, observed_hw: tuple[int, int]) -> torch.Tensor:
        for op in self.operators:
            image = op(image, observed_hw if op.changes_size else tuple(image.shape[-2:]))
        _check_same_size(image, observed_hw, self.describe())
        return image

    def apply_local(self, image: torch.Tensor) -> torch.Tensor:
        for op in self.operators:
            image = op.apply_local(image)
        return image

    def render_size(self, observed_hw: tuple[int, int]) -> tuple[int, int]:
        for op in reversed(self.operators):
            observed_hw = op.render_size(observed_hw)
        return observed_hw

    def loss_mask(self) -> torch.Tensor | None:
        return self.operators[-1].loss_mask()

    def describe(self) -> str:
        return " -> ".join(op.describe() for op in self.operators)


def data_term(predicted: torch.Tensor, observed: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """LINR's data term ``mean((m (A x - y))^2)`` over all elements.

    Args:
        predicted: ``A x``, ``(B, C, h, w)`` (or any shape broadcasting with ``observed``).
        observed: ``y``, same shape.
        mask: ``m`` broadcasting to that shape, or None.

    Returns:
        Scalar tensor (float32 or wider).
    """
    residual = predicted.float() - observed.float()
    if mask is not None:
        residual = residual * mask.to(residual.device, residual.dtype)
    return residual.square().mean()
