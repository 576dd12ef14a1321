"""``srcli train``: parse, call :func:`srcli.tasks.train.train`, print."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from srcli.cli.common import (
    DeviceOpt, JsonOpt, PrecisionOpt, QuietOpt, ThreadsOpt, error, given_on_command_line, handles_errors, option_name,
    print_json, stderr,
)

PROTOCOL = "Protocol (LIIF defaults)"
SAMPLING = "Sampler"
VALIDATION = "Validation"
RUN = "Run folder"


class TrainProgress:
    """Rich progress bar with ETA, loss and best PSNR on stderr (only on a terminal, not quiet)."""

    def __init__(self, quiet: bool) -> None:
        self._bar: Any = None
        self._quiet = quiet or not sys.stderr.isatty()

    def __call__(self, step: int, total: int, info: dict[str, Any]) -> None:
        if self._quiet:
            return
        if self._bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                 TextColumn("{task.fields[status]}"), console=stderr, transient=True)
            self._task = self._bar.add_task("train", total=total, completed=step - 1, status="")
            self._bar.start()
        loss, psnr = info.get("loss"), info.get("psnr")
        status = " ".join(s for s in (f"loss {loss:.4f}" if loss is not None else "",
                                      f"best {psnr:.2f} dB" if psnr is not None else "") if s)
        self._bar.update(self._task, completed=step, status=status)

    def close(self) -> None:
        """Remove the bar."""
        if self._bar is not None:
            self._bar.stop()


def _number_list(text: str, convert: Callable[[str], Any], valid: Callable[[Any], bool], message: str) -> list[Any]:
    """Comma-separated numbers; UsageError ``"{message}, got 'text'"`` when one does not parse or is not valid."""
    from srcli.errors import UsageError

    try:
        values = [convert(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or not all(valid(v) for v in values):
        raise UsageError(f"{message}, got {text!r}")
    return values


def _scales(text: str) -> list[int]:
    return _number_list(text, int, lambda v: v >= 1,
                        "--val-scales must be positive integers separated by commas (e.g. 2,3,4)")


def _ratios(text: str) -> list[float]:
    return _number_list(text, float, lambda v: 0 < v <= 1,
                        "--val-ratios must be sampling ratios in (0, 1] separated by commas (e.g. 0.2,0.4)")


def _model_args(text: Optional[str]) -> dict[str, Any]:
    from srcli.errors import UsageError

    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--model-args must be a JSON object, e.g. '{{\"encoder_args\": {{\"n_blocks\": 4}}}}': {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f"--model-args must be a JSON object, got {text!r}")
    return value


@handles_errors
def train_command(
    ctx: typer.Context,
    data: Annotated[Optional[list[str]], typer.Argument(help="Training image folders (searched recursively).", metavar="DATA_DIR", show_default=False)] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Model to train: liif, a-liif, diinn (upscale), isp-points (points from scattered samples).")] = "liif",
    model_args: Annotated[Optional[str], typer.Option("--model-args", help="JSON object of model arguments, e.g. '{\"encoder\": \"rdn\"}'.")] = None,
    out: Annotated[Optional[str], typer.Option("--out", "-o", help="Run folder: state.pt, best.pt, last.pt, log.jsonl.", rich_help_panel=RUN)] = None,
    init: Annotated[Optional[str], typer.Option("--init", help="Start from a checkpoint's tensors that match by name and shape (e.g. a trained LIIF's encoder for a-liif or diinn); the rest keep their seeded initialisation.", rich_help_panel=PROTOCOL)] = None,
    resume: Annotated[Optional[str], typer.Option("--resume", help="Continue the run in this folder exactly where it stopped.", rich_help_panel=RUN)] = None,
    steps: Annotated[int, typer.Option("--steps", help="Optimiser steps (LIIF: 1000 epochs x 1000).", rich_help_panel=PROTOCOL)] = 1_000_000,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Items per step over all processes.", rich_help_panel=PROTOCOL)] = 16,
    lr_size: Annotated[int, typer.Option("--lr-size", help="Side of the square LR crops (isp-points: grid cells a side; a patch holds its square of points).", rich_help_panel=PROTOCOL)] = 48,
    scale_min: Annotated[float, typer.Option("--scale-min", help="Smallest training scale.", rich_help_panel=PROTOCOL)] = 1.0,
    scale_max: Annotated[float, typer.Option("--scale-max", help="Largest training scale.", rich_help_panel=PROTOCOL)] = 4.0,
    queries: Annotated[int, typer.Option("--queries", help="HR pixels sampled per item.", rich_help_panel=PROTOCOL)] = 2304,
    augment: Annotated[bool, typer.Option("--augment/--no-augment", help="Random flips and transposes.", rich_help_panel=PROTOCOL)] = True,
    quantize_lr: Annotated[bool, typer.Option("--lr-8bit/--lr-float", help="Round LR crops to 8 bits, as stored LR images are.", rich_help_panel=PROTOCOL)] = True,
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate.", rich_help_panel=PROTOCOL)] = 1e-4,
    lr_decay_every: Annotated[int, typer.Option("--lr-decay-every", help="Multiply the learning rate by --lr-decay every N steps.", rich_help_panel=PROTOCOL)] = 200_000,
    lr_decay: Annotated[float, typer.Option("--lr-decay", help="Learning-rate factor at each decay.", rich_help_panel=PROTOCOL)] = 0.5,
    ratio_min: Annotated[float, typer.Option("--ratio-min", help="isp-points: smallest sampling ratio (points per HR pixel) of a patch.", rich_help_panel=PROTOCOL)] = 0.1,
    ratio_max: Annotated[float, typer.Option("--ratio-max", help="isp-points: largest sampling ratio.", rich_help_panel=PROTOCOL)] = 0.5,
    irregular: Annotated[float, typer.Option("--irregular", help="isp-points: probability of fractional positions with bicubic values (else distinct integer pixels).", rich_help_panel=PROTOCOL)] = 0.5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the initial weights and of every item draw.", rich_help_panel=PROTOCOL)] = 0,
    sampler: Annotated[str, typer.Option("--sampler", help="uniform, or psnr-gain (draw cells where the model gains most over bicubic more often).", rich_help_panel=SAMPLING)] = "uniform",
    sampler_every: Annotated[int, typer.Option("--sampler-every", help="Steps between PSNR-gain measurements.", rich_help_panel=SAMPLING)] = 5000,
    sampler_bins: Annotated[int, typer.Option("--sampler-bins", help="Histogram bins of the gains.", rich_help_panel=SAMPLING)] = 16,
    sampler_mix: Annotated[float, typer.Option("--sampler-mix", help="Weight of the gain-driven probabilities (rest uniform).", rich_help_panel=SAMPLING)] = 0.5,
    sampler_queries: Annotated[int, typer.Option("--sampler-queries", help="Pixels per cell measured.", rich_help_panel=SAMPLING)] = 2304,
    val: Annotated[Optional[str], typer.Option("--val", help="Held-out image folder for validation PSNR (upscale: Y, shave=scale; isp-points: RGB of crops rendered from points).", rich_help_panel=VALIDATION)] = None,
    val_scales: Annotated[str, typer.Option("--val-scales", help="Integer scales validated, comma separated.", rich_help_panel=VALIDATION)] = "2,3,4",
    val_ratios: Annotated[str, typer.Option("--val-ratios", help="isp-points: sampling ratios validated (irregular positions), comma separated.", rich_help_panel=VALIDATION)] = "0.2",
    val_every: Annotated[int, typer.Option("--val-every", help="Steps between validations.", rich_help_panel=VALIDATION)] = 5000,
    val_max_images: Annotated[int, typer.Option("--val-max-images", help="Validate on the first N images.", rich_help_panel=VALIDATION)] = 10,
    val_crop: Annotated[int, typer.Option("--val-crop", help="Side of the HR centre crops (0: whole images).", rich_help_panel=VALIDATION)] = 240,
    log_every: Annotated[int, typer.Option("--log-every", help="Steps between log.jsonl records.", rich_help_panel=RUN)] = 100,
    ckpt_every: Annotated[int, typer.Option("--ckpt-every", help="Steps between state.pt checkpoints.", rich_help_panel=RUN)] = 1000,
    workers: Annotated[Optional[int], typer.Option("--workers", "-j", help="Data-loading processes per training process (0: load in it). Default: min(4, CPUs - 1).", rich_help_panel="Compute")] = None,
    query_path: Annotated[str, typer.Option("--query-path", help="Decoder path: fast (fused first layer) or reference.", rich_help_panel="Compute")] = "fast",
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> int:
    """Train an arbitrary-scale SR model (LIIF protocol) or the points network; safe to interrupt and --resume.

    Examples:

      srcli train data/train/wiki data/train/bsds400 --model liif --out runs/liif --val data/bench/set5

      srcli train --resume runs/liif

      torchrun --nproc-per-node 2 -m srcli train data/train/wiki --out runs/ddp
    """
    from srcli.errors import UsageError
    from srcli.tasks.train import TrainOptions, resume_options, train

    values = dict(locals())
    if resume is None and out is None:
        raise UsageError("give --out RUN_DIR for a new run, or --resume RUN_DIR to continue one")
    if resume is None and not data:
        raise UsageError("give at least one training image folder")
    names = [f.name for f in TrainOptions.__dataclass_fields__.values()]
    given = {k: values[k] for k in names if k in values}
    given.update(data=[str(Path(d).resolve()) for d in data or []], val=str(Path(val).resolve()) if val else None,
                 model_args=_model_args(model_args), val_scales=_scales(val_scales), val_ratios=_ratios(val_ratios),
                 out=out or resume,
                 init=str(Path(init).resolve()) if init else None)
    if resume is not None:
        if out is not None and Path(out).resolve() != Path(resume).resolve():
            raise UsageError("--resume continues a run in its own folder; drop --out")
        explicit = {k: v for k, v in given.items() if k not in ("out",) and given_on_command_line(ctx, k)}
        options = resume_options(resume, **explicit)
    else:
        options = TrainOptions(**given)
        _refuse_unused(ctx, options, [k for k in names if given_on_command_line(ctx, k)])
    bar = TrainProgress(quiet)
    try:
        result = train(options, resume=resume is not None, progress=bar)
    finally:
        bar.close()
    summary = _summary(result)
    if as_json:
        print_json("train", summary)
    if result.interrupted:
        error(f"interrupted ({result.interrupted}) after step {result.step}; state saved: "
              f"continue with `srcli train --resume {result.run_dir}`")
        return 130
    loss = f"last loss {result.last_loss:.4f}" if result.last_loss is not None else "no new steps"
    best = f"; best validation {result.best['psnr']:.2f} dB at step {result.best['step']}" if result.best else ""
    stderr.print(f"trained to step {result.step} in {result.wall_s:.0f} s ({loss}{best}); "
                 f"weights in {result.run_dir}/best.pt and last.pt", highlight=False)
    return 0


def _refuse_unused(ctx: typer.Context, options: Any, given: list[str]) -> None:
    """UsageError for a given option the run would not read (another task's, the gain sampler's,
    validation's), after the checks of the values themselves."""
    from srcli.errors import UsageError
    from srcli.registry import RegistryError, get_entry
    from srcli.tasks.train_options import TASK_ONLY_OPTIONS, check_options, unused_options

    check_options(options)
    try:
        entry = get_entry(options.model)
    except RegistryError:
        return  # train() names the known models
    task = entry.task
    if not entry.trainable or task not in TASK_ONLY_OPTIONS:
        return  # train() says the model cannot be trained
    unused = unused_options(options, task, given)
    if unused:
        name, reason = next(iter(unused.items()))
        raise UsageError(f"{option_name(ctx, name)} {reason}")


def _summary(result: Any) -> dict[str, Any]:
    return {"run_dir": str(result.run_dir), "step": result.step, "steps": result.steps, "interrupted": result.interrupted,
            "best": result.best, "last_loss": result.last_loss, "wall_s": round(result.wall_s, 3), "runtime": result.runtime}
