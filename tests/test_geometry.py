"""Tests for srcli.geometry: rounding, size options, pixel-centre grids."""

import math

import pytest
import torch

from srcli.geometry import SizeError, coord_grid, output_size, parse_size, pixel_centres, query_coords_and_cells, scaled_length


@pytest.mark.parametrize("n,scale,expected", [(192, 2.5, 480), (128, 2.5, 320), (3, 0.5, 2), (5, 0.5, 3), (7, 1.0, 7), (1, 0.1, 1)])
def test_scaled_length_rounds_half_up(n, scale, expected):
    assert scaled_length(n, scale) == expected == max(1, math.floor(n * scale + 0.5))


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "2"])
def test_scaled_length_rejects_bad_scales(bad):
    with pytest.raises(SizeError, match="positive number"):
        scaled_length(10, bad)


def test_output_size_each_option():
    assert output_size((128, 192), scale=2.5) == (320, 480)
    assert output_size((128, 192), size=(1000, 700)) == (700, 1000)
    assert output_size((128, 192), width=300) == (200, 300)
    assert output_size((128, 192), height=100) == (100, 150)


def test_output_size_needs_exactly_one_option():
    with pytest.raises(SizeError, match="give one of"):
        output_size((4, 4))
    with pytest.raises(SizeError, match="--scale and --size conflict"):
        output_size((4, 4), scale=2, size=(3, 3))


@pytest.mark.parametrize("text", ["100", "10x", "x10", "axb", "0x5", "10x-3", "1x2x3"])
def test_parse_size_rejects(text):
    with pytest.raises(SizeError):
        parse_size(text)


def test_parse_size_accepts_upper_case():
    assert parse_size("1000X700") == (1000, 700)


def test_pixel_centres_formula():
    for n in (1, 2, 5):
        expected = torch.tensor([-1 + (2 * i + 1) / n for i in range(n)])
        assert torch.allclose(pixel_centres(n), expected, atol=1e-7)
    assert pixel_centres(4, dtype=torch.float64).dtype == torch.float64


def test_grid_is_y_then_x_and_cells():
    grid = coord_grid(2, 3)
    assert grid.shape == (2, 3, 2)
    assert torch.allclose(grid[1, 0], torch.tensor([0.5, -2 / 3]))
    coord, cell = query_coords_and_cells(2, 4)
    assert coord.shape == cell.shape == (8, 2)
    assert torch.allclose(cell, torch.tensor([1.0, 0.5]).expand(8, 2))
