"""Wall time and peak memory of ``srcli from-points`` on this machine, one process per run.

Each case samples ``round(ratio * S * S)`` points of an ``S x S`` image (irregular positions,
as ``srcli sample-points --irregular``), writes them as NPY, then runs ``srcli from-points PTS --size SxS
--method M`` as a child process (so start-up, file reading, the KD-tree, rendering and the
PNG write all count, as for a user). The image is smooth random texture (zoomed noise): the
cost does not depend on the content. The seconds are the child's wall time; the memory is
its peak resident set (the child's ``ru_maxrss`` from ``wait4``, torch included; the points
are written by another child, so the parent, whose peak a child inherits, stays small). Repeats give the median.

The default cases are the issue's: a 512 x 512 image from about 52,000 points (ratio 0.2),
and two million points (a 3162 x 3162 image at ratio 0.2) to show that memory stays bounded:
the points network renders overlapping patches of about 2304 points, the classical methods
work on the whole set.

Usage::

    python benchmarks/speed_points.py [--cases 512:0.2 3162:0.2] [--methods isp linear cubic]
        [--threads 2] [--precision bf16] [--repeats 1] [--weights CKPT] [--report out.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_points(side: int, ratio: float, path: Path) -> int:
    """Sample a smooth random ``side x side`` RGB image into an NPY point file; returns the count.

    Runs in a child process of :func:`main` (``--write-points``), so the timing parent
    never grows: on Linux a child's ``ru_maxrss`` starts from its parent's peak.
    """
    import numpy as np
    from scipy.ndimage import zoom

    sys.path.insert(0, str(ROOT / "src"))
    from srcli.io.point_sampling import sample_points

    noise = np.random.default_rng(0).random((side // 8 + 2, side // 8 + 2, 3), dtype=np.float32)
    image = np.clip(zoom(noise, (8, 8, 1), order=3)[:side, :side], 0, 1)
    points = sample_points(image, ratio, irregular=True, seed=0)
    np.save(path, np.concatenate([points.xy, points.values], axis=1))
    return len(points)


def prepared_points(side: int, ratio: float, folder: Path) -> tuple[Path, int]:
    """The point file of a case, written by a child process; returns (path, count)."""
    path = folder / f"pts_{side}_{ratio:g}.npy"
    done = subprocess.run([sys.executable, __file__, "--write-points", str(side), str(ratio), str(path)],
                          capture_output=True, text=True, check=True)
    return path, int(done.stdout.strip())


def run_once(points: Path, side: int, method: str, threads: int, precision: str, weights: str | None,
             folder: Path) -> tuple[float, float]:
    """One ``srcli from-points`` child: (wall seconds, peak RSS in MiB from ``wait4``; the parent
    stays at a few MiB, so the figure is the child's)."""
    command = [sys.executable, "-m", "srcli", "from-points", str(points), "--size", f"{side}x{side}",
               "--source-size", f"{side}x{side}", "--method", method, "--threads", str(threads),
               "--precision", precision,
               "-o", str(folder / f"out_{method}.png"), "--overwrite", "--quiet"]
    if weights and method == "isp":
        command += ["--weights", weights]
    with open(folder / "stderr.txt", "w+") as stderr:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr,
                                 env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        _pid, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            stderr.seek(0)
            raise SystemExit(f"{' '.join(command)} failed ({code}):\n{stderr.read()}")
    return wall, usage.ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    """Parse the arguments, run every case and method, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", default=["512:0.2", "3162:0.2"], help="SIDE:RATIO items")
    parser.add_argument("--methods", nargs="+", default=["isp", "linear", "cubic"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="bf16", help="passed to from-points (auto, fp32, bf16)")
    parser.add_argument("--write-points", nargs=3, metavar=("SIDE", "RATIO", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--weights", default=None, help="isp-points checkpoint (default: the shipped one)")
    parser.add_argument("--report", type=Path, default=None, help="also write the table to this Markdown file")
    args = parser.parse_args()
    if args.write_points:
        side, ratio, path = args.write_points
        print(write_points(int(side), float(ratio), Path(path)))
        return

    lines = [f"threads {args.threads}, precision {args.precision}, repeats {args.repeats} "
             "(median seconds, largest peak RSS)",
             "", "| points | output | method | seconds | peak RSS MiB |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            side, ratio = int(case.split(":")[0]), float(case.split(":")[1])
            path, count = prepared_points(side, ratio, Path(tmp))
            for method in args.methods:
                runs = [run_once(path, side, method, args.threads, args.precision, args.weights, Path(tmp)) for _ in range(args.repeats)]
                wall = statistics.median(r[0] for r in runs)
                lines.append(f"| {count:,} | {side}x{side} | {method} | {wall:.1f} | {max(r[1] for r in runs):.0f} |")
                print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.report:
        args.report.write_text(text)


if __name__ == "__main__":
    main()
