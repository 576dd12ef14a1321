"""Median wall time of `srcli --help` (and `srcli completions bash`) over N fresh processes.

Usage: python benchmarks/cli_startup.py [N]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def median_seconds(args: list[str], runs: int) -> tuple[float, float, float]:
    """Median, min and max wall seconds of running ``args`` ``runs`` times."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    for label, args in (("srcli --help", ["srcli", "--help"]), ("srcli upscale --help", ["srcli", "upscale", "--help"])):
        med, lo, hi = median_seconds(args, n)
        print(f"{label:24s} median {med * 1000:7.1f} ms  (min {lo * 1000:.1f}, max {hi * 1000:.1f}, n={n})")
