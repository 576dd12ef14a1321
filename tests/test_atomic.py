"""srcli.io.atomic: whole files or nothing, no temporary left behind, the rename flushed."""

from __future__ import annotations

import os

import pytest

from srcli.io import atomic
from srcli.io.atomic import atomic_write


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_binary_write_creates_then_replaces(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write(path, lambda fh: fh.write(b"one"))
    atomic_write(str(path), lambda fh: fh.write(b"\x00two\r\n"))
    assert path.read_bytes() == b"\x00two\r\n" and _names(tmp_path) == ["f.bin"]


def test_text_write_is_utf8_with_newline_line_ends(tmp_path):
    path = tmp_path / "r.md"
    atomic_write(path, lambda fh: fh.write("é\nline\n"), text=True)
    assert path.read_bytes() == "é\nline\n".encode("utf-8")


@pytest.mark.parametrize("error", [ValueError("encoder failed"), KeyboardInterrupt()])
def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path, error):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def half_then_fail(fh):
        fh.write(b"new but partial")
        raise error

    with pytest.raises(type(error)):
        atomic_write(path, half_then_fail)
    assert path.read_bytes() == b"old" and _names(tmp_path) == ["f.bin"]


def test_a_failing_rename_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def refuse(*_args):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(PermissionError):
        atomic_write(path, lambda fh: fh.write(b"new"))
    assert path.read_bytes() == b"old" and _names(tmp_path) == ["f.bin"]


def test_no_overwrite_keeps_a_file_that_appeared_during_the_write(tmp_path):
    path = tmp_path / "out.png"

    def someone_else_writes_first(fh):
        fh.write(b"mine")
        path.write_bytes(b"theirs")

    with pytest.raises(atomic.DestinationExists, match="out.png already exists"):
        atomic_write(path, someone_else_writes_first, overwrite=False)
    assert path.read_bytes() == b"theirs" and _names(tmp_path) == ["out.png"]
    atomic_write(tmp_path / "new.png", lambda fh: fh.write(b"x"), overwrite=False)
    assert (tmp_path / "new.png").read_bytes() == b"x"


def test_a_missing_folder_is_an_os_error_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "no" / "f.bin", lambda fh: fh.write(b"x"))
    assert _names(tmp_path) == []


def test_the_file_then_the_rename_then_the_folder_are_flushed(tmp_path, monkeypatch):
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def record_sync(fd):
        events.append("sync folder" if os.path.isdir(f"/proc/self/fd/{fd}") else "sync file")
        real_fsync(fd)

    def record_replace(*args):
        events.append("rename")
        real_replace(*args)

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to tell a folder's descriptor from a file's")
    monkeypatch.setattr(atomic.os, "fsync", record_sync)
    monkeypatch.setattr(atomic.os, "replace", record_replace)
    atomic_write(tmp_path / "f.bin", lambda fh: fh.write(b"x"))
    assert events == ["sync file", "rename", "sync folder"]


def test_a_temporary_name_taken_by_another_writer_is_left_alone(tmp_path, monkeypatch):
    theirs = tmp_path / ".f.bin.0000.tmp"
    theirs.write_bytes(b"another writer's half")
    monkeypatch.setattr(atomic, "_temporary_name", lambda path: theirs)
    with pytest.raises(FileExistsError) as caught:
        atomic_write(tmp_path / "f.bin", lambda fh: fh.write(b"x"))
    assert not isinstance(caught.value, atomic.DestinationExists)
    assert theirs.read_bytes() == b"another writer's half" and not (tmp_path / "f.bin").exists()


def test_temporaries_are_hidden_in_the_destination_folder_and_unique(tmp_path):
    seen: list[str] = []

    def look(fh):
        seen.append(os.path.basename(fh.name))
        assert os.path.dirname(fh.name) == str(tmp_path)

    atomic_write(tmp_path / "a.txt", look)
    atomic_write(tmp_path / "a.txt", look)
    assert all(name.startswith(".a.txt.") and name.endswith(".tmp") for name in seen) and seen[0] != seen[1]
