"""Benchmark pictures: PSNR-against-scale charts (matplotlib) and crop grids (Pillow).

* :func:`plot_quality` draws one PNG per dataset, one line per model, from the mean rows
  of ``bench quality``. matplotlib is an optional extra (``pip install srcli[plot]``).
* :func:`crops_grid` cuts the same region out of the ground truth, the bicubic baseline
  and each model's output (upscale task protocol of :mod:`srcli.tasks.bench`), enlarges
  each crop with nearest neighbour, and lays them side by side with a label holding the
  method and the Y-PSNR of that crop (no shave: the region is the user's). Pillow only.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srcli.errors import UsageError
from srcli.io.atomic import atomic_write

PANEL_SIDE = 256  # default longest side of an enlarged crop, in pixels
LABEL_HEIGHT = 40
GAP = 8
MAX_COLUMNS = 6


def require_matplotlib() -> Any:
    """Import matplotlib with the Agg backend and return ``pyplot``.

    Raises:
        UsageError: matplotlib is not installed (the message names ``pip install srcli[plot]``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib, which is not installed: pip install srcli[plot]") from None
    return plt


def check_plot_folder(plot: str, datasets: list[str]) -> None:
    """UsageError, before a benchmark runs, for a ``--plot`` folder that is a file or a data set
    folder (its charts would replace or join the ground truth images)."""
    folder = Path(plot)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--plot {plot} is a file; give a folder for the charts")
    for dataset in datasets:
        if Path(dataset).is_dir() and folder.resolve() == Path(dataset).resolve():
            raise UsageError(f"--plot {plot} is the data set folder {dataset}; the charts would join its images")


def _safe_name(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)


def plot_quality(means: list[dict[str, Any]], out_dir: str | Path, *, setting_name: str = "scale",
                 metric: str = "psnr") -> list[Path]:
    """Write ``<dataset>_<metric>.png`` per dataset: ``metric`` against the setting, a line per model.

    Args:
        means: mean rows of ``bench quality`` (``dataset``, ``model``, setting, metric).
        out_dir: folder for the PNGs (created when missing).
        setting_name: x axis column.
        metric: y axis column.

    Returns:
        The written paths, in dataset order.
    """
    plt = require_matplotlib()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    datasets = list(dict.fromkeys(r["dataset"] for r in means))
    written = []
    for dataset in datasets:
        rows = [r for r in means if r["dataset"] == dataset and metric in r and math.isfinite(r[metric])]
        fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
        for model in dict.fromkeys(r["model"] for r in rows):
            points = sorted((r[setting_name], r[metric]) for r in rows if r["model"] == model)
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=model)
        label = metric.upper().replace("_", "-")
        ax.set_xlabel(setting_name)
        ax.set_ylabel(f"{label} (dB)" if "psnr" in metric else label)
        ax.set_title(f"{dataset}: mean {label} against {setting_name}")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = out / f"{_safe_name(dataset)}_{_safe_name(metric)}.png"
        try:
            atomic_write(path, lambda fh: fig.savefig(fh, format="png"))
        finally:
            plt.close(fig)
        written.append(path)
    return written


def parse_box(text: str) -> tuple[int, int, int, int]:
    """Parse ``--box x,y,w,h`` (integers, w and h positive).

    Raises:
        UsageError: anything else.
    """
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().lstrip("-").isdigit() for p in parts):
        raise UsageError(f"--box takes x,y,w,h in pixels, e.g. 100,80,64,64; got {text!r}")
    x, y, w, h = (int(p) for p in parts)
    if x < 0 or y < 0 or w < 1 or h < 1:
        raise UsageError(f"--box needs x, y >= 0 and w, h >= 1; got {text!r}")
    return x, y, w, h


