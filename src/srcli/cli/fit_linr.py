"""``srcli fit-linr``: fit one SIREN to one corrupted image (``fit``, the default) and ``render`` a saved fit.

``srcli fit-linr IMAGE ...`` is ``srcli fit-linr fit IMAGE ...``. The work is done by
:func:`srcli.tasks.linr_files.fit_linr_files` and :func:`srcli.tasks.linr_files.render_fit_file`.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from srcli.cli.common import (
    DeviceOpt, JsonOpt, OverwriteOpt, PrecisionOpt, QuietOpt, ReportOpt, ThreadsOpt, emit_report, error,
    handles_errors, parse_size_option, stderr,
)

CORRUPTION = "Corruption (forward model)"
FIT = "Fit"


class DefaultFitGroup(TyperGroup):
    """A group whose first argument, when it is not a subcommand, starts the ``fit`` command."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["fit", *args]
        return super().parse_args(ctx, args)


fit_linr_app = typer.Typer(
    cls=DefaultFitGroup,
    name="fit-linr",
    help="Restore one image by fitting a SIREN to it (LINR): denoise, super-resolve, inpaint, deblur, jointly. "
         "'srcli fit-linr IMAGE ...' is 'srcli fit-linr fit IMAGE ...'.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class FitProgress:
    """A Rich bar over the fit's steps with loss (and PSNR against a reference), on a terminal only."""

    def __init__(self, *, quiet: bool) -> None:
        import sys

        self._bar: Any = None
        self._quiet = quiet or not sys.stderr.isatty()

    def __call__(self, entry: dict[str, Any]) -> None:
        if self._quiet:
            return
        if self._bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("fit-linr"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                 TextColumn("{task.description}"), console=stderr, transient=True)
            self._task = self._bar.add_task("", total=entry.get("total"))
            self._bar.start()
        info = f"loss {entry['loss']:.3g}" + (f"  PSNR {entry['psnr']:.2f} dB" if entry.get("psnr") is not None else "")
        self._bar.update(self._task, completed=entry["step"], description=info)

    def close(self) -> None:
        """Remove the bar."""
        if self._bar is not None:
            self._bar.stop()


@fit_linr_app.command("fit", no_args_is_help=True)
@handles_errors
def fit_command(
    image: Annotated[Optional[str], typer.Argument(help="The corrupted image (or - for stdin); its task is --task.", metavar="IMAGE", show_default=False)] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Restored image, or - for stdout. Default: <stem>_linr.<ext> next to the first image.", rich_help_panel="Output")] = None,
    task: Annotated[str, typer.Option("--task", "-t", help="What IMAGE suffered: auto (sr with --scale, deblur with --kernel, inpaint with a mask / missing value / alpha, else denoise), denoise, sr, inpaint, deblur.", rich_help_panel=CORRUPTION)] = "auto",
    observe: Annotated[Optional[list[str]], typer.Option("--observe", help="Another observation of the same scene, TASK:PATH[:WEIGHT] (repeatable); denoise terms weigh 0.1 in joint fits unless given.", rich_help_panel=CORRUPTION, show_default=False)] = None,
    scale: Annotated[Optional[float], typer.Option("--scale", "-s", help="sr: the output canvas is scale x the observation (any scale > 0; lanczos2 downsampling in the loss).", rich_help_panel=CORRUPTION)] = None,
    kernel: Annotated[Optional[str], typer.Option("--kernel", help="deblur: gauss:SIZE:SIGMA (paper: gauss:25:1.6), box:SIZE, or a kernel file (.npy, .txt, .csv, image).", rich_help_panel=CORRUPTION)] = None,
    mask: Annotated[Optional[str], typer.Option("--mask", help="inpaint: mask image, WHITE = MISSING (default: alpha == 0 is missing).", rich_help_panel=CORRUPTION)] = None,
    invert_mask: Annotated[bool, typer.Option("--invert-mask", help="Read --mask the other way: white = known.", rich_help_panel=CORRUPTION)] = False,
    missing_value: Annotated[Optional[str], typer.Option("--missing-value", help="inpaint: pixels whose colour equals V are missing (image scale, e.g. 0 or 255,0,255).", rich_help_panel=CORRUPTION)] = None,
    size: Annotated[Optional[str], typer.Option("--size", help="Render the result at WxH (default: the canvas).", rich_help_panel="Output")] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", help="Adam steps (default 500; 4000 with a deblur term).", rich_help_panel=FIT)] = None,
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate.", rich_help_panel=FIT)] = 1e-4,
    width: Annotated[int, typer.Option("--width", help="SIREN features per layer.", rich_help_panel=FIT)] = 256,
    depth: Annotated[int, typer.Option("--depth", help="Hidden sine layers after the first.", rich_help_panel=FIT)] = 6,
    batch: Annotated[Optional[int], typer.Option("--batch", help="Random pixels per step (denoise/inpaint only; default: the whole image).", rich_help_panel=FIT)] = None,
    crop: Annotated[Optional[int], typer.Option("--crop", help="Side of a random window fitted per step (denoise/inpaint/deblur; default: the whole image). Cheaper steps; needs more of them.", rich_help_panel=FIT)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the initialisation and the pixel batches or crops.", rich_help_panel=FIT)] = 0,
    stop: Annotated[str, typer.Option("--stop", help="fixed (all steps), best-reference (keep the best state against --reference), noise-level (denoise: stop when the residual reaches the noise variance, no reference needed).", rich_help_panel=FIT)] = "fixed",
    noise_sigma: Annotated[Optional[float], typer.Option("--noise-sigma", help="Noise level for --stop noise-level on the 0-255 scale (default: estimated from the image).", rich_help_panel=FIT)] = None,
    compile_mode: Annotated[str, typer.Option("--compile", help="auto, on or off: run the SIREN through torch.compile (fused sine layers: bf16 CPU steps about 16% faster; costs about 5 s once, needs a C++ compiler on CPU, else runs uncompiled). auto: bf16 CPU and CUDA fits of at least 128x128 pixels x 512 steps.", rich_help_panel=FIT)] = "auto",
    chunk: Annotated[str, typer.Option("--chunk", help="Coordinates per SIREN pass; each chunk's activations are recomputed in the backward pass, so a step's memory stops growing with the image (768x512 bf16 deblur step: 5.3 GB in one pass, 1.3 GB in chunks of 8192, 6% slower). auto: one pass while it takes at most a quarter of the free memory, else chunks of 8192 on a CPU (cache-sized) and the fewest that fit on a GPU; 0: one pass.", rich_help_panel=FIT)] = "auto",
    eval_every: Annotated[int, typer.Option("--eval-every", help="Steps between curve points (loss, PSNR).", rich_help_panel=FIT)] = 25,
    checkpoint: Annotated[Optional[str], typer.Option("--checkpoint", help="Make the fit resumable: keep its state in this file (or in linr-<fingerprint>.pt inside this existing folder), written every --checkpoint-every steps and on Ctrl-C/SIGTERM. The same command continues from it; once the fit has ended it returns the result at once. A file of another fit is refused.", rich_help_panel=FIT)] = None,
    checkpoint_every: Annotated[int, typer.Option("--checkpoint-every", help="Steps between writes of the --checkpoint state.", rich_help_panel=FIT)] = 100,
    reference: Annotated[Optional[str], typer.Option("--reference", help="Clean image of the output's size: PSNR along the fit and PSNR/SSIM of the output as stored.", rich_help_panel="Output")] = None,
    save_fit: Annotated[Optional[str], typer.Option("--save-fit", help="Keep the fitted network (a srcli checkpoint) to render again at any size.", rich_help_panel="Output")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="Output encoding: png, jpeg, webp, bmp, tiff (default: the output's suffix).", rich_help_panel="Output")] = None,
    bit_depth: Annotated[str, typer.Option("--bit-depth", help="keep, 8, 16 or 32 (float TIFF).", rich_help_panel="Output")] = "keep",
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    report: ReportOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> int:
    """Fit a SIREN to one or more observations of an image and write the restored image.

    Examples:

      srcli fit-linr low.png --scale 4 -o sr.png                    # super-resolution x4

      srcli fit-linr noisy.png --stop noise-level -o clean.png      # denoise, no reference needed

      srcli fit-linr holes.png --mask holes_mask.png -o filled.png  # inpaint (white = missing)

      srcli fit-linr blurred.png --kernel gauss:25:1.6 -o sharp.png --checkpoint deblur.state  # deblur (4000 steps), resumable

      srcli fit-linr --observe sr:low.png --observe denoise:noisy.png --scale 4 -o joint.png --save-fit fit.pt
    """
    from srcli.errors import UsageError
    from srcli.io.reports import check_report_path
    from srcli.tasks.linr_files import FitLinrOptions, fit_linr_files, parse_chunk
    from srcli.tasks.linr_observations import TASKS, ObserveSpec, parse_observe

    if report:
        check_report_path(report)
    if as_json and output == "-":
        error("--json and -o - both use stdout; write the image to a file or use --report")
        return 2
    if task not in TASKS:
        raise UsageError(f"unknown --task {task!r}; use one of {', '.join(TASKS)}")
    specs = ([ObserveSpec(task, image)] if image is not None else []) + [parse_observe(o) for o in observe or []]
    opts = FitLinrOptions(scale=scale, kernel=kernel, mask=mask, invert_mask=invert_mask, missing_value=missing_value,
                          size=parse_size_option(size), steps=steps, lr=lr, width=width, depth=depth, batch=batch, crop=crop,
                          seed=seed, stop=stop, noise_sigma=None if noise_sigma is None else noise_sigma / 255.0,
                          reference=reference, save_fit=save_fit, eval_every=eval_every, fmt=fmt, bit_depth=bit_depth,
                          overwrite=overwrite, device=device, precision=precision, threads=threads,
                          compile_mode=compile_mode, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                          chunk=parse_chunk(chunk), report=report)
    progress = FitProgress(quiet=quiet)
    try:
        result = fit_linr_files(specs, output, opts, callback=progress)
    finally:
        progress.close()
    emit_report(result, report_path=report, as_json=as_json)
    return 0


@fit_linr_app.command("render", no_args_is_help=True)
@handles_errors
def render_command(
    fit: Annotated[str, typer.Argument(help="A fit saved with --save-fit.", metavar="FIT", show_default=False)],
    output: Annotated[str, typer.Option("--output", "-o", help="Output image, or - for stdout.", show_default=False)],
    size: Annotated[Optional[str], typer.Option("--size", help="WxH (default: the size the fit was rendered at).")] = None,
    scale: Annotated[Optional[float], typer.Option("--scale", "-s", help="Factor on the fit's output size.")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="Output encoding (default: the output's suffix).")] = None,
    bit_depth: Annotated[str, typer.Option("--bit-depth", help="8, 16 or 32 (float TIFF).")] = "8",
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    threads: ThreadsOpt = None,
    report: ReportOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Render a saved fit again, at any size.

    Examples:

      srcli fit-linr render fit.pt --size 2048x2048 -o big.png
    """
    from srcli.io.reports import check_report_path
    from srcli.tasks.linr_files import render_fit_file

    if report:
        check_report_path(report)
    if as_json and output == "-":
        error("--json and -o - both use stdout; write the image to a file or use --report")
        return 2
    result = render_fit_file(fit, output, size=parse_size_option(size), scale=scale, fmt=fmt, bit_depth=bit_depth,
                             overwrite=overwrite, device=device, precision=precision, threads=threads)
    emit_report(result, report_path=report, as_json=as_json)
    return 0
