"""Checks of ``srcli fit-linr`` that run before the fit: option values, output paths, unused options.

A fit can take hours (deblurring: 4000 steps), so everything that would make it fail at
the end, or silently do less than asked, is refused before the first image is read or the
first step is run. Messages name the command-line options.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from srcli.errors import UsageError
from srcli.io.paths import STDIO, Job, check_report_apart, same_file
from srcli.tasks.outputs import BIT_DEPTHS, check_output_formats

if TYPE_CHECKING:
    from srcli.tasks.fit_linr import Observation
    from srcli.tasks.linr_files import FitLinrOptions


def check_options(opts: FitLinrOptions) -> None:
    """UsageError for bad values, before any image is read."""
    if opts.bit_depth not in BIT_DEPTHS:
        raise UsageError(f"unknown --bit-depth {opts.bit_depth!r}; use {', '.join(BIT_DEPTHS)}")
    if opts.scale is not None and not (math.isfinite(opts.scale) and opts.scale > 0):
        raise UsageError(f"--scale must be a positive number, got {opts.scale!r}")
    if opts.mask is not None and opts.missing_value is not None:
        raise UsageError("--mask and --missing-value conflict: give one way of marking the missing pixels")
    if opts.invert_mask and opts.mask is None:
        raise UsageError("--invert-mask needs --mask")
    if opts.steps is not None and opts.steps < 0:
        raise UsageError(f"--steps must be at least 0, got {opts.steps}")
    if opts.stop == "best-reference" and opts.reference is None:
        raise UsageError("--stop best-reference needs --reference GT")
    if opts.noise_sigma is not None and opts.stop != "noise-level":
        raise UsageError("--noise-sigma sets the level of --stop noise-level; add that or drop --noise-sigma")
    if opts.noise_sigma is not None and not (math.isfinite(opts.noise_sigma) and opts.noise_sigma >= 0):
        raise UsageError(f"--noise-sigma must be a number >= 0 on the 0-255 scale, got {opts.noise_sigma * 255:g}")
    if opts.checkpoint_every < 1:
        raise UsageError(f"--checkpoint-every must be at least 1, got {opts.checkpoint_every}")
    _check_fit_settings(opts)


def _check_fit_settings(opts: FitLinrOptions) -> None:
    if not (math.isfinite(opts.lr) and opts.lr > 0):
        raise UsageError(f"--lr must be a positive number, got {opts.lr!r}")
    if opts.width < 1 or opts.depth < 0:
        raise UsageError(f"--width must be at least 1 and --depth at least 0, got {opts.width} and {opts.depth}")
    for name, value in (("--eval-every", opts.eval_every), ("--batch", opts.batch), ("--crop", opts.crop)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be at least 1, got {value}")
    if opts.batch is not None and opts.crop is not None:
        raise UsageError("--batch and --crop conflict: random pixels or random windows, not both")


def check_destinations(dest: str, opts: FitLinrOptions, inputs: list[str]) -> None:
    """UsageError for outputs that would fail or clash after the fit.

    ``dest`` is the restored image; ``--save-fit``, ``--checkpoint`` and ``--report`` must
    differ from it, from each other and from every input, and the image format must be known.
    """
    check_output(dest, inputs, opts.overwrite)
    check_output_formats([Job(inputs[0] if inputs else STDIO, dest)], opts.fmt, opts.bit_depth)
    if opts.save_fit is not None:
        if opts.save_fit == STDIO:
            raise UsageError("--save-fit needs a file, not -")
        check_output(opts.save_fit, inputs, opts.overwrite, "--save-fit file", example="fit.pt")
        _check_folder(opts.save_fit, "--save-fit")
    if opts.checkpoint == STDIO:
        raise UsageError("--checkpoint needs a file or folder, not -")
    written = [(option, path) for option, path in (("-o", dest), ("--save-fit", opts.save_fit),
               ("--checkpoint", opts.checkpoint), ("--report", opts.report)) if path is not None]
    for i, (option, path) in enumerate(written):
        for other, other_path in written[i + 1:]:
            if same_file(path, other_path):
                raise UsageError(f"{option} and {other} name the same file; choose another path for one of them")
    if opts.checkpoint is not None and any(same_file(p, opts.checkpoint) for p in inputs):
        raise UsageError(f"--checkpoint {opts.checkpoint} is also an input file; choose another path")
    check_report_apart(opts.report, [(f"input {p}", p) for p in inputs])


def check_output(output: str, inputs: list[str], overwrite: bool, what: str = "output", example: str = "restored.png") -> None:
    """UsageError when ``output`` is a folder, one of the ``inputs``, or exists without ``overwrite``."""
    if output == STDIO:
        return
    path = Path(output)
    if path.is_dir():
        raise UsageError(f"{what} {output} is a folder; give a file name such as {path / example}")
    if any(same_file(output, i) for i in inputs):
        raise UsageError(f"{what} {output} is one of the inputs; srcli never overwrites an input")
    if path.exists() and not overwrite:
        raise UsageError(f"{what} {output} exists; use --overwrite to replace it")


def _check_folder(path: str, option: str) -> None:
    folder = Path(path).parent
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: folder {folder} does not exist")


def check_used(observations: list[Observation], opts: FitLinrOptions) -> None:
    """UsageError for a corruption option that no observation takes (it would be ignored)."""
    tasks = ", ".join(sorted({o.task for o in observations}))
    given = (("--scale", opts.scale, "sr", any(o.scale is not None for o in observations)),
             ("--kernel", opts.kernel, "deblur", any(o.kernel is not None for o in observations)),
             ("--mask", opts.mask, "inpaint", any(o.mask is not None for o in observations)),
             ("--missing-value", opts.missing_value, "inpaint", any(o.mask is not None for o in observations)))
    for option, value, task, used in given:
        if value is not None and not used:
            raise UsageError(f"{option} applies to {task} observations and no observation takes it (tasks: {tasks}); "
                             f"drop it or add --observe {task}:PATH")
    if opts.stop == "noise-level" and not any(o.task == "denoise" for o in observations):
        raise UsageError("--stop noise-level needs a denoise observation (it compares the residual with the noise)")
