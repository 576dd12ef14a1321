"""The project's sampling helper: scattered samples of an image, at pixel centres or anywhere.

Values at positions between pixel centres are Keys bicubic (a = -0.5, borders replicated).
"""

from __future__ import annotations

import math

import numpy as np

from srcli.io.point_sets import CHANNEL_NAMES, PointsError, PointSet, validate_point_set


def sample_points(image: np.ndarray, ratio: float, *, irregular: bool = False, seed: int = 0) -> PointSet:
    """Sample ``round(ratio * H * W)`` points of an image (the project's sampling helper).

    Integer mode draws distinct pixel centres; the values are the pixels' exactly.
    Irregular mode draws positions uniformly in the plane ``[-0.5, W - 0.5) x [-0.5, H - 0.5)``
    and takes Keys bicubic values (a = -0.5, the srcli/MATLAB bicubic; borders replicated;
    clipped to [0, 1]). ISP2HRNet made its data with OpenCV's bicubic (a = -0.75).
    In both modes the first samples lie in the four corner pixels, so the pixel-cover rule
    of :func:`srcli.io.point_extents.resolve_extent` recovers the source plane from the points alone.

    Args:
        image: ``(H, W, C)`` or ``(H, W)`` float values in [0, 1].
        ratio: samples per pixel, in (0, 1] for integer mode, > 0 for irregular mode.
        seed: seed of the NumPy random generator; equal seeds give equal samples.

    Returns:
        A point set with ``source_size = (W, H)`` and ``value_range = "0-1"``.
    """
    image = np.asarray(image, dtype=np.float64)
    image = image[:, :, None] if image.ndim == 2 else image
    if image.ndim != 3 or image.shape[2] not in CHANNEL_NAMES:
        raise PointsError(f"an image to sample is (H, W, C) with C in 1, 3, 4; got shape {image.shape}")
    h, w = image.shape[:2]
    count = math.floor(ratio * h * w + 0.5) if ratio > 0 and math.isfinite(ratio) else 0
    if count < 3 or (not irregular and ratio > 1):
        raise PointsError(f"ratio {ratio!r} gives {count} samples of {h * w} pixels; need at least 3"
                          + ("" if irregular else " and a ratio <= 1 (use irregular sampling for more)"))
    rng = np.random.default_rng(seed)
    corners = np.unique(np.array([0, w - 1, (h - 1) * w, h * w - 1]))[:count]
    if irregular:
        cells = np.concatenate([corners, rng.integers(0, h * w, count - corners.size)])
        xy = np.stack([cells % w, cells // w], axis=1) + rng.uniform(-0.5, 0.5, size=(count, 2))
        values = np.clip(bicubic_at(image, xy), 0.0, 1.0)
    else:
        others = np.setdiff1d(np.arange(h * w), corners)
        cells = np.concatenate([corners, rng.choice(others, count - corners.size, replace=False)])
        xy = np.stack([cells % w, cells // w], axis=1).astype(np.float64)
        values = image.reshape(h * w, -1)[cells]
    return validate_point_set(PointSet(xy, values.astype(np.float32), (w, h), "0-1"))


def keys_weights(t: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys cubic-convolution weights of the 4 taps at offsets ``-1, 0, 1, 2`` from ``floor``.

    Args:
        t: ``(...)`` fractional parts in [0, 1).

    Returns:
        ``(..., 4)`` weights summing to 1.
    """
    d = np.abs(np.stack([t + 1, t, 1 - t, 2 - t], axis=-1))
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def bicubic_at(image: np.ndarray, xy: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys bicubic values of ``image (H, W, C)`` at positions ``xy (N, 2)`` (pixel units,
    integers are pixel centres); borders are replicated.

    Returns:
        ``(N, C)`` float64 values.
    """
    h, w = image.shape[:2]
    base = np.floor(xy).astype(np.int64)
    wx, wy = keys_weights(xy[:, 0] - base[:, 0], a), keys_weights(xy[:, 1] - base[:, 1], a)
    taps = np.arange(-1, 3)
    cols = np.clip(base[:, :1] + taps, 0, w - 1)  # (N, 4)
    rows = np.clip(base[:, 1:] + taps, 0, h - 1)
    patch = image[rows[:, :, None], cols[:, None, :]]  # (N, 4, 4, C)
    return np.einsum("ni,nj,nijc->nc", wy, wx, patch)
