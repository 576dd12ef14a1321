"""Speed benchmarks (``srcli bench speed``): milliseconds, megapixels per second, peak memory.

Protocol (the DIINN paper's by default): a random ``(1, 3, N, N)`` input (N = 48), every
model asked for each output size (128², 256², 512²) through the same path as ``srcli
upscale`` (:func:`srcli.tasks.upscale.upscale_tensor`, tiling and precision included).
``warmup`` untimed runs, then ``repeats`` timed runs; on CUDA each timed run is bracketed
by ``torch.cuda.synchronize``. Reported: median ms with the inter-quartile range and
min/max, output megapixels per second at the median, and peak memory.

Peak memory, per configuration, over the timed runs (after the warm-up, so one-time
initialisation such as plan caches and thread pools is not counted):

* CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus the
  memory allocated before the timed runs (model and input already on the device).
* CPU: the increase of the process's resident set: Linux's ``VmHWM`` (peak RSS) after the
  runs minus ``VmRSS`` before them, the peak being reset by writing ``5`` to
  ``/proc/self/clear_refs`` after garbage collection and glibc's ``malloc_trim(0)`` (which
  hands freed heap memory back, so memory freed by earlier configurations cannot be reused
  unseen). ``isolate`` runs each configuration in a fresh Python process instead, for a
  figure that cannot depend on earlier configurations at all (slower: one torch import
  each). Where ``/proc`` is missing (not Linux) the memory column is empty.
"""

from __future__ import annotations

import ctypes
import gc
import json
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

DEFAULT_MODELS = "bicubic,lanczos3,bilinear,nearest"
DEFAULT_OUTPUTS = (128, 256, 512)


@dataclass(frozen=True)
class SpeedConfig:
    """One timed configuration.

    Attributes:
        model: registry name or checkpoint path.
        weights: checkpoint overriding the shipped weights, or None.
        device: ``cpu``, ``cuda[:N]`` or ``auto``.
        precision: ``fp32``, ``bf16``, ``fp16`` or ``auto``.
        input_hw: input ``(H, W)``.
        output_hw: output ``(H, W)``.
        repeats: timed runs.
        warmup: untimed runs first.
        threads: CPU threads (None: torch's default).
        seed: seed of the random input.
    """

    model: str
    weights: str | None
    device: str
    precision: str
    input_hw: tuple[int, int]
    output_hw: tuple[int, int]
    repeats: int = 5
    warmup: int = 1
    threads: int | None = None
    seed: int = 0


