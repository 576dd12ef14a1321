"""Classical scattered-data interpolation onto a pixel grid (SciPy).

Methods:

* ``nearest``: value of the nearest sample (KD-tree).
* ``linear``: piecewise linear on the Delaunay triangulation.
* ``cubic``: Clough-Tocher C1 piecewise cubic on the Delaunay triangulation.
* ``rbf``: thin-plate spline radial basis functions, each output pixel fitted from its
  ``neighbors`` nearest samples (``O(N k)`` memory, never an ``N x N`` system).

Output pixel ``(i, j)`` of an ``H x W`` grid over the extent ``(x0, y0, x1, y1)`` has its
centre at ``x = x0 + (j + 0.5) (x1 - x0) / W``, ``y = y0 + (i + 0.5) (y1 - y0) / H``.
Pixels outside the convex hull of the samples (where linear and cubic are undefined) take
the nearest sample's value; a pixel centre that coincides with a sample takes that
sample's value exactly. Results are not clipped (cubic and rbf may overshoot [0, 1]).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.interpolate import CloughTocher2DInterpolator, LinearNDInterpolator, RBFInterpolator
from scipy.spatial import Delaunay, QhullError, cKDTree

from srcli.io.points import Extent, PointSet, PointsError

METHODS = ("nearest", "linear", "cubic", "rbf")
RBF_NEIGHBORS = 16
_CHUNK = 1 << 16


def pixel_centres_in_extent(size: tuple[int, int], extent: Extent) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates of an ``H x W`` grid spanning ``extent``.

    Returns:
        ``(ys (H,), xs (W,))`` in the points' pixel units.
    """
    h, w = size
    x0, y0, x1, y1 = extent
    xs = x0 + (np.arange(w) + 0.5) * ((x1 - x0) / w)
    ys = y0 + (np.arange(h) + 0.5) * ((y1 - y0) / h)
    return ys, xs


def interpolate_points(
    points: PointSet,
    size: tuple[int, int],
    extent: Extent,
    method: str = "linear",
    *,
    rbf_neighbors: int = RBF_NEIGHBORS,
) -> np.ndarray:
    """Interpolate scattered samples onto an ``H x W`` pixel grid.

    Args:
        points: the samples (validated: finite, distinct, not all on a line).
        size: output ``(H, W)``.
        extent: output outer edges ``(x0, y0, x1, y1)`` in the points' units.
        method: ``nearest``, ``linear``, ``cubic`` or ``rbf``.
        rbf_neighbors: samples per local thin-plate fit for ``rbf``.

    Returns:
        ``(H, W, C)`` float32 image.

    Raises:
        PointsError: unknown method, bad size, or a degenerate triangulation.
    """
    if method not in METHODS:
        raise PointsError(f"unknown interpolation method {method!r}; use one of {', '.join(METHODS)}")
    h, w = (int(v) for v in size)
    if h <= 0 or w <= 0:
        raise PointsError(f"output size must be positive, got {w}x{h}")
    ys, xs = pixel_centres_in_extent((h, w), extent)
    query = np.stack(np.meshgrid(xs, ys, indexing="xy"), axis=-1).reshape(-1, 2)
    values = points.values.astype(np.float64)
    tree = cKDTree(points.xy)
    out = np.empty((query.shape[0], values.shape[1]), dtype=np.float64)
    interpolator = _make_interpolator(points.xy, values, method, rbf_neighbors)
    for start in range(0, query.shape[0], _CHUNK):
        part = query[start : start + _CHUNK]
        dist, nearest = tree.query(part, k=1)
        result = values[nearest] if interpolator is None else _evaluate(interpolator, part, method, rbf_neighbors)
        gaps = np.isnan(result).any(axis=1)
        result[gaps] = values[nearest[gaps]]
        result[dist == 0] = values[nearest[dist == 0]]
        out[start : start + _CHUNK] = result
    return out.reshape(h, w, -1).astype(np.float32)


def _evaluate(interpolator: Any, part: np.ndarray, method: str, rbf_neighbors: int) -> np.ndarray:
    try:
        return interpolator(part)
    except np.linalg.LinAlgError:  # rbf: a pixel's neighbours all on one line make its local fit singular
        raise PointsError(f"{method}: the {rbf_neighbors} nearest points of some pixels lie on one line, so their "
                          "local fit is singular; use another method (linear, cubic) or more scattered points") from None


def _make_interpolator(xy: np.ndarray, values: np.ndarray, method: str, rbf_neighbors: int):  # noqa: ANN202
    """A callable ``(M, 2) -> (M, C)`` for the method, or None for nearest."""
    if method == "nearest":
        return None
    if method == "rbf":
        k = max(3, min(int(rbf_neighbors), xy.shape[0]))
        return RBFInterpolator(xy, values, neighbors=k, kernel="thin_plate_spline", degree=1)
    triangulation = delaunay(xy)
    if method == "linear":
        return LinearNDInterpolator(triangulation, values, fill_value=np.nan)
    return CloughTocher2DInterpolator(triangulation, values, fill_value=np.nan)


def delaunay(xy: np.ndarray) -> Delaunay:
    """Delaunay triangulation with its barycentric transforms computed vectorised.

    SciPy computes ``Delaunay.transform`` with one LAPACK call per triangle, which is slow
    when OpenBLAS threads compete for busy cores (5 s instead of 0.1 s for 100k triangles
    here). The same array (``(n, 3, 2)``: ``inv(T)`` then the last vertex; NaN for
    degenerate triangles) is filled in when SciPy's cache slot is there and empty.

    Raises:
        PointsError: when Qhull cannot triangulate the points.
    """
    try:
        triangulation = Delaunay(xy)
    except QhullError as exc:
        raise PointsError(f"cannot triangulate the points: {str(exc).splitlines()[0]}") from None
    if getattr(triangulation, "_transform", 0) is None:
        triangulation._transform = barycentric_transforms(triangulation.points, triangulation.simplices)
    return triangulation


def barycentric_transforms(vertices: np.ndarray, simplices: np.ndarray) -> np.ndarray:
    """Affine maps to barycentric coordinates of 2-D triangles, in SciPy's layout.

    Args:
        vertices: ``(V, 2)`` positions.
        simplices: ``(S, 3)`` vertex indices.

    Returns:
        ``(S, 3, 2)``: ``[:, :2, :]`` is ``inv(T)`` with ``T[:, :, j] = v_j - v_2`` and
        ``[:, 2, :]`` is ``v_2``; rows of degenerate triangles are NaN.
    """
    corner = vertices[simplices[:, 2]]
    t = np.stack([vertices[simplices[:, 0]] - corner, vertices[simplices[:, 1]] - corner], axis=2)
    det = t[:, 0, 0] * t[:, 1, 1] - t[:, 0, 1] * t[:, 1, 0]
    norm = np.abs(t).sum(axis=1).max(axis=1)
    flat = np.abs(det) <= 1e-13 * norm * norm
    det = np.where(flat, 1.0, det)
    inverse = np.stack([np.stack([t[:, 1, 1], -t[:, 0, 1]], 1), np.stack([-t[:, 1, 0], t[:, 0, 0]], 1)], 1) / det[:, None, None]
    out = np.concatenate([inverse, corner[:, None, :]], axis=1)
    out[flat] = np.nan
    return out
