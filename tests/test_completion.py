"""Tests for srcli.cli.completion: scripts cover every command and completions/ is current."""

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from srcli.cli.app import app
from srcli.cli.completion import (
    DEFAULT_SUBCOMMANDS,
    FILE_NAMES,
    SHELLS,
    completion_script,
)

ROOT = Path(__file__).resolve().parents[1]
BENCH_TASKS = ["upscale", "points", "inpaint", "linr"]


def leaf_commands(command, path=()):
    """``(path, command)`` for every command that is no group, e.g. ``(("bench", "quality"), ...)``."""
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        return [(path, command)]
    return [leaf for name, sub in subcommands.items() for leaf in leaf_commands(sub, (*path, name))]


def words_of(line):
    """The words of a command line; a trailing space starts an empty word (the one being completed)."""
    return line.split() + ([""] if line.endswith(" ") else [])


@pytest.fixture
def bash_complete(tmp_path):
    """``complete("srcli bench ")``: COMPREPLY of the generated bash script, run in an empty folder."""
    path = tmp_path / "srcli.bash"
    path.write_text(completion_script("bash"))
    cwd = tmp_path / "empty"
    cwd.mkdir()

    def complete(line):
        words = words_of(line)
        probe = (f"source {path}; COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); "
                 f'COMP_CWORD={len(words) - 1}; _srcli; printf "%s\\n" "${{COMPREPLY[@]}}"')
        return subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True, cwd=cwd).stdout.split()
    return complete


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
        for path, command in leaf_commands(group):
            assert all(name in script for name in path), (shell, path)
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


def test_bash_completes_group_subcommands_and_their_options(bash_complete):
    import typer

    bench = typer.main.get_command(app).commands["bench"]
    assert set(bench.commands) <= set(bash_complete("srcli bench "))
    assert bash_complete("srcli bench q") == ["quality"]
    assert bash_complete("srcli bench quality --ta") == ["--task"]
    assert bash_complete("srcli fit-linr re") == ["render"]
    assert bash_complete("srcli fit-linr render --si") == ["--size"]


def test_bash_completes_the_default_fit_subcommand(bash_complete):
    assert bash_complete("srcli fit-linr img.png --cr") == ["--crop"]
    assert bash_complete("srcli fit-linr --cr") == ["--crop"]
    assert bash_complete("srcli fit-linr --scale 4 img.png --ta") == ["--task"]
    assert bash_complete("srcli fit-linr fit img.png --cr") == ["--crop"]


def test_default_subcommands_match_the_app():
    runner = CliRunner()
    for group, sub in DEFAULT_SUBCOMMANDS.items():
        result = runner.invoke(app, [group, "img.png", "--help"])
        assert result.exit_code == 0 and f"srcli {group} {sub}" in result.output


def test_bash_offers_task_values_per_command(bash_complete):
    assert bash_complete("srcli bench quality --task ") == BENCH_TASKS
    assert bash_complete("srcli fit-linr img.png --task ") == ["auto", "denoise", "sr", "inpaint", "deblur"]
    assert bash_complete("srcli fit-linr -t d") == ["denoise", "deblur"]
    assert bash_complete("srcli models --task ") == ["upscale", "points", "fit"]
    assert bash_complete("srcli fit-linr render x.fit --bit-depth ") == ["8", "16", "32"]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish not installed")
def test_fish_completes_groups_and_task_values(tmp_path):
    path = tmp_path / "srcli.fish"
    path.write_text(completion_script("fish"))

    def complete(line):
        out = subprocess.run(["fish", "-c", f"source {path}; complete -C {shlex.quote(line)}"],
                             capture_output=True, text=True, check=True, cwd=tmp_path).stdout
        return sorted(row.split("\t")[0] for row in out.splitlines())
    assert complete("srcli bench quality --ta") == ["--task"]
    assert {"crops", "quality", "speed"} <= set(complete("srcli bench "))
    assert complete("srcli fit-linr render --si") == ["--size"]
    assert complete("srcli fit-linr img.png --cr") == ["--crop"]
    assert complete("srcli bench quality --task ") == sorted(BENCH_TASKS)
    assert "--mask" not in complete("srcli bench quality --task inpaint --m")  # not `srcli inpaint`'s


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh not installed")
def test_zsh_dispatches_to_group_subcommands(tmp_path):
    path = tmp_path / "_srcli"
    path.write_text(completion_script("zsh"))
    stubs = "_arguments() { print -rl -- $@ }; _describe() { print -rl -- ${(P)2} }; _files() { print -r -- FILES }"

    def complete(line):
        words = words_of(line)
        probe = f"{stubs}; words=({' '.join(shlex.quote(w) for w in words)}); CURRENT={len(words)}; source {path}"
        return subprocess.run(["zsh", "-f", "-c", probe], capture_output=True, text=True, check=True).stdout.splitlines()
    assert any(row.startswith("quality:") for row in complete("srcli bench "))
    assert any(row.startswith("--task[") and row.endswith(":value:(upscale points inpaint linr)")
               for row in complete("srcli bench quality --ta"))
    assert any(row.startswith("--crop[") for row in complete("srcli fit-linr img.png --cr"))
    assert any(row.startswith("--size[") for row in complete("srcli fit-linr render --si"))


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
