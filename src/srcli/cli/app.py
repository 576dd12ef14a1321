"""The ``srcli`` Typer application: one module per command, registered here.

Nothing here imports torch: commands import their task modules when they run, so
``srcli --help`` and tab completion stay fast.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from srcli import __version__
from srcli.cli.completion import completions_command
from srcli.cli.models import models_command
from srcli.cli.upscale import upscale_command

app = typer.Typer(
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
app.command("completions")(completions_command)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="srcli")
