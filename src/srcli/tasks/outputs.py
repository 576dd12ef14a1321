"""Output helpers shared by the image-producing file commands (inpaint, from-points, fit-linr).

Metrics against a reference (PSNR and SSIM of the colour channels, peak 1, whole image,
float64, :mod:`srcli.metrics`) use the output as its file stores it (rounded to the bit
depth; lossy JPEG/WebP coding not included) and integer references as exact ``k / 255``
or ``k / 65535``, so any tool comparing the two files finds the same figures.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from srcli.errors import UsageError
from srcli.io.image_formats import quantize
from srcli.io.paths import IMAGE_SUFFIXES, STDIO, Job
from srcli.tasks.batch import BatchResult

if TYPE_CHECKING:
    from srcli.io.images import Image

BIT_DEPTHS = {"keep": None, "auto": None, "8": "uint8", "16": "uint16", "32": "float32"}
_EIGHT_BIT_FORMATS = {"JPEG", "WEBP", "BMP"}


def colour(pixels: np.ndarray) -> np.ndarray:
    """The colour channels of ``(H, W, C)`` pixels (alpha of C = 2 or 4 dropped)."""
    return pixels[:, :, :-1] if pixels.shape[2] in (2, 4) else pixels


def stored_values(pixels: np.ndarray, bit_depth: str, fmt: str) -> np.ndarray:
    """``pixels`` as a file of ``fmt`` (``"PNG"``, ...) at ``bit_depth`` holds them.

    JPEG, WebP and BMP hold 8 bits, PNG at most 16 (:func:`stored_depth`).
    """
    depth = stored_depth(bit_depth, fmt)
    if depth == "float32":
        return pixels.astype(np.float32)
    levels = quantize(pixels.astype(np.float32), depth)  # the writer's rounding of its float32 pixels
    return levels.astype(np.float64) / float(np.iinfo(levels.dtype).max)


def exact_pixels(image: Image) -> np.ndarray:
    """The pixels of an integer image as exact float64 ``k / 255`` or ``k / 65535`` (float images as stored)."""
    if image.bit_depth == "float32":
        return image.pixels.astype(np.float64)
    peak = 255.0 if image.bit_depth == "uint8" else 65535.0
    return np.rint(image.pixels.astype(np.float64) * peak) / peak


def reference_metrics(output: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """PSNR (dB) and SSIM of the colour channels, peak 1, whole image (SSIM needs sides >= 11).

    Raises:
        UsageError: sizes or colour channel counts that differ.
    """
    import torch

    from srcli.metrics import psnr, ssim

    out, ref = colour(output), colour(reference)
    if out.shape != ref.shape:
        raise UsageError(f"the reference is {ref.shape[1]}x{ref.shape[0]} with {ref.shape[2]} colour channel(s), "
                         f"the output {out.shape[1]}x{out.shape[0]} with {out.shape[2]}; they must agree")

    def tensor(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float64))[None]

    metrics = {"psnr": float(psnr(tensor(out), tensor(ref), peak=1.0)[0])}
    if min(out.shape[:2]) >= 11:
        metrics["ssim"] = float(ssim(tensor(out), tensor(ref), peak=1.0)[0])
    return metrics


def output_format(dest: str, fmt: str | None) -> str:
    """The format name an output gets: ``fmt``, else the suffix of ``dest``, else PNG on stdout."""
    from srcli.io.images import format_for

    return format_for(dest, fmt or ("png" if dest == STDIO else None))


def check_output_formats(jobs: list[Job], fmt: str | None, bit_depth: str = "keep") -> None:
    """Check every planned output's encoding before any work.

    Raises:
        ImageError: an unknown format.
        UsageError: ``--format`` against an output's image suffix (``-o a.png --format
            jpeg``); an explicit ``--bit-depth`` the format cannot hold (16 in JPEG, 32
            outside TIFF).
    """
    from srcli.io.image_formats import format_for

    for job in jobs:
        encoding = output_format(job.dest, fmt)
        suffix = Path(job.dest).suffix.lower() if job.dest != STDIO else ""
        if fmt and suffix in IMAGE_SUFFIXES and format_for(job.dest) != encoding:
            raise UsageError(f"--format {fmt} conflicts with the output name {job.dest}; give only one of them")
        depth = BIT_DEPTHS.get(bit_depth)
        if depth is not None and stored_depth(depth, encoding) != depth:
            holds = "8 bits" if encoding in _EIGHT_BIT_FORMATS else "8 or 16 bits; 32 (float) needs TIFF"
            raise UsageError(f"--bit-depth {bit_depth} does not fit the {encoding} output {job.dest}: {encoding} holds {holds}")


def stored_depth(bit_depth: str, encoding: str) -> str:
    """The sample type a file of ``encoding`` (``"PNG"``, ...) holds for ``bit_depth`` pixels."""
    if encoding in _EIGHT_BIT_FORMATS:
        return "uint8"
    return "uint16" if encoding == "PNG" and bit_depth == "float32" else bit_depth


def check_one_stdin(jobs: list[Job], reads: dict[str, str | None]) -> None:
    """UsageError when stdin (``-``) would be read twice: by an input and an option, or by two options."""
    readers = [option for option, path in reads.items() if path == STDIO]
    readers += ["an input"] if any(job.source == STDIO for job in jobs) else []
    if len(readers) > 1:
        raise UsageError(f"{' and '.join(readers)} both read stdin (-); only one of them can")


def write_output(dest: str, image: Image, fmt: str | None, overwrite: bool) -> None:
    """Write ``image`` atomically in :func:`output_format` (parent folders created once the format is known)."""
    from srcli.io.images import write_image

    from srcli.io.image_writers import check_encodable

    encoding = output_format(dest, fmt)
    check_encodable(image.pixels.shape[:2], encoding)
    if dest != STDIO:
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
    write_image(dest, image, format=encoding, overwrite=overwrite)


def check_common(overwrite: bool, skip_existing: bool, bit_depth: str, scale: float | None = None) -> None:
    """Checks shared by the file commands (UsageError on conflicts and bad values)."""
    if overwrite and skip_existing:
        raise UsageError("--overwrite and --skip-existing conflict: give only one of them")
    if bit_depth not in BIT_DEPTHS:
        raise UsageError(f"unknown --bit-depth {bit_depth!r}; use {', '.join(BIT_DEPTHS)}")
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise UsageError(f"--scale must be a positive number, got {scale!r}")


def summarise(result: BatchResult) -> dict[str, Any]:
    """Counts, total seconds and mean metrics of the done rows."""
    done = [r for r in result.rows if r["status"] == "done"]
    summary: dict[str, Any] = {"inputs": len(result.rows), "done": len(done), "failed": result.failed,
                               "skipped": sum(r["status"] == "skipped" for r in result.rows),
                               "seconds": round(sum(r.get("seconds", 0.0) for r in done), 4),
                               "interrupted": result.interrupted}
    for metric in ("psnr", "ssim"):
        values = [r[metric] for r in done if metric in r]
        if values:
            summary[f"mean_{metric}"] = sum(values) / len(values)
    return summary