def _proc_status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_cpu_peak() -> int | None:
    """Collect garbage, trim the heap, reset the peak RSS; return the RSS now (KiB) or None."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return None
    return _proc_status_kib("VmRSS")


def cpu_peak_increase_mb(rss_before_kib: int | None) -> float | None:
    """Peak RSS (VmHWM) since :func:`reset_cpu_peak` minus the RSS then, in MiB."""
    peak = _proc_status_kib("VmHWM")
    if rss_before_kib is None or peak is None:
        return None
    return max(0, peak - rss_before_kib) / 1024


def timing_stats(ms: list[float]) -> dict[str, float]:
    """Median, quartiles (inclusive method), min and max of ``ms``."""
    if len(ms) >= 2:
        q1, _q2, q3 = statistics.quantiles(ms, n=4, method="inclusive")
    else:
        q1 = q3 = ms[0]
    return {"ms_median": statistics.median(ms), "ms_q1": q1, "ms_q3": q3, "ms_min": min(ms), "ms_max": max(ms)}


def measure_config(cfg: SpeedConfig) -> dict[str, Any]:
    """Time one configuration in this process and return its report row."""
    import torch

    from srcli.device import make_runtime
    from srcli.registry import load_model
    from srcli.tasks.upscale import upscale_tensor

    runtime = make_runtime(cfg.device, cfg.precision, cfg.threads)
    model, _card = load_model(cfg.model, cfg.weights)
    model = model.to(runtime.device).eval()
    generator = torch.Generator().manual_seed(cfg.seed)
    image = torch.rand((1, 3, *cfg.input_hw), generator=generator).to(runtime.device)
    cuda = runtime.device.type == "cuda"

    def once() -> None:
        upscale_tensor(image, cfg.output_hw, model, runtime=runtime)

    for _ in range(cfg.warmup):
        once()
    if cuda:
        torch.cuda.synchronize(runtime.device)
        torch.cuda.reset_peak_memory_stats(runtime.device)
        before = torch.cuda.memory_allocated(runtime.device)
    else:
        rss_before = reset_cpu_peak()
    ms = [_timed(once, cuda, runtime.device) for _ in range(cfg.repeats)]
    if cuda:
        peak_mb: float | None = (torch.cuda.max_memory_allocated(runtime.device) - before) / 2**20
        method = "cuda max_memory_allocated"
    else:
        peak_mb, method = cpu_peak_increase_mb(rss_before), "RSS peak increase"
    stats = timing_stats(ms)
    megapixels = cfg.output_hw[0] * cfg.output_hw[1] / 1e6
    return {"model": cfg.model, **runtime.describe(), "input": f"{cfg.input_hw[1]}x{cfg.input_hw[0]}",
            "output": f"{cfg.output_hw[1]}x{cfg.output_hw[0]}", "scale": round(cfg.output_hw[0] / cfg.input_hw[0], 4),
            "warmup": cfg.warmup, "repeats": cfg.repeats, **{k: round(v, 4) for k, v in stats.items()},
            "mpix_per_s": round(megapixels / (stats["ms_median"] / 1000), 3) if stats["ms_median"] > 0 else float("inf"),
            "peak_mem_mb": None if peak_mb is None else round(peak_mb, 2), "memory": method}


def _timed(once: Callable[[], None], cuda: bool, device: Any) -> float:
    import torch

    if cuda:
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    once()
    if cuda:
        torch.cuda.synchronize(device)
    return (time.perf_counter() - started) * 1000


def measure_isolated(cfg: SpeedConfig) -> dict[str, Any]:
    """Run :func:`measure_config` in a fresh Python process (``python -m srcli.tasks.bench_speed``).

    Raises:
        SrcliError: when the child process fails (its last stderr line is the message).
    """
    import os

    import srcli
    from srcli.errors import SrcliError

    env = dict(os.environ)
    package_root = str(Path(srcli.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-m", "srcli.tasks.bench_speed", json.dumps(asdict(cfg))],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["no message"]
        raise SrcliError(f"speed run of {cfg.model} ({cfg.precision}) failed: {lines[-1]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["memory"] += " (fresh process)"
    return row


def plan_speed(models: list[str], *, input_size: int = 48, outputs: list[int] | None = None,
               scales: list[float] | None = None, device: str = "auto", precisions: list[str] | None = None,
               repeats: int = 5, warmup: int = 1, threads: int | None = None,
               weights: dict[str, str] | None = None) -> list[SpeedConfig]:
    """Check the options of ``bench speed`` and list its configurations (model, precision, output).

    Outputs are square sides; ``scales`` instead asks for ``floor(scale * input + 0.5)``.

    Raises:
        UsageError, DeviceError, RegistryError: bad values, or a model that cannot be loaded.
    """
    from srcli.device import make_runtime
    from srcli.errors import UsageError
    from srcli.geometry import check_output_pixels, scaled_length
    from srcli.tasks.bench_upscale import load_upscaler

    if outputs and scales:
        raise UsageError("--output and --scale conflict: give only one of them")
    if input_size < 1 or repeats < 1 or warmup < 0:
        raise UsageError("--input and --repeats must be at least 1 and --warmup at least 0")
    sides = [scaled_length(input_size, s) for s in scales] if scales else list(outputs or DEFAULT_OUTPUTS)
    if any(side < 1 for side in sides):
        raise UsageError(f"output sizes must be positive, got {sides}")
    for side in (input_size, *sides):
        check_output_pixels((side, side), "a benchmark image", "lower --input, --output or --scale")
    weights = dict(weights or {})
    if any(name not in models for name in weights):
        raise UsageError(f"--weights names a model that is not among --model {','.join(models)}")
    runtimes = [make_runtime(device, p, threads) for p in precisions or ["fp32"]]
    for name in models:
        load_upscaler(name, weights.get(name))
    return [SpeedConfig(name, weights.get(name), str(rt.device), rt.precision, (input_size, input_size), (side, side),
                        repeats, warmup, rt.threads)
            for name in models for rt in runtimes for side in sides]


def bench_speed(configs: list[SpeedConfig], *, isolate: bool = False,
                progress: Any = None) -> dict[str, Any]:
    """Run every configuration and return the report (one row per configuration).

    Args:
        configs: from :func:`plan_speed`.
        isolate: run each configuration in a fresh process (CPU memory independent of the others).
        progress: an object with ``advance()`` or None.
    """
    from srcli.io.reports import make_report

    rows = []
    for cfg in configs:
        rows.append(measure_isolated(cfg) if isolate else measure_config(cfg))
        if progress is not None:
            progress.advance()
    first = rows[0] if rows else {}
    runtime = {k: first[k] for k in ("device", "threads") if k in first}
    summary = {"configurations": len(rows), "models": list(dict.fromkeys(c.model for c in configs)),
               "fastest": min(rows, key=lambda r: r["ms_median"])["model"] if rows else None}
    return make_report("bench speed", rows, runtime=runtime, summary=summary,
                       protocol="random 1x3 input; warm-up, then timed runs (CUDA synchronised); "
                                "median ms, IQR, min/max; output Mpx/s at the median; peak memory over the timed runs")


def _main(argv: list[str]) -> int:
    """Child-process entry: one JSON :class:`SpeedConfig` in, one JSON row out."""
    raw = json.loads(argv[0])
    raw["input_hw"], raw["output_hw"] = tuple(raw["input_hw"]), tuple(raw["output_hw"])
    sys.stdout.write(json.dumps(measure_config(SpeedConfig(**raw))) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
