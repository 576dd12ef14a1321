"""What every command shares: the stderr console, error handling, progress, report output, options.

Commands print data (images, ``--json``) on stdout and everything else on stderr.
User errors become one line ``srcli: error: ...`` and exit code 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import functools
import os
import shlex
import sys
from typing import Annotated, Any, Callable, Optional, Sequence, TypeVar

import typer
from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])
stderr = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)  # ":x:" in a message stays text


def error(message: str) -> None:
    """Print a one-line user error on stderr."""
    from rich.markup import escape

    stderr.print(f"[bold red]srcli: error:[/] {escape(message)}", markup=True, highlight=False)


def handles_errors(func: F) -> F:
    """Turn user errors into ``srcli: error: ...`` + exit 2, Ctrl-C into exit 130 (SIGTERM into 143 where caught).

    Set ``SRCLI_DEBUG=1`` to see the traceback of an unexpected error.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from srcli.errors import user_error_types

        try:
            code = func(*args, **kwargs)
        except KeyboardInterrupt as exc:  # Ctrl-C, or a stop that says where it left its state
            error(f"interrupted: {exc}" if str(exc) else "interrupted")
            raise typer.Exit(getattr(exc, "exit_code", 130)) from None
        except typer.Exit:
            raise
        except Exception as exc:
            if isinstance(exc, user_error_types()):
                error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                raise typer.Exit(2) from None
            if os.environ.get("SRCLI_DEBUG"):
                raise
            error(f"internal error: {type(exc).__name__}: {exc} (set SRCLI_DEBUG=1 for the traceback)")
            raise typer.Exit(1) from None
        if code:
            raise typer.Exit(int(code))
        return None

    return wrapper  # type: ignore[return-value]


class Progress:
    """A Rich progress bar on stderr, shown only when stderr is a terminal and not quiet."""

    def __init__(self, label: str, total: int, *, quiet: bool) -> None:
        self._bar = None
        if quiet or not sys.stderr.isatty():
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn

        self._bar = RichProgress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                 console=stderr, transient=True)
        self._task = self._bar.add_task(label, total=total)
        self._bar.start()

    def advance(self) -> None:
        """One item done."""
        if self._bar is not None:
            self._bar.advance(self._task)

    def close(self) -> None:
        """Remove the bar."""
        if self._bar is not None:
            self._bar.stop()


_invocation: list[str] = []  # the arguments of the running ``srcli`` call, set by the root group


def record_invocation(args: Optional[Sequence[str]]) -> None:
    """Remember the command line of this ``srcli`` call (arguments after the program name); None forgets it."""
    _invocation[:] = [] if args is None else ["srcli", *args]


def with_invocation(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` with ``argv``, the exact shell command that made it, right after ``command``."""
    if not _invocation:
        return report
    stamped: dict[str, Any] = {}
    for key, value in report.items():
        stamped[key] = value
        if key == "command":
            stamped["argv"] = shlex.join(_invocation)
    return stamped


def given_on_command_line(ctx: typer.Context, name: str) -> bool:
    """Whether the user gave parameter ``name`` (click's ParameterSource; typer may vendor click)."""
    return getattr(ctx.get_parameter_source(name), "name", None) in ("COMMANDLINE", "ENVIRONMENT")


def option_name(ctx: typer.Context, name: str) -> str:
    """How parameter ``name`` is written on the command line, e.g. ``--y/--rgb``."""
    param = next(p for p in ctx.command.params if p.name == name)
    return "/".join([*param.opts, *param.secondary_opts])


def print_json(command: str, payload: dict[str, Any]) -> None:
    """Print ``{"command", "argv", **payload}`` as JSON on stdout (``--json`` of a command without a report file)."""
    import json

    sys.stdout.write(json.dumps(with_invocation({"command": command, **payload}), indent=2) + "\n")
    sys.stdout.flush()


def emit_report(report: dict[str, Any], *, report_path: Optional[str], as_json: bool) -> None:
    """Write ``--report`` and print ``--json`` on stdout, both stamped with the command line."""
    from srcli.io.reports import to_json, write_report

    report = with_invocation(report)
    if report_path:
        write_report(report_path, report)
    if as_json:
        sys.stdout.write(to_json(report))
        sys.stdout.flush()


def parse_size_option(value: Optional[str], option: str = "--size") -> Optional[tuple[int, int]]:
    """Parse ``--size WxH`` (None passes through); a bad value's message names ``option``."""
    from srcli.geometry import SizeError, parse_size

    try:
        return None if value is None else parse_size(value)
    except SizeError as exc:
        raise SizeError(f"{option}: {exc}") from None


# Shared options (Annotated aliases keep each command's signature short)
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu or cuda[:N].", rich_help_panel="Compute")]
PrecisionOpt = Annotated[str, typer.Option("--precision", help="auto, fp32, bf16 or fp16.", rich_help_panel="Compute")]
ThreadsOpt = Annotated[Optional[int], typer.Option("--threads", help="CPU threads (default: torch's).", rich_help_panel="Compute")]
ReportOpt = Annotated[Optional[str], typer.Option("--report", help="Write a report: FILE.json, .csv or .md.", rich_help_panel="Output")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the JSON report on stdout.", rich_help_panel="Output")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.", rich_help_panel="Output")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.", rich_help_panel="Output")]
SkipOpt = Annotated[bool, typer.Option("--skip-existing", help="Leave existing outputs alone.", rich_help_panel="Output")]