def _to_rgb_uint8(image: torch.Tensor) -> np.ndarray:
    """``(1, C, h, w)`` in [0, 1] -> ``(h, w, 3)`` uint8 (grey replicated)."""
    pixels = (image[0].clamp(0, 1) * 255 + 0.5).floor().to(torch.uint8).permute(1, 2, 0).numpy()
    return np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def compose_grid(panels: list[tuple[str, np.ndarray]], zoom: int) -> np.ndarray:
    """Enlarge each ``(label, (h, w, 3) uint8)`` panel by ``zoom`` and lay them out with labels below.

    Returns:
        ``(H, W, 3)`` uint8 grid, white background, at most :data:`MAX_COLUMNS` panels per row.
    """
    from PIL import Image as PILImage, ImageDraw

    h, w = panels[0][1].shape[:2]
    cell_w, cell_h = w * zoom, h * zoom + LABEL_HEIGHT
    columns = min(len(panels), MAX_COLUMNS)
    rows = math.ceil(len(panels) / columns)
    canvas = PILImage.new("RGB", (GAP + columns * (cell_w + GAP), GAP + rows * (cell_h + GAP)), "white")
    draw = ImageDraw.Draw(canvas)
    font = _font(14)
    for index, (label, pixels) in enumerate(panels):
        left = GAP + (index % columns) * (cell_w + GAP)
        top = GAP + (index // columns) * (cell_h + GAP)
        canvas.paste(PILImage.fromarray(pixels).resize((cell_w, h * zoom), PILImage.NEAREST), (left, top))
        for line_no, line in enumerate(label.split("\n")):
            width = draw.textlength(line, font=font)
            draw.text((left + max(0.0, (cell_w - width) / 2), top + h * zoom + 4 + 17 * line_no), line, fill="black", font=font)
    return np.asarray(canvas)


def crops_grid(image_path: str, output: str, *, scale: float, box: tuple[int, int, int, int], models: list[str],
               weights: dict[str, str] | None = None, zoom: int | None = None, device: str = "auto",
               precision: str = "fp32", overwrite: bool = False) -> dict[str, Any]:
    """Write a side-by-side grid of one region: ground truth, bicubic, then each model.

    Args:
        image_path: the ground-truth image.
        output: the grid file (PNG recommended).
        scale: SR factor; LR made by the ``upscale`` bench task (mod crop, MATLAB bicubic, 8 bits).
        box: ``(x, y, w, h)`` in pixels of the mod-cropped ground truth.
        models: methods after bicubic (bicubic itself is always shown once).
        weights: method name -> checkpoint.
        zoom: integer enlargement of each crop (default: longest side about 256 px).
        device, precision: see :func:`srcli.device.make_runtime`.
        overwrite: replace an existing ``output``.

    Returns:
        ``{"output", "box", "zoom", "panels": [{"label", "psnr"}]}``; PSNR on Y (grey: the
        grey values), 255 peak, over the crop; None for the ground truth.

    Raises:
        UsageError: a box outside the image, a bad scale or zoom; RegistryError for models.
    """
    from srcli.device import make_runtime
    from srcli.io.images import Image, read_image, write_image
    from srcli.metrics import psnr
    from srcli.tasks.bench import BenchContext, load_methods, plan_quality
    from srcli.tasks.bench_upscale import UPSCALE_TASK, channel_kwargs

    plan = plan_quality("upscale", ",".join(dict.fromkeys(["bicubic", *models])), f"{scale!r}")
    if zoom is not None and zoom < 1:
        raise UsageError(f"--zoom must be at least 1, got {zoom}")
    gt = UPSCALE_TASK.prepare(read_image(image_path).to_tensor(), plan.settings[0], plan.options)
    x, y, w, h = box
    if x + w > gt.shape[-1] or y + h > gt.shape[-2]:
        raise UsageError(f"--box {x},{y},{w},{h} leaves the {gt.shape[-1]}x{gt.shape[-2]} (mod-cropped) image")
    methods = load_methods(plan, weights)
    obs = UPSCALE_TASK.degrade(gt, plan.settings[0], 0, plan.options)
    ctx = BenchContext(make_runtime(device, precision))
    region = (..., slice(y, y + h), slice(x, x + w))
    panels = [("ground truth", _to_rgb_uint8(gt[region]), None)]
    for name, method in methods.items():
        crop = UPSCALE_TASK.restore(obs, method, plan.settings[0], ctx, plan.options).cpu()[region]
        value = float(psnr(crop, gt[region], **channel_kwargs(gt, plan.options)))
        panels.append((f"{name}\n{value:.2f} dB", _to_rgb_uint8(crop), value))
    zoom = zoom or max(1, PANEL_SIDE // max(w, h))
    grid = compose_grid([(label, pixels) for label, pixels, _ in panels], zoom)
    write_image(output, Image(grid.astype(np.float32) / 255, "uint8"), overwrite=overwrite)
    return {"output": output, "box": [x, y, w, h], "zoom": zoom,
            "panels": [{"label": label.split("\n")[0], "psnr": value} for label, _, value in panels]}
