"""Tests for srcli.io.point_sets: value ranges, checks and merging of samples at equal positions."""

from __future__ import annotations

import numpy as np
import pytest

from srcli.io.point_sets import (
    PointsError,
    PointSet,
    check_columns,
    make_point_set,
    validate_point_set,
)
from srcli.io.points import read_points


def write(tmp_path, text: str, name: str = "p.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


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


def test_duplicates_are_averaged(tmp_path):
    points = read_points(write(tmp_path, "0,0,0.2\n1,0,1\n0,0,0.4\n0,1,0\n"))
    assert len(points) == 3
    row = np.flatnonzero((points.xy == [0, 0]).all(axis=1))
    assert points.values[row, 0] == pytest.approx(0.3)


def test_make_point_set_from_an_array_counts_rows_from_one():
    array = np.array([[0, 0, 0.5], [2, 0, 1], [0, 2, 0], [0, 0, 1]])
    points = make_point_set(array)
    assert (len(points), points.channels, points.value_range) == (3, 1, "0-1")
    with pytest.raises(PointsError, match="row 2 holds NaN"):
        make_point_set(np.array([[0, 0, 1], [1, 0, np.nan], [0, 1, 1]]), where="row")
    with pytest.raises(PointsError, match="the point array has 4 columns"):
        make_point_set(np.zeros((3, 4)))
    check_columns(6, "x.csv")
    with pytest.raises(PointsError, match="x.csv has 2 columns"):
        check_columns(2, "x.csv")


def test_validate_point_set_checks_shapes_and_geometry():
    with pytest.raises(PointsError, match=r"xy \(N, 2\) and values \(N, C\)"):
        validate_point_set(PointSet(np.zeros((3, 3)), np.zeros((3, 1), np.float32)))
    with pytest.raises(PointsError, match="2 channel values"):
        validate_point_set(PointSet(np.zeros((3, 2)), np.zeros((3, 2), np.float32)))
    with pytest.raises(PointsError, match="one line"):
        validate_point_set(PointSet(np.array([[0, 0], [1, 1], [3, 3]], float), np.zeros((3, 1), np.float32)))
