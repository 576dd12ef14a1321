"""Tests for srcli.io.points: its public names, parsing, messages naming file lines, and writing."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

import srcli.io.points
from srcli.io import point_extents, point_sampling, point_sets
from srcli.io.points import PointsError, PointSet, read_points, write_points

GOOD_ROWS = "0,0,10,20,30\n4,0,40,50,60\n0,3,70,80,90\n2,2,255,0,0\n"


def write(tmp_path, text: str, name: str = "p.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_public_names_are_those_of_their_modules() -> None:
    moved = {point_sets: ("CHANNEL_NAMES", "VALUE_RANGES", "PointSet", "PointsError", "make_point_set",
                          "merge_duplicates", "validate_point_set"),
             point_extents: ("Extent", "points_inside", "resolve_extent"),
             point_sampling: ("bicubic_at", "keys_weights", "sample_points")}
    exported = {"read_points", "write_points"}
    for module, names in moved.items():
        exported.update(names)
        for name in names:
            assert getattr(srcli.io.points, name) is getattr(module, name)
    assert sorted(srcli.io.points.__all__) == sorted(exported)


# ---- parsing -----------------------------------------------------------------------

def test_csv_with_header_reads_xy_and_scales_8bit_values(tmp_path):
    points = read_points(write(tmp_path, "x,y,r,g,b\n" + GOOD_ROWS))
    assert points.xy.dtype == np.float64 and points.values.dtype == np.float32
    assert points.value_range == "0-255"
    np.testing.assert_array_equal(points.xy[1], [4.0, 0.0])
    np.testing.assert_allclose(points.values[1], np.array([40, 50, 60]) / 255.0, rtol=1e-6)
    assert points.source_size is None


def test_csv_without_header_equals_with_header(tmp_path):
    a = read_points(write(tmp_path, GOOD_ROWS, "a.csv"))
    b = read_points(write(tmp_path, "x,y,r,g,b\n" + GOOD_ROWS, "b.csv"))
    np.testing.assert_array_equal(a.xy, b.xy)
    np.testing.assert_array_equal(a.values, b.values)


@pytest.mark.parametrize("delimiter", ["\t", ";", " ", "  "])
def test_other_delimiters_and_comments(tmp_path, delimiter):
    rows = [["x", "y", "v"], ["0", "0", "0.5"], ["3", "0", "0.25"], ["0", "2", "1"], ["1", "1", "0"]]
    lines = [delimiter.join(r) for r in rows]
    lines[2] += "  # an inline comment"
    text = "# a comment line\n\n" + "\n".join(lines) + "\n"
    points = read_points(write(tmp_path, text, "p.tsv"))
    assert points.channels == 1 and points.value_range == "0-1"
    np.testing.assert_array_equal(points.xy, [[0, 0], [3, 0], [0, 2], [1, 1]])
    np.testing.assert_allclose(points.values[:, 0], [0.5, 0.25, 1.0, 0.0])


def test_npy_and_stdin(tmp_path, monkeypatch):
    array = np.array([[0, 0, 1, 2, 3, 4], [5, 0, 5, 6, 7, 8], [0, 5, 9, 10, 11, 12], [1, 1, 0, 0, 0, 0]], float)
    buffer = io.BytesIO()
    np.save(buffer, array)
    (tmp_path / "p.npy").write_bytes(buffer.getvalue())
    points = read_points(tmp_path / "p.npy")
    assert points.channels == 4 and points.value_range == "0-255"
    np.testing.assert_allclose(points.values * 255, array[:, 2:], rtol=1e-6)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(buffer.getvalue())))
    np.testing.assert_array_equal(read_points("-").xy, array[:, :2])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(GOOD_ROWS.encode())))
    assert len(read_points("-")) == 4


# ---- malformed files ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("x,y,v\n0,0,1\n1,0,nan\n0,1,1\n", r"line 3 holds NaN"),
        ("0,0,1\n1,0,1\n0,1,inf\n", r"line 3 holds an infinite value"),
        ("# c\n0,0,1\n# c\n1,0,-inf\n0,1,1\n", r"line 4 holds an infinite value"),
        ("0,0,1,2\n1,0,1,2\n0,1,1,2\n", r"has 4 columns; expected x, y and 1, 3 or 4 channel values"),
        ("x,y\n0,0\n1,1\n", r"has 2 columns"),
        ("", r"holds no points \(empty file\)"),
        ("# only a comment\n\n", r"empty file"),
        ("x,y,v\n", r"holds no points \(only a header\)"),
        ("0,0,1\n1,0,1\n", r"only 2 point\(s\); at least 3 are needed"),
        ("0,0,1\n1,1,1\n2,2,1\n5,5,0\n", r"all 4 points lie on one line"),
        ("0,0,1\n0,0,0.5\n1,1,1\n", r"only 2 distinct position\(s\)"),
        ("x,y,v\n0,0,1\n1,0,1\n0,1,abc\n", r"line 4, column 3: 'abc' is not a number"),
        ("0,0,1\n1,0,1,1\n0,1,1\n", r"line 2 has 4 columns where the lines before it have 3"),
    ],
)
def test_malformed_text_files(tmp_path, text, pattern):
    with pytest.raises(PointsError, match=pattern) as info:
        read_points(write(tmp_path, text))
    assert "\n" not in str(info.value)


def test_malformed_npy_and_binary(tmp_path):
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(6))
    (tmp_path / "flat.npy").write_bytes(buffer.getvalue())
    with pytest.raises(PointsError, match=r"numeric \(N, 2 \+ C\) array"):
        read_points(tmp_path / "flat.npy")
    (tmp_path / "cut.npy").write_bytes(buffer.getvalue()[:70])
    with pytest.raises(PointsError, match="unreadable NPY"):
        read_points(tmp_path / "cut.npy")
    buffer = io.BytesIO()
    np.save(buffer, np.array([[0, 0, 1], [1, 0, np.nan], [0, 1, 1]]))
    (tmp_path / "nan.npy").write_bytes(buffer.getvalue())
    with pytest.raises(PointsError, match="row 2 holds NaN"):
        read_points(tmp_path / "nan.npy")
    (tmp_path / "bin.dat").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(PointsError, match="neither a text point file"):
        read_points(tmp_path / "bin.dat")
    with pytest.raises(PointsError, match="not found"):
        read_points(tmp_path / "missing.csv")


# ---- writing ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["out.csv", "out.tsv", "out.npy"])
def test_write_read_round_trip(tmp_path, name):
    rng = np.random.default_rng(3)
    points = PointSet(rng.uniform(-0.5, 20, (50, 2)), rng.uniform(0, 1, (50, 3)).astype(np.float32), (21, 21), "0-1")
    write_points(tmp_path / name, points)
    back = read_points(tmp_path / name)
    np.testing.assert_array_equal(back.xy, points.xy)
    np.testing.assert_array_equal(back.values, points.values)
    assert back.source_size == (None if name.endswith(".npy") else (21, 21))
    assert [p.name for p in tmp_path.iterdir()] == [name]
    if name != "out.npy":
        lines = (tmp_path / name).read_text().splitlines()
        assert lines[0] == "# source-size: 21x21"
        assert lines[1] == ("x\ty\tr\tg\tb" if name.endswith(".tsv") else "x,y,r,g,b")


def test_write_value_range_and_headers(tmp_path, capsys):
    values = np.array([[0.0, 0.2, 1.0, 1.0], [1.0, 0.4, 0.0, 0.5], [0.2, 0.6, 0.4, 0.0]], np.float32)
    points = PointSet(np.array([[0, 0], [2, 0], [0, 2]], float), values, None, "0-255")
    write_points(tmp_path / "rgba.csv", points)
    lines = (tmp_path / "rgba.csv").read_text().splitlines()
    assert lines[0] == "x,y,r,g,b,a"
    assert [float(v) for v in lines[2].split(",")] == pytest.approx([2, 0, 255, 102, 0, 127.5])
    grey = PointSet(points.xy, values[:, :1], (3, 3), "0-1")
    write_points("-", grey)
    assert capsys.readouterr().out.splitlines()[:2] == ["# source-size: 3x3", "x,y,v"]
    with pytest.raises(PointsError, match="unknown value range"):
        write_points(tmp_path / "x.csv", grey, value_range="0-7")
