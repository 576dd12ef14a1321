"""Seconds per LINR fit step on this machine: a 256x256 denoise fit, fp32 and bf16.

A LINR fit costs the same at every step (the whole SIREN over every canvas pixel, forward
and backward, then one Adam update), so the time of a 500-step fit is 500 times the
median step. This script times ``--steps`` steps per precision through
:func:`srcli.tasks.fit_linr.fit_linr`'s callback (one curve entry per step), takes the
median step time over the steps after the first (which pays one-off costs), and prints
that and the projected 500-step time. ``--steps 500`` measures a whole fit instead of
projecting one (the "measured" column is then the wall time of the fit).

The image is random noise (a fit's cost does not depend on the content). Peak resident
memory is ``VmHWM`` of this process.

Usage::

    PYTHONPATH=src python benchmarks/speed_linr.py [--size 256] [--steps 6]
        [--precisions fp32 bf16] [--threads 1] [--width 256] [--depth 6]
"""

from __future__ import annotations

import argparse
import statistics
import time


def _peak_rss_gib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def time_fit(size: int, steps: int, precision: str, width: int, depth: int) -> dict[str, float]:
    """Run one fit of ``steps`` steps; return the median step seconds and the wall time."""
    import torch

    from srcli.tasks.fit_linr import Observation, fit_linr

    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    stamps: list[float] = []
    dtype = torch.bfloat16 if precision == "bf16" else None
    start = time.perf_counter()
    fit_linr([Observation("denoise", image)], steps=steps, eval_every=1, width=width, depth=depth,
             autocast_dtype=dtype, callback=lambda entry: stamps.append(time.perf_counter()) and None)
    wall = time.perf_counter() - start
    deltas = [b - a for a, b in zip(stamps, stamps[1:])]
    step_s = statistics.median(deltas) if deltas else wall / steps
    return {"step_s": step_s, "wall_s": wall}


def main() -> None:
    """Parse the options, time each precision, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--depth", type=int, default=6)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    print(f"{args.size}x{args.size} denoise fit, SIREN {args.width}x{args.depth}, {args.threads} thread(s), "
          f"{args.steps} steps timed per precision, torch {torch.__version__}")
    print("| precision | median s/step | 500 steps (s, projected) | wall of the timed fit (s) | peak RSS (GiB) |")
    print("|---|---|---|---|---|")
    for precision in args.precisions:
        row = time_fit(args.size, args.steps, precision, args.width, args.depth)
        print(f"| {precision} | {row['step_s']:.2f} | {500 * row['step_s']:.0f} | {row['wall_s']:.1f} | "
              f"{_peak_rss_gib():.2f} |", flush=True)


if __name__ == "__main__":
    main()
