"""Real-process CLI tests: the console entry point, streams, exit codes and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from conftest import write_png

SRCLI = [sys.executable, "-m", "srcli"]


def run(*args, **kwargs):
    return subprocess.run([*SRCLI, *map(str, args)], capture_output=True, timeout=120, **kwargs)


def test_help_and_version_exit_zero():
    result = run("--help")
    assert result.returncode == 0 and b"upscale" in result.stdout
    assert run("--version").stdout.decode().startswith("srcli ")


def test_bad_input_is_one_line_on_stderr(tmp_path):
    result = run("upscale", tmp_path / "missing.png", "-s", "2")
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.decode().strip().splitlines() == [f"srcli: error: input not found: {tmp_path / 'missing.png'}"]


def test_pipe_stdin_to_stdout(tmp_path):
    png = write_png(tmp_path / "a.png")
    result = run("upscale", "-", "-o", "-", "--format", "png", "-s", "3", "-m", "bicubic", input=png.read_bytes())
    assert result.returncode == 0, result.stderr
    (tmp_path / "b.png").write_bytes(result.stdout)
    assert Image.open(tmp_path / "b.png").size == (48, 36)


def test_report_argv_is_the_shell_command(tmp_path):
    folder = tmp_path / "my images"
    folder.mkdir()
    png = write_png(folder / "a.png")
    result = run("upscale", png, "-s", "2", "-m", "bicubic", "-o", folder / "b.png", "--report", folder / "r.json")
    assert result.returncode == 0, result.stderr
    argv = json.loads((folder / "r.json").read_text())["argv"]
    assert argv == f"srcli upscale '{png}' -s 2 -m bicubic -o '{folder / 'b.png'}' --report '{folder / 'r.json'}'"


def _finished(folder):
    return [n for n in os.listdir(folder) if not n.startswith(".")]


def test_sigint_mid_batch_leaves_no_partial_file(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for i in range(50):
        write_png(folder / f"img{i:02d}.png", height=160, width=160, seed=i)
    # x6 (960x960 PNGs): long enough per image that the signal lands mid-batch. The child gets
    # the default SIGINT action back: a shell that starts the tests in the background (nohup,
    # `cmd &`) makes them inherit an ignored SIGINT, and Python then installs no handler.
    proc = subprocess.Popen([*SRCLI, "upscale", str(folder), "-o", str(out), "-s", "6", "-m", "bicubic", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.is_dir() or len(_finished(out)) < 3):
        time.sleep(0.02)
    assert proc.poll() is None, "the batch ended before the signal could be sent"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr.decode()
    names = sorted(os.listdir(out))
    assert 3 <= len(names) < 50, names
    assert all(n.startswith("img") and n.endswith("_x6.png") for n in names), names
    for name in names:  # every finished output decodes completely
        with Image.open(out / name) as im:
            assert np.asarray(im).shape == (960, 960, 3)
    assert b"Traceback" not in stderr


def test_sigterm_mid_fit_keeps_a_state_that_the_same_command_continues(tmp_path):
    noisy, out, state = write_png(tmp_path / "noisy.png", height=24, width=24), tmp_path / "out.png", tmp_path / "s.pt"
    args = [*SRCLI, "fit-linr", str(noisy), "-o", str(out), "--steps", "2000", "--width", "32", "--depth", "2",
            "--checkpoint", str(state), "--checkpoint-every", "5", "--device", "cpu", "--precision", "fp32",
            "--threads", "1", "-q"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not state.exists():
        time.sleep(0.02)
    assert proc.poll() is None, "the fit ended before the signal could be sent"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    lines = stderr.decode().strip().splitlines()
    assert proc.returncode == 143 and len(lines) == 1, stderr.decode()  # 128 + SIGTERM
    assert lines[0].startswith("srcli: error: interrupted: SIGTERM at step ") and "run the same command to continue" in lines[0]
    assert not out.exists()  # no output before the fit ends
    step = int(lines[0].split(" at step ")[1].split()[0])
    other = [a if a != "2000" else "1999" for a in args]  # another fit: refused, the state kept
    refused = subprocess.run(other, capture_output=True, timeout=120)
    assert refused.returncode == 2 and b"state of another fit" in refused.stderr and state.exists()
    resumed = subprocess.run([*args, "--json"], capture_output=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr.decode()
    row = json.loads(resumed.stdout)["rows"][0]
    assert row["steps"] == 2000 and row["resumed_at_step"] == step and out.exists()  # continued, not restarted
