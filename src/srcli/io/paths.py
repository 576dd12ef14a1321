"""Input expansion and output planning for batch commands.

Rules (the README documents them for users):

* An input is a file, a folder (its images; ``recursive`` descends into sub-folders), a
  glob pattern (``**`` allowed), or ``-`` for stdin.
* ``output`` is a file for a single file input, a folder for several inputs or a folder
  input (created when missing), ``-`` for stdout, or ``None``: next to each input.
* With ``recursive`` the tree under each input folder is mirrored under ``output``.
* The output name is the input's stem plus ``suffix`` plus the extension of ``fmt``
  (or of the input). An output that would replace its input is refused.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from srcli.errors import UsageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
FORMAT_SUFFIX = {"png": ".png", "jpeg": ".jpg", "jpg": ".jpg", "webp": ".webp", "bmp": ".bmp", "tiff": ".tif", "tif": ".tif"}
STDIO = "-"


@dataclass(frozen=True)
class Job:
    """One input and where its output goes.

    Attributes:
        source: input path, or ``"-"`` for stdin.
        dest: output path, or ``"-"`` for stdout.
    """

    source: str
    dest: str


def _has_magic(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _files_in(folder: Path, recursive: bool, suffixes: set[str]) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in suffixes)


def expand_inputs(inputs: list[str], *, recursive: bool = False, suffixes: set[str] | None = None) -> list[tuple[str, Path | None]]:
    """Expand files, folders and globs into ``(path, root)`` pairs.

    ``root`` is the input folder a file was found under (for mirroring), else None.

    Raises:
        UsageError: an input that does not exist or matches nothing.
    """
    suffixes = suffixes or IMAGE_SUFFIXES
    found: list[tuple[str, Path | None]] = []
    for item in inputs:
        if item == STDIO:
            found.append((STDIO, None))
            continue
        path = Path(item)
        if path.is_dir():
            files = _files_in(path, recursive, suffixes)
            if not files:
                hint = "" if recursive else " (use -r to descend into sub-folders)"
                raise UsageError(f"folder {item} holds no supported input files{hint}")
            found.extend((str(p), path) for p in files)
        elif path.exists():
            found.append((item, None))
        elif _has_magic(item):
            matches = sorted(m for m in glob.glob(item, recursive=True) if Path(m).is_file())
            if not matches:
                raise UsageError(f"pattern {item!r} matches no file")
            found.extend((m, None) for m in matches)
        else:
            raise UsageError(f"input not found: {item}")
    if STDIO in (p for p, _ in found) and len(found) > 1:
        raise UsageError("'-' (stdin) cannot be combined with other inputs")
    return found


def _dest_name(source: str, suffix: str, fmt: str | None) -> str:
    src = Path(source)
    ext = FORMAT_SUFFIX[fmt.lower()] if fmt else (src.suffix or ".png")
    return f"{src.stem}{suffix}{ext}"


def plan_jobs(
    inputs: list[str],
    output: str | None,
    *,
    suffix: str,
    fmt: str | None = None,
    recursive: bool = False,
    suffixes: set[str] | None = None,
    reads: dict[str, str | None] | None = None,
    report: str | None = None,
    overwrite: bool = False,
) -> list[Job]:
    """Expand inputs and decide every output path.

    Args:
        inputs: command-line inputs.
        output: ``-o`` value (file, folder, ``-`` or None).
        suffix: added to output stems (used when writing next to the input or into a folder).
        fmt: output format name (``png``, ``jpeg``, ...) or None to keep the input's.
        recursive: descend into folders and mirror the tree.
        suffixes: accepted input suffixes (default: images).
        reads: other files the command reads, by option (``{"--mask": path}``): no output may
            replace them.
        report: the ``--report`` file: it may be no input, output or other file read.
        overwrite: outputs replace existing files; then no job may write another job's input.

    Raises:
        UsageError: inconsistent inputs/outputs, e.g. an output folder that is a file.
    """
    jobs = _plan(inputs, output, suffix=suffix, fmt=fmt, recursive=recursive, suffixes=suffixes)
    _refuse_replacing_reads(jobs, reads or {}, report)
    if overwrite:  # without it an existing output (another job's input) is skipped or refused per job
        _refuse_writing_inputs(jobs)
    return jobs


def _plan(inputs: list[str], output: str | None, *, suffix: str, fmt: str | None, recursive: bool,
          suffixes: set[str] | None) -> list[Job]:
    if fmt is not None and fmt.lower() not in FORMAT_SUFFIX:
        raise UsageError(f"unknown --format {fmt!r}; use one of png, jpeg, webp, bmp, tiff")
    found = expand_inputs(inputs, recursive=recursive, suffixes=suffixes)
    if found[0][0] == STDIO:
        if output is None:
            raise UsageError("reading stdin needs -o FILE or -o - (stdout)")
        if output == STDIO and fmt is None:
            raise UsageError("writing to stdout needs --format (png, jpeg, webp, bmp or tiff)")
        return [Job(STDIO, output)]
    single_file = len(found) == 1 and found[0][1] is None
    if output == STDIO:
        if not single_file:
            raise UsageError("-o - (stdout) takes exactly one input image")
        if fmt is None:
            raise UsageError("writing to stdout needs --format (png, jpeg, webp, bmp or tiff)")
        return [Job(found[0][0], STDIO)]
    if output is not None and single_file and not output.endswith(("/", os.sep)) and not Path(output).is_dir():
        return [_checked(Job(found[0][0], output))]
    if output is not None:
        out_dir = Path(output)
        if out_dir.exists() and not out_dir.is_dir():
            raise UsageError(f"output folder {output} is a file; give a folder for several inputs")
    jobs = []
    for source, root in found:
        name = _dest_name(source, suffix if output is None else suffix, fmt)
        if output is None:
            dest = Path(source).with_name(name)
        elif recursive and root is not None:
            dest = Path(output) / Path(source).relative_to(root).parent / name
        else:
            dest = Path(output) / name
        jobs.append(_checked(Job(source, str(dest))))
    _refuse_collisions(jobs)
    return jobs


def _checked(job: Job) -> Job:
    src, dst = Path(job.source), Path(job.dest)
    if dst.exists() and src.exists() and os.path.samefile(src, dst):
        raise UsageError(f"output {job.dest} is the input itself; srcli never overwrites an input (use -o or --suffix)")
    return job


def same_file(a: str, b: str) -> bool:
    """Whether paths ``a`` and ``b`` name one file (symlinks followed; ``-`` is no file)."""
    return a != STDIO and b != STDIO and os.path.realpath(a) == os.path.realpath(b)


def _refuse_replacing_reads(jobs: list[Job], reads: dict[str, str | None], report: str | None) -> None:
    """UsageError when an output is a file read by an option, or the report is any file of the run."""
    read = {option: path for option, path in reads.items() if path is not None and Path(path).is_file()}
    for job in jobs:
        for option, path in read.items():
            if same_file(job.dest, path):
                raise UsageError(f"output {job.dest} is the {option} file; srcli never overwrites an input")
    named = [(f"input {j.source}", j.source) for j in jobs] + [(f"output {j.dest}", j.dest) for j in jobs]
    check_report_apart(report, [*named, *((f"the {option} file", path) for option, path in read.items())])


def check_report_apart(report: str | None, files: list[tuple[str, str]]) -> None:
    """UsageError when ``report`` is one of ``files`` (``(description, path)`` pairs)."""
    if report is None:
        return
    for what, path in files:
        if same_file(report, path):
            raise UsageError(f"--report {report} is also {what}; choose another report path")


def _refuse_collisions(jobs: list[Job]) -> None:
    """UsageError when two jobs write one file."""
    seen: dict[str, str] = {}
    for job in jobs:
        key = os.path.realpath(job.dest)
        if key in seen:
            raise UsageError(f"{seen[key]} and {job.source} would both write {job.dest}; use -r to mirror folders")
        seen[key] = job.source


def _refuse_writing_inputs(jobs: list[Job]) -> None:
    """UsageError when a job would replace another job's input."""
    sources = {os.path.realpath(j.source) for j in jobs if j.source != STDIO}  # once, not once per job
    for job in jobs:
        if job.dest != STDIO and os.path.realpath(job.dest) in sources:
            raise UsageError(f"output {job.dest} of {job.source} is also an input of this run; srcli never overwrites "
                             "an input (use -o or --suffix)")
