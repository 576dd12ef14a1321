"""Point files: parsing, validation, extents, writing and the sampling helper."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

from srcli.io.points import (
    PointSet,
    PointsError,
    points_inside,
    read_points,
    resolve_extent,
    sample_points,
    write_points,
)

GOOD_ROWS = "0,0,10,20,30\n4,0,40,50,60\n0,3,70,80,90\n2,2,255,0,0\n"


def write(tmp_path, text: str, name: str = "p.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


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


@pytest.mark.parametrize(("top", "expected"), [(1.0, "0-1"), (0.3, "0-1"), (1.5, "0-255"), (255, "0-255"), (256, "0-65535"), (65535, "0-65535")])
def test_value_range_auto_detection(tmp_path, top, expected):
    points = read_points(write(tmp_path, f"0,0,0\n1,0,{top}\n0,1,0\n"))
    assert points.value_range == expected
    peak = {"0-1": 1, "0-255": 255, "0-65535": 65535}[expected]
    assert points.values.max() == pytest.approx(top / peak)


def test_declared_value_range(tmp_path):
    path = write(tmp_path, "0,0,0\n1,0,0.5\n0,1,1\n")
    assert read_points(path, value_range="0-255").values.max() == pytest.approx(1 / 255)
    with pytest.raises(PointsError, match=r"line 3 holds 300, outside the declared value range 0-255"):
        read_points(write(tmp_path, "0,0,0\n1,0,5\n0,1,300\n", "b.csv"), value_range="0-255")
    with pytest.raises(PointsError, match="negative value"):
        read_points(write(tmp_path, "0,0,0\n1,0,-5\n0,1,3\n", "c.csv"))
    with pytest.raises(PointsError, match="exceeds 65535"):
        read_points(write(tmp_path, "0,0,0\n1,0,70000\n0,1,3\n", "d.csv"))
    with pytest.raises(PointsError, match="unknown value range"):
        read_points(path, value_range="0-100")


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


def test_duplicates_are_averaged(tmp_path):
    points = read_points(write(tmp_path, "0,0,0.2\n1,0,1\n0,0,0.4\n0,1,0\n"))
    assert len(points) == 3
    row = np.flatnonzero((points.xy == [0, 0]).all(axis=1))
    assert points.values[row, 0] == pytest.approx(0.3)


# ---- extents --------------------------------------------------------------------------

def test_extent_rules():
    points = PointSet(np.array([[0.2, 1.0], [9.4, 0.0], [3.0, 6.6]]), np.zeros((3, 1), np.float32))
    # pixel cover: pixel j holds x in [j - 0.5, j + 0.5)
    assert resolve_extent(points) == (-0.5, -0.5, 9.5, 7.5)
    assert resolve_extent(points, source_size=(12, 8)) == (-0.5, -0.5, 11.5, 7.5)
    assert resolve_extent(points, extent=(0, 0, 20, 10)) == (0.0, 0.0, 20.0, 10.0)
    points.source_size = (16, 9)
    assert resolve_extent(points) == (-0.5, -0.5, 15.5, 8.5)
    with pytest.raises(PointsError, match="not both"):
        resolve_extent(points, extent=(0, 0, 1, 1), source_size=(2, 2))
    with pytest.raises(PointsError, match="x1 > x0"):
        resolve_extent(points, extent=(5, 0, 1, 1))


def test_points_outside_the_extent():
    xy = np.array([[0, 0], [4, 0], [0, 4], [4, 4], [9, 9], [-3, 2]], float)
    points = PointSet(xy, np.ones((6, 1), np.float32))
    with pytest.raises(PointsError, match=r"2 of 6 points lie outside the extent x0,y0,x1,y1 = -0.5,-0.5,4.5,4.5"):
        points_inside(points, (-0.5, -0.5, 4.5, 4.5))
    kept = points_inside(points, (-0.5, -0.5, 4.5, 4.5), drop_outside=True)
    assert len(kept) == 4 and kept.xy.max() == 4
    assert points_inside(points, (-3, 0, 9, 9)) is points  # edges are inside


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


# ---- sampling ---------------------------------------------------------------------------

def test_sample_integer_points(tmp_path):
    image = np.random.default_rng(0).uniform(size=(30, 40, 3))
    points = sample_points(image, 0.2, seed=5)
    assert len(points) == 240 and points.source_size == (40, 30)
    xy = points.xy.astype(int)
    assert np.array_equal(points.xy, xy) and len(np.unique(xy, axis=0)) == 240
    np.testing.assert_array_equal(points.values, image[xy[:, 1], xy[:, 0]].astype(np.float32))
    again, other = sample_points(image, 0.2, seed=5), sample_points(image, 0.2, seed=6)
    np.testing.assert_array_equal(again.xy, points.xy)
    assert not np.array_equal(other.xy, points.xy)
    write_points(tmp_path / "p.npy", points)  # NPY keeps no size: the corner rule recovers it
    assert resolve_extent(read_points(tmp_path / "p.npy")) == (-0.5, -0.5, 39.5, 29.5)
    assert len(sample_points(image, 1.0)) == 1200


def keys(d: float) -> float:
    """Keys cubic convolution kernel, a = -0.5 (textbook form)."""
    d = abs(d)
    if d <= 1:
        return 1.5 * d**3 - 2.5 * d**2 + 1
    if d < 2:
        return -0.5 * d**3 + 2.5 * d**2 - 4 * d + 2
    return 0.0


def test_sample_irregular_points_match_bicubic():
    rng = np.random.default_rng(1)
    image = rng.uniform(size=(12, 10, 1))
    points = sample_points(image, 0.5, irregular=True, seed=2)
    assert len(points) == 60 and points.source_size == (10, 12)
    assert (points.xy >= -0.5).all() and (points.xy[:, 0] < 9.5).all() and (points.xy[:, 1] < 11.5).all()
    assert resolve_extent(PointSet(points.xy, points.values)) == (-0.5, -0.5, 9.5, 11.5)
    inner = np.flatnonzero(((points.xy >= 1) & (points.xy < [7, 9])).all(axis=1))
    assert inner.size > 5
    for row in inner:
        x, y = points.xy[row]
        want = sum(keys(x - j) * keys(y - i) * image[i, j, 0] for i in range(12) for j in range(10))
        assert points.values[row, 0] == pytest.approx(np.clip(want, 0, 1), abs=1e-6)
    np.testing.assert_array_equal(sample_points(image, 0.5, irregular=True, seed=2).xy, points.xy)


def test_sample_irregular_reproduces_a_ramp_up_to_the_border():
    yy, xx = np.mgrid[0:16, 0:16]
    image = (0.02 * xx + 0.03 * yy + 0.1)[:, :, None]
    points = sample_points(image, 2.0, irregular=True, seed=0)
    assert len(points) == 512
    inside = ((points.xy >= 1) & (points.xy <= 14)).all(axis=1)
    want = 0.02 * points.xy[:, 0] + 0.03 * points.xy[:, 1] + 0.1
    np.testing.assert_allclose(points.values[inside, 0], want[inside], atol=1e-6)


def test_sample_bad_requests():
    image = np.zeros((4, 4, 3))
    with pytest.raises(PointsError, match="at least 3"):
        sample_points(image, 0.1)
    with pytest.raises(PointsError, match="ratio <= 1"):
        sample_points(image, 1.5)
    with pytest.raises(PointsError, match=r"\(H, W, C\)"):
        sample_points(np.zeros((4, 4, 2)), 0.5)
