"""CPU speed and memory of srcli's arbitrary-scale SR models (random weights).

Cases: the DIINN paper's runtime protocol (48x48 input to 128^2, 256^2, 512^2 outputs) and
a 512x512 input at x4; fp32 and bf16 (autocast); fast decoder path (projected first
layers) and reference path (unfold, gather, full MLP). Every configuration runs in a fresh
child process through ``srcli.tiling.upscale_tiled`` with its default tile and chunk (what
``srcli upscale`` does): one warm-up run (outputs up to 1 MP), then ``--repeats`` timed runs; the table gives
the median milliseconds, output megapixels per second, and the process's peak resident
memory (``VmHWM`` of ``/proc/self/status``: the high-water mark of RSS, which includes
torch itself, about 0.3 GB; "model+runs" subtracts the RSS measured just before the
warm-up, i.e. after importing torch and building the model).

``--cli`` also measures ``srcli upscale`` end to end on a random 1500x1500 PNG at x4 and a
4000x3000 PNG at x2 with default settings (a random-weight checkpoint saved with
``srcli.registry.save_checkpoint``): wall time and peak RSS of the child process, read
with GNU ``/usr/bin/time -f %M`` (maximum resident set size of that process).

Usage::

    PYTHONPATH=src python benchmarks/speed_models.py [--models liif a-liif diinn]
        [--cases 48:128 48:256 48:512 512:2048] [--precisions fp32 bf16]
        [--paths fast reference] [--repeats 5] [--threads 2] [--cli] [--cli-only]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ("liif", "a-liif", "diinn")
CASES = ("48:128", "48:256", "48:512", "512:2048")
#: outputs up to this many pixels get one untimed warm-up run (larger ones: first-call costs are noise)
WARM_UP_MAX_PIXELS = 1 << 20


def rss_mb(field: str) -> float:
    """``VmRSS`` or ``VmHWM`` of this process in MB (from /proc/self/status)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_child(model_name: str, case: str, precision: str, path: str, repeats: int, threads: int) -> dict[str, float]:
    """One configuration in this process; returns median ms, MP/s and memory figures."""
    import torch

    from srcli.registry import create
    from srcli.tiling import upscale_tiled

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = create(model_name).eval()
    model.fast_query = path == "fast"
    side_in, side_out = (int(v) for v in case.split(":"))
    image = torch.rand(1, 3, side_in, side_in)
    before = rss_mb("VmRSS")
    times = []
    warm_up = side_out**2 <= WARM_UP_MAX_PIXELS
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        for run in range(repeats + warm_up):
            start = time.perf_counter()
            upscale_tiled(model, image, (side_out, side_out))
            if run or not warm_up:
                times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"ms": 1000 * median, "mpix_s": side_out**2 / 1e6 / median, "peak_mb": rss_mb("VmHWM"),
            "extra_mb": rss_mb("VmHWM") - before}


def measure(model_name: str, case: str, precision: str, path: str, repeats: int, threads: int) -> dict[str, float]:
    """Run one configuration in a fresh child process (so its peak RSS is its own)."""
    command = [sys.executable, __file__, "--child", model_name, case, precision, path, str(repeats), str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=os.environ.copy())
    return json.loads(done.stdout.strip().splitlines()[-1])


def model_table(options: argparse.Namespace) -> None:
    """Print the Markdown table of all model configurations."""
    print(f"CPU, {options.threads} threads, load average {os.getloadavg()[0]:.1f}, median of {options.repeats} runs "
          f"(after one warm-up up to 1 MP); "
          f"peak = VmHWM of a fresh process (includes torch), model+runs = peak minus RSS before the runs")
    print("| model | input -> output | precision | path | median ms | output MP/s | peak RSS MB | model+runs MB |")
    print("|---|---|---|---|---|---|---|---|")
    for model_name in options.models:
        for case in options.cases:
            for precision in options.precisions:
                for path in options.paths:
                    r = measure(model_name, case, precision, path, options.repeats, options.threads)
                    side_in, side_out = case.split(":")
                    print(f"| {model_name} | {side_in}^2 -> {side_out}^2 | {precision} | {path} | {r['ms']:.1f} | "
                          f"{r['mpix_s']:.3f} | {r['peak_mb']:.0f} | {r['extra_mb']:.0f} |", flush=True)


def cli_run(arguments: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB) and exit code of one ``python -m srcli`` child process.

    The peak is GNU time's maximum resident set size (``/usr/bin/time -f %M``) where that
    exists, else ``ru_maxrss`` of ``RUSAGE_CHILDREN`` (the largest child so far).
    """
    command = [sys.executable, "-m", "srcli", *arguments]
    with tempfile.NamedTemporaryFile("r", suffix=".time") as record:
        gnu_time = Path("/usr/bin/time").is_file()
        if gnu_time:
            command = ["/usr/bin/time", "-f", "%M", "-o", record.name, *command]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        peak_kb = int(record.read().split()[-1]) if gnu_time else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode:
        print(done.stderr[-2000:], file=sys.stderr)
    return seconds, peak_kb / 1024, done.returncode


def cli_checks(options: argparse.Namespace) -> None:
    """``srcli upscale`` on 1500x1500 at x4 and 4000x3000 at x2 (random-weight LIIF checkpoint)."""
    import numpy as np
    import torch
    from PIL import Image

    from srcli.registry import create, save_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "liif-random.pt"
        torch.manual_seed(0)
        save_checkpoint(checkpoint, create(options.cli_model), {"note": "random weights, benchmark only"})
        rng = np.random.default_rng(0)
        print(f"\n`srcli upscale` with a random-weight {options.cli_model} checkpoint, default tile/chunk/precision")
        print("| input | scale | output | seconds | peak RSS MB | exit |")
        print("|---|---|---|---|---|---|")
        for width, height, scale in ((1500, 1500, 4), (4000, 3000, 2)):
            source = Path(tmp) / f"in_{width}x{height}.png"
            Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(source)
            args = ["upscale", str(source), "--model", str(checkpoint), "--scale", str(scale), "--device", "cpu",
                    "-o", str(Path(tmp) / f"out_{width}x{height}.png"), "--quiet", "--threads", str(options.threads)]
            seconds, peak, code = cli_run(args)
            print(f"| {width}x{height} | x{scale} | {width * scale}x{height * scale} | {seconds:.1f} | {peak:.0f} | "
                  f"{code} |  (load average {os.getloadavg()[0]:.1f})", flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        name, case, precision, path, repeats, threads = sys.argv[2:8]
        print(json.dumps(run_child(name, case, precision, path, int(repeats), int(threads))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--cases", nargs="+", default=list(CASES), help="INPUT_SIDE:OUTPUT_SIDE")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--paths", nargs="+", default=["fast", "reference"], choices=["fast", "reference"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cli", action="store_true", help="also measure `srcli upscale` on large images")
    parser.add_argument("--cli-only", action="store_true", help="only the `srcli upscale` measurements")
    parser.add_argument("--cli-model", default="liif", choices=MODELS)
    options = parser.parse_args()
    if not options.cli_only:
        model_table(options)
    if options.cli or options.cli_only:
        cli_checks(options)


if __name__ == "__main__":
    main()
