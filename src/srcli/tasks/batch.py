"""Run one function over many input/output jobs: skip/overwrite rules, errors, progress.

A failing item is reported and the batch goes on; Ctrl-C stops it between two writes
(outputs are written atomically by the I/O layer, so nothing partial is left behind).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from srcli.io.paths import STDIO, Job

#: exit codes (DESIGN.md)
EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass
class BatchResult:
    """Rows of a batch and how it ended.

    Attributes:
        rows: one dict per job (``input``, ``output``, ``status``, and what the task adds).
        interrupted: True when Ctrl-C stopped the batch.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False

    @property
    def failed(self) -> int:
        """Number of jobs that failed."""
        return sum(1 for r in self.rows if r["status"] == "failed")

    def exit_code(self) -> int:
        """0 all done, 1 some failed in a batch, 2 the only job failed, 130 interrupted."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        if not self.failed:
            return EXIT_OK
        return EXIT_USAGE if len(self.rows) == 1 else EXIT_SOME_FAILED


def run_batch(
    jobs: list[Job],
    process: Callable[[Job], dict[str, Any]],
    *,
    overwrite: bool = False,
    skip_existing: bool = False,
    report_error: Callable[[str], None] = lambda message: None,
    progress: Any = None,
    user_errors: tuple[type[BaseException], ...] = (),
) -> BatchResult:
    """Run ``process`` on each job.

    Args:
        jobs: planned jobs.
        process: does one job and returns its report row (sizes, seconds, metrics ...).
        overwrite: replace existing outputs.
        skip_existing: leave existing outputs and mark the job ``skipped``.
        report_error: called with a one-line message for each failed job.
        progress: an object with ``advance()`` (e.g. a Rich progress wrapper) or None.
        user_errors: exception types whose message is shown as is; others get their type name.

    Returns:
        The :class:`BatchResult`.
    """
    result = BatchResult()
    for job in jobs:
        row: dict[str, Any] = {"input": job.source, "output": job.dest}
        started = time.perf_counter()
        try:
            exists = job.dest != STDIO and Path(job.dest).exists()
            if exists and skip_existing:
                row["status"] = "skipped"
            elif exists and not overwrite:
                raise _ExistsError(f"output {job.dest} exists; use --overwrite to replace it or --skip-existing")
            else:
                row.update(process(job))
                row["status"] = "done"
        except KeyboardInterrupt:
            result.interrupted = True
            break
        except (_ExistsError, *user_errors) as exc:  # type: ignore[misc]
            _fail(row, job, str(exc), report_error)
        except Exception as exc:  # one broken input must not stop a batch
            _fail(row, job, f"{type(exc).__name__}: {exc}", report_error)
        row.setdefault("seconds", round(time.perf_counter() - started, 4))
        result.rows.append(row)
        if progress is not None:
            progress.advance()
    return result


class _ExistsError(Exception):
    pass


def _fail(row: dict[str, Any], job: Job, message: str, report_error: Callable[[str], None]) -> None:
    message = message.splitlines()[0] if message else "failed"
    row["status"] = "failed"
    row["error"] = message
    name = "stdin" if job.source == STDIO else job.source
    report_error(message if name in message else f"{name}: {message}")
