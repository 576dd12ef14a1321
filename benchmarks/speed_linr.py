"""Seconds per LINR fit step on this machine, fp32 and bf16, for each way of fitting.

Modes (``--modes``, space-separated):

* ``denoise``: the paper's full batch, the whole SIREN over every canvas pixel.
* ``denoise-batch:N``: the same with ``N`` random pixels per step (``--batch N``).
* ``inpaint:KEEP``: a mask keeping the fraction ``KEEP``; the fit evaluates the SIREN on
  the known pixels only (the same fit as the full canvas).
* ``deblur``: full batch through LINR's 25x25 Gaussian blur (sigma 1.6).
* ``deblur-crop:N``: the same with one random ``N x N`` window per step (``--crop N``).

A step costs the same all along a fit, so the step time is measured as the difference of
two fits of ``--steps`` and ``2 * --steps`` steps divided by ``--steps``: the start-up,
the curve entries that need a whole-canvas pass (every 25 steps) and the final render
cancel out except for their per-step share. The 500-step column projects a fit of 500
steps (4000 for the deblur modes, the paper's counts) as that step time times the count,
plus the measured fixed cost. The image is random noise (the cost does not depend on the
content). Each row runs in a fresh child process; its peak resident memory is the child's
``VmHWM``. ``--compile off on`` times each row eagerly and through ``torch.compile``
(``fit-linr --compile``); compiling is a fixed cost, paid again by every new process (less
once inductor's cache holds the code). ``--chunks 0 auto`` times each row with the SIREN
run over all coordinates in one pass (0) and in chunks whose activations are recomputed
in the backward pass (``fit-linr --chunk``: a number, or ``auto``, which keeps one pass
while it takes at most a quarter of the free memory).

Usage::

    PYTHONPATH=src python benchmarks/speed_linr.py [--size 256 | --size 768x512] [--steps 10]
        [--modes denoise denoise-batch:16384 inpaint:0.1 deblur deblur-crop:128] [--precisions fp32 bf16]
        [--threads 1] [--width 256] [--depth 6] [--compile off on] [--chunks 0 auto]
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor


def _peak_rss_gib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def _observation(mode: str, hw: tuple[int, int]):  # noqa: ANN202 (srcli's Observation, imported lazily)
    """The observation of a mode and its sampling, ``("batch" or "crop", N)`` or None."""
    import torch

    from srcli.tasks.fit_linr import Observation
    from srcli.tasks.forward_models import parse_blur_kernel

    image = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(0))
    name, _, value = mode.partition(":")
    if name == "denoise":
        return Observation("denoise", image), None
    if name == "denoise-batch":
        return Observation("denoise", image), ("batch", int(value))
    if name == "inpaint":
        keep = torch.rand(*hw, generator=torch.Generator().manual_seed(1)) < float(value)
        return Observation("inpaint", image * keep, mask=keep), None
    if name in ("deblur", "deblur-crop"):
        sampling = ("crop", int(value)) if name == "deblur-crop" else None
        return Observation("deblur", image, kernel=parse_blur_kernel("gauss:25:1.6")), sampling
    raise SystemExit(f"unknown mode {mode!r}")


def time_mode(mode: str, hw: tuple[int, int], steps: int, precision: str, width: int, depth: int,
              compile_mode: str = "off", chunk: str = "0", threads: int = 1) -> dict[str, float]:
    """Seconds per step (difference of a ``steps`` and a ``2 * steps`` fit), the fixed cost, peak RSS."""
    import torch

    from srcli.tasks.fit_linr import fit_linr
    from srcli.tasks.linr_files import parse_chunk

    torch.set_num_threads(threads)
    observation, sampling = _observation(mode, hw)
    options = {"width": width, "depth": depth, "autocast_dtype": torch.bfloat16 if precision == "bf16" else None,
               "compile_mode": compile_mode, "chunk": parse_chunk(chunk)}
    if sampling is not None:
        options[sampling[0]] = sampling[1]
    start = time.perf_counter()
    fit_linr([observation], steps=1, **options)  # one-off costs (compiling among them)
    first_s = time.perf_counter() - start
    walls = []
    for n in (steps, 2 * steps):
        start = time.perf_counter()
        fit_linr([observation], steps=n, **options)
        walls.append(time.perf_counter() - start)
    step_s = (walls[1] - walls[0]) / steps
    return {"step_s": step_s, "fixed_s": max(walls[0] - steps * step_s, 0.0), "first_s": first_s,
            "peak_gib": _peak_rss_gib()}


def _size(text: str) -> tuple[int, int]:
    """``"256"`` -> ``(256, 256)``; ``"768x512"`` (W x H, :func:`srcli.geometry.parse_size`) -> ``(512, 768)``."""
    from srcli.geometry import parse_size

    if text.strip().isdigit():
        return int(text), int(text)
    width, height = parse_size(text)
    return height, width


def main() -> None:
    """Parse the options, time each mode and precision, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=_size, default=(256, 256), help="N (square) or WxH")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--modes", nargs="+", default=["denoise", "denoise-batch:16384", "inpaint:0.1", "deblur",
                                                          "deblur-crop:128"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--compile", nargs="+", default=["off", "on"], choices=["off", "on"])
    parser.add_argument("--chunks", nargs="+", default=["0", "auto"], help="0 (one pass), auto, or a number")
    args = parser.parse_args()

    import torch

    h, w = args.size
    print(f"{w}x{h} fits, SIREN {args.width}x{args.depth}, {args.threads} thread(s), "
          f"fits of {args.steps} and {2 * args.steps} steps per row, torch {torch.__version__}")
    print("| mode | precision | compile | chunk | s/step | first 1-step fit (s) | paper's step count | fit (s, projected) "
          "| peak RSS (GiB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    context = multiprocessing.get_context("spawn")
    for mode in args.modes:
        count = 4000 if mode.startswith("deblur") else 500
        for precision in args.precisions:
            for compile_mode in args.compile:
                for chunk in args.chunks:
                    with ProcessPoolExecutor(1, mp_context=context) as child:  # a fresh process: its own peak RSS
                        row = child.submit(time_mode, mode, args.size, args.steps, precision, args.width, args.depth,
                                           compile_mode, chunk, args.threads).result()
                    print(f"| {mode} | {precision} | {compile_mode} | {chunk} | {row['step_s']:.3f} | {row['first_s']:.1f} "
                          f"| {count} | {count * row['step_s'] + row['fixed_s']:.0f} | {row['peak_gib']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
