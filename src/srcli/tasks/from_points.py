"""Images from scattered points, and inpainting through points.

``from_points`` renders a point set onto an ``H x W`` pixel grid with the points network
(``method="isp"``, a model such as ``registry.load_model("isp-points")``) or a classical
interpolator (``nearest``, ``linear``, ``cubic``, ``rbf``). ``inpaint_with_points`` turns
the known pixels of an image into points and renders them, at the same size (known
pixels then kept as they are, as in ISP2HRNet) or scaled.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from srcli.geometry import check_output_pixels, scaled_length
from srcli.io.points import Extent, PointSet, PointsError, points_inside, resolve_extent, validate_point_set
from srcli.tasks.interpolate import METHODS as CLASSICAL_METHODS
from srcli.tasks.interpolate import interpolate_points

if TYPE_CHECKING:
    import torch

    from srcli.device import Runtime

METHODS = ("isp", *CLASSICAL_METHODS)


@dataclass
class FromPointsResult:
    """What :func:`from_points` made.

    Attributes:
        image: ``(H, W, C)`` float32 in [0, 1].
        seconds: wall time of the rendering (validation and extent included).
        metrics: ``psnr`` (dB, all channels, peak 1) and ``mae`` when a reference was given.
        extent: the outer edges ``(x0, y0, x1, y1)`` used.
        method: the method used.
        points_used: number of points rendered (after merging duplicates and dropping).
    """

    image: np.ndarray
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    extent: Extent = (0.0, 0.0, 0.0, 0.0)
    method: str = ""
    points_used: int = 0


def from_points(
    points: PointSet,
    *,
    size: tuple[int, int] | None = None,
    extent: Extent | None = None,
    source_size: tuple[int, int] | None = None,
    method: str = "isp",
    model: torch.nn.Module | None = None,
    reference: np.ndarray | None = None,
    drop_outside: bool = False,
    runtime: Runtime | None = None,
    patch_points: int = 2304,
    overlap: int = 8,
) -> FromPointsResult:
    """Render scattered points as an image.

    Args:
        points: the samples.
        size: output ``(H, W)``; by default one pixel per unit of the extent
            (``round(y1 - y0) x round(x1 - x0)``), the source size for sampled images.
        extent: output outer edges ``(x0, y0, x1, y1)``; see
            :func:`srcli.io.points.resolve_extent` for the default.
        source_size: ``(W, H)``, short for the extent ``(-0.5, -0.5, W - 0.5, H - 0.5)``.
        method: ``isp`` (needs ``model``), ``nearest``, ``linear``, ``cubic`` or ``rbf``.
        model: the points network for ``isp``.
        reference: ``(H, W, C)`` image in [0, 1] to score the output against.
        drop_outside: drop points outside the extent instead of failing.
        runtime: device and precision for ``isp`` (default: the model's device, fp32).
        patch_points, overlap: patching of the network (see ``render_points``).

    Raises:
        PointsError: bad points, extent, size or method; points outside the extent.
        ValueError: a reference of the wrong shape.
    """
    start = time.perf_counter()
    if method not in METHODS:
        raise PointsError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if method == "isp" and model is None:
        raise PointsError("method 'isp' needs a points model (e.g. registry.load_model('isp-points'))")
    points = validate_point_set(points)
    extent = resolve_extent(points, extent, source_size)
    points = points_inside(points, extent, drop_outside=drop_outside)
    size = _output_size(size, extent)
    if method == "isp":
        image = _render_network(model, points, size, extent, runtime, patch_points, overlap)
    else:
        image = interpolate_points(points, size, extent, method)
    image = np.clip(image, 0.0, 1.0).astype(np.float32)
    seconds = time.perf_counter() - start
    metrics = score(image, reference) if reference is not None else {}
    return FromPointsResult(image, seconds, metrics, extent, method, len(points))


def _output_size(size: tuple[int, int] | None, extent: Extent) -> tuple[int, int]:
    if size is None:
        x0, y0, x1, y1 = extent
        size = (max(1, round(y1 - y0)), max(1, round(x1 - x0)))
    h, w = (int(v) for v in size)
    if h <= 0 or w <= 0:
        raise PointsError(f"output size must be positive, got {w}x{h}")
    check_output_pixels((h, w), hint="set --size or --scale (the default is the extent of the points)")
    return h, w


def _render_network(model: Any, points: PointSet, size: tuple[int, int], extent: Extent,
                    runtime: Runtime | None, patch_points: int, overlap: int) -> np.ndarray:
    from srcli.models.points import render_points

    if runtime is not None:
        model = model.to(runtime.device)

    def compute(rt: Runtime | None) -> torch.Tensor:
        if rt is None:
            return render_points(model, points, size, extent, patch_points=patch_points, overlap=overlap)
        with rt.autocast():
            return render_points(model, points, size, extent, patch_points=patch_points, overlap=overlap)

    if runtime is None:
        result = compute(None)
    else:
        from srcli.device import run_with_fallback

        result, _ = run_with_fallback(runtime, compute)
    return result[0].permute(1, 2, 0).numpy()


def score(image: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """PSNR (dB, peak 1, all pixels and channels, float64) and mean absolute error.

    Raises:
        ValueError: when the shapes differ.
    """
    reference = np.asarray(reference, dtype=np.float64)
    reference = reference[:, :, None] if reference.ndim == 2 else reference
    if reference.shape != image.shape:
        raise ValueError(f"reference shape {reference.shape} differs from the output {image.shape}")
    diff = image.astype(np.float64) - reference
    mse = float(np.mean(diff * diff))
    psnr = math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)
    return {"psnr": psnr, "mae": float(np.mean(np.abs(diff)))}


def inpaint_with_points(
    image: np.ndarray,
    known: np.ndarray,
    *,
    scale: float = 1.0,
    method: str = "isp",
    model: torch.nn.Module | None = None,
    runtime: Runtime | None = None,
) -> np.ndarray:
    """Fill the missing pixels of an image (optionally rescaling it) through its known pixels.

    The known pixels become points at their pixel centres; the plane is the image's
    (``source_size = (W, H)``); the output is ``scaled_length`` of each side (round half
    up). At ``scale == 1`` the known pixels are copied into the output unchanged.

    Args:
        image: ``(H, W, C)`` or ``(H, W)`` float in [0, 1]; values at unknown pixels are ignored.
        known: ``(H, W)`` bool, True where the pixel is known.
        scale: output size factor.
        method: as in :func:`from_points`.
        model: the points network for ``isp``.

    Returns:
        ``(H', W', C)`` float32 (``(H', W')`` for a 2-D input).

    Raises:
        PointsError: fewer than 3 known pixels, all on a line, or a mask of the wrong shape.
    """
    image = np.asarray(image, dtype=np.float32)
    flat = image.ndim == 2
    image = image[:, :, None] if flat else image
    known = np.asarray(known, dtype=bool)
    h, w = image.shape[:2]
    if known.shape != (h, w):
        raise PointsError(f"the known-pixel mask is {known.shape}, the image {(h, w)}")
    rows, cols = np.nonzero(known)
    points = PointSet(np.stack([cols, rows], 1).astype(np.float64), image[rows, cols], (w, h), "0-1")
    size = (scaled_length(h, scale), scaled_length(w, scale))
    out = from_points(points, size=size, method=method, model=model, runtime=runtime).image
    if size == (h, w):
        out[known] = image[known]
    return out[:, :, 0] if flat else out
