"""Side-by-side check of srcli's LIIF against the official LIIF code (github.com/yinboc/liif).

Builds the official EDSR-baseline LIIF with seeded random weights, saves it in the official
checkpoint format, loads that file with ``srcli.registry.load_model``, runs both on the same
random 48x48 input to each output size, and reports the largest absolute difference (must
be at most 1e-4) and the median CPU time of each over the same runs (fp32, 2 threads).

The official code is never copied into srcli: pass the path of a checkout of it, e.g.::

    git --git-dir=/path/to/liif.git archive HEAD | tar -x -C /tmp/liif_official
    PYTHONPATH=src python benchmarks/compare_official_liif.py /tmp/liif_official

Modules the official package imports but this comparison does not use (tensorboardX, yaml,
tqdm, its ``datasets`` package, which needs torchvision) are stubbed in ``sys.modules``, and
its hard-coded ``.cuda()`` is made a no-op on CPU tensors.

Usage: compare_official_liif.py OFFICIAL_DIR [--sizes 96 192] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import warnings
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any, Callable

import torch

TOLERANCE = 1e-4
OFFICIAL_ARGS: dict[str, Any] = {
    "encoder_spec": {"name": "edsr-baseline", "args": {"no_upsampling": True}},
    "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": [256, 256, 256, 256]}},
}


def import_official(official_dir: Path) -> tuple[Any, Callable[..., torch.Tensor], Callable[..., torch.Tensor]]:
    """Import the official ``models`` package, ``make_coord`` and ``batched_predict``."""
    if not (official_dir / "models" / "liif.py").is_file():
        raise SystemExit(f"{official_dir} is not a checkout of the official LIIF code (no models/liif.py)")
    summary_writer = types.ModuleType("tensorboardX")
    summary_writer.SummaryWriter = object  # type: ignore[attr-defined]
    tqdm = types.ModuleType("tqdm")
    tqdm.tqdm = lambda iterable=None, **_: iterable  # type: ignore[attr-defined]
    for name, module in (("tensorboardX", summary_writer), ("yaml", types.ModuleType("yaml")), ("tqdm", tqdm),
                         ("datasets", types.ModuleType("datasets"))):
        sys.modules.setdefault(name, module)
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]  # official code calls .cuda()
    sys.path.insert(0, str(official_dir))
    import models  # type: ignore[import-not-found]
    from test import batched_predict  # type: ignore[import-not-found]
    from utils import make_coord  # type: ignore[import-not-found]

    return models, make_coord, batched_predict


def official_predict(model: Any, make_coord: Callable[..., torch.Tensor], batched_predict: Callable[..., torch.Tensor],
                     image: torch.Tensor, size: int) -> torch.Tensor:
    """The official demo's path: normalise, query every pixel centre in batches of 30000."""
    coord = make_coord((size, size))
    cell = torch.ones_like(coord)
    cell[:, 0] *= 2 / size
    cell[:, 1] *= 2 / size
    pred = batched_predict(model, (image - 0.5) / 0.5, coord.unsqueeze(0), cell.unsqueeze(0), bsize=30000)[0]
    return (pred * 0.5 + 0.5).clamp(0, 1).view(size, size, 3).permute(2, 0, 1).unsqueeze(0)


def timed_median(functions: dict[str, Callable[[], torch.Tensor]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, runs interleaved (same conditions for all)."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("official_dir", type=Path)
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 192])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    warnings.filterwarnings("ignore", message="torch.meshgrid")  # the official make_coord's call
    models, make_coord, batched_predict = import_official(options.official_dir.resolve())
    from srcli.registry import load_model
    from srcli.tiling import upscale_tiled

    torch.manual_seed(options.seed)
    official = models.make({"name": "liif", "args": OFFICIAL_ARGS}).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "official-liif.pth"
        torch.save({"model": {"name": "liif", "args": OFFICIAL_ARGS, "sd": official.state_dict()}, "epoch": 0}, path)
        ours, _card = load_model(str(path))
    image = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(options.seed + 1))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fp32, input 48x48, "
          f"median of {options.repeats} interleaved runs, load average {os.getloadavg()[0]:.1f}")
    print("| output | max abs diff: forward fast / reference / tiled | official ms | srcli forward fast ms | "
          "srcli forward reference ms | srcli tiled ms | speed-up forward / tiled |")
    print("|---|---|---|---|---|---|---|")
    failed = False
    with torch.inference_mode():
        for size in options.sizes:
            runs = {
                "official": lambda: official_predict(official, make_coord, batched_predict, image, size),
                "fast": lambda: ours(image, (size, size), fast=True),
                "reference": lambda: ours(image, (size, size), fast=False),
                "tiled": lambda: upscale_tiled(ours, image, (size, size)),  # what `srcli upscale` runs
            }
            expected = runs["official"]()
            diff = {name: (runs[name]() - expected).abs().max().item() for name in ("fast", "reference", "tiled")}
            failed |= max(diff.values()) > TOLERANCE
            ms = {name: 1000 * t for name, t in timed_median(runs, options.repeats).items()}
            print(f"| {size}x{size} | {diff['fast']:.1e} / {diff['reference']:.1e} / {diff['tiled']:.1e} | "
                  f"{ms['official']:.0f} | {ms['fast']:.0f} | {ms['reference']:.0f} | {ms['tiled']:.0f} | "
                  f"{ms['official'] / ms['fast']:.2f}x / {ms['official'] / ms['tiled']:.2f}x |", flush=True)
    if failed:
        raise SystemExit(f"FAILED: srcli differs from the official LIIF by more than {TOLERANCE}")
    print(f"OK: srcli's outputs match the official LIIF within {TOLERANCE}")


if __name__ == "__main__":
    main()
