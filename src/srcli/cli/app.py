"""The ``srcli`` Typer application: one module per command, registered here.

Nothing here imports torch: commands import their task modules when they run, so
``srcli --help`` and tab completion stay fast.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from srcli import __version__
from srcli.cli.bench import bench_app
from srcli.cli.completion import completions_command
from srcli.cli.fit_linr import fit_linr_app
from srcli.cli.inpaint import inpaint_command
from srcli.cli.models import models_command
from srcli.cli.points import from_points_command, sample_points_command
from srcli.cli.train import train_command
from srcli.cli.upscale import upscale_command

try:  # recent typer vendors click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer on top of click
    from click.exceptions import ClickException  # type: ignore[no-redef]


class SrcliGroup(TyperGroup):
    """The root group: usage errors become one line ``srcli: error: ...`` with exit code 2."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        from srcli.cli.common import error, record_invocation

        record_invocation(sys.argv[1:] if args is None else list(args))
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except ClickException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()
            else:
                command = getattr(getattr(exc, "ctx", None), "command_path", "srcli")
                error(f"{exc.format_message()} (see '{command} --help')")
            code = exc.exit_code
        except typer.Abort:
            code = 130
        finally:
            record_invocation(None)
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=SrcliGroup,
    name="srcli",
    help="Restore and resample images with implicit neural representations.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"srcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version and exit.")] = None,
) -> None:
    """Restore and resample images with implicit neural representations."""


app.command("upscale", no_args_is_help=True)(upscale_command)
app.command("models")(models_command)
app.command("train", no_args_is_help=True)(train_command)
app.command("completions")(completions_command)
app.add_typer(bench_app, name="bench")
app.command("from-points", no_args_is_help=True)(from_points_command)
app.command("sample-points", no_args_is_help=True)(sample_points_command)
app.command("inpaint", no_args_is_help=True)(inpaint_command)
app.add_typer(fit_linr_app, name="fit-linr")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="srcli")
