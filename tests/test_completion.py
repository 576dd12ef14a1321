"""Tests for srcli.cli.completion: scripts cover every command and completions/ is current."""

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from srcli.cli.app import app
from srcli.cli.completion import FILE_NAMES, SHELLS, completion_script

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("shell", SHELLS)
def test_completions_folder_is_current(shell):
    committed = (ROOT / "completions" / FILE_NAMES[shell]).read_text(encoding="utf-8")
    assert committed == completion_script(shell), (
        f"completions/{FILE_NAMES[shell]} is stale: run `python -m srcli.cli.completion completions/`")


def test_scripts_name_every_command_and_option():
    import typer

    group = typer.main.get_command(app)
    for shell in SHELLS:
        script = completion_script(shell)
        for name, command in group.commands.items():
            assert name in script
            for param in command.params:
                for flag in param.opts:
                    if flag.startswith("--"):
                        assert (flag if shell != "fish" else f"-l {flag[2:]}") in script, (shell, flag)


def test_bash_script_is_valid_and_completes_commands(tmp_path):
    path = tmp_path / "srcli.bash"
    path.write_text(completion_script("bash"))
    probe = f'source {path}; COMP_WORDS=(srcli up); COMP_CWORD=1; _srcli; echo "${{COMPREPLY[@]}}"'
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["upscale"]
    probe = f'source {path}; COMP_WORDS=(srcli upscale --prec); COMP_CWORD=2; _srcli; echo "${{COMPREPLY[@]}}"'
    assert subprocess.run(["bash", "-c", probe], capture_output=True, text=True).stdout.split() == ["--precision"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh not installed")
def test_zsh_script_parses(tmp_path):
    path = tmp_path / "_srcli"
    path.write_text(completion_script("zsh"))
    subprocess.run(["zsh", "-n", str(path)], check=True)


def test_command_prints_script_and_rejects_unknown_shell():
    runner = CliRunner()
    result = runner.invoke(app, ["completions", "bash"])
    assert result.exit_code == 0 and result.stdout == completion_script("bash")
    result = runner.invoke(app, ["completions", "tcsh"])
    assert result.exit_code == 2 and "unknown shell 'tcsh'" in result.output
