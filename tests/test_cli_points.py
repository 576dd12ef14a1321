"""CLI tests for `srcli from-points` and `srcli sample-points` (a throwaway Typer app holds the commands)."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from srcli.cli.points import from_points_command, sample_points_command

app = typer.Typer()
app.command("from-points")(from_points_command)
app.command("sample-points")(sample_points_command)
runner = CliRunner()


def invoke(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


@pytest.fixture()
def photo(tmp_path):
    """A 24x20 RGB PNG of smooth content plus noise."""
    yy, xx = np.mgrid[0:20, 0:24]
    base = np.stack([xx * 9, yy * 11, 128 + 3 * (xx - yy)], -1) + np.random.default_rng(0).integers(0, 20, (20, 24, 3))
    Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(tmp_path / "photo.png")
    return tmp_path / "photo.png"


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.float64)


def np_psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    return 10 * math.log10(peak**2 / np.mean((a - b) ** 2))


def leftovers(folder, keep):
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".tsv"])
def test_sample_then_nearest_at_ratio_one_gives_the_source_back(tmp_path, photo, suffix):
    pts = tmp_path / f"pts{suffix}"
    assert invoke("sample-points", photo, "--ratio", "1", "-o", pts).exit_code == 0
    result = invoke("from-points", pts, "--method", "nearest")
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(pixels(tmp_path / "pts.png"), pixels(photo))  # default name: <stem>.png


def test_sizes_scale_and_geometry_options(tmp_path, photo):
    pts = tmp_path / "p.npy"
    invoke("sample-points", photo, "--ratio", "0.5", "--irregular", "--seed", "3", "-o", pts)
    cases = [(["--size", "31x17"], (31, 17)), (["--scale", "1.5"], (36, 30)), ([], (24, 20)),
             (["--source-size", "30x25"], (30, 25)), (["--extent", "-0.5,-0.5,29.5,19.5", "--scale", "0.5"], (15, 10))]
    for k, (extra, size) in enumerate(cases):
        out = tmp_path / f"o{k}.png"
        result = invoke("from-points", pts, "--method", "linear", "-o", out, *extra)
        assert result.exit_code == 0, (extra, result.output)
        assert Image.open(out).size == size, extra


def test_json_row_and_reference_metrics_match_numpy(tmp_path, photo):
    pts, out = tmp_path / "p.csv", tmp_path / "o.png"
    invoke("sample-points", photo, "--ratio", "0.3", "--seed", "1", "-o", pts)
    result = invoke("from-points", pts, "--method", "cubic", "-o", out, "--reference", photo, "--json",
                    "--report", tmp_path / "r.md")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    row = report["rows"][0]
    assert report["command"] == "from-points" and report["method"] == "cubic" and row["status"] == "done"
    assert row["points"] == round(0.3 * 480) and row["output_size"] == [24, 20] and row["channels"] == 3
    assert row["extent"] == [-0.5, -0.5, 23.5, 19.5] and row["value_range"] == "0-1"
    assert row["psnr"] == pytest.approx(np_psnr(pixels(out), pixels(photo)), abs=1e-9)
    assert 0 < row["ssim"] < 1 and "psnr" in (tmp_path / "r.md").read_text()


def test_stdin_points_and_png_on_stdout(tmp_path, photo):
    csv = invoke("sample-points", photo, "--ratio", "1", "-o", "-").stdout
    assert csv.startswith("# source-size: 24x20\nx,y,r,g,b\n")
    result = runner.invoke(app, ["from-points", "-", "-o", "-", "--method", "nearest"], input=csv)
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(result.stdout_bytes)), dtype=np.float64),
                                  pixels(photo))
    needs_output = runner.invoke(app, ["from-points", "-", "--method", "nearest"], input=csv)
    assert needs_output.exit_code == 2 and "reading stdin needs -o" in needs_output.stderr


def test_sixteen_bit_values_give_a_sixteen_bit_png(tmp_path):
    xy = np.array([[0, 0], [5, 0], [0, 4], [5, 4], [2, 2], [3, 1]], float)
    values = np.array([0, 65535, 1000, 40000, 30000, 5])[:, None]
    np.savetxt(tmp_path / "g.csv", np.hstack([xy, values]), delimiter=",", header="x,y,v", comments="", fmt="%g")
    result = invoke("from-points", tmp_path / "g.csv", "--method", "nearest", "--json")
    assert result.exit_code == 0, result.output
    image = Image.open(tmp_path / "g.png")
    assert image.mode.startswith("I") and image.size == (6, 5)
    got = np.asarray(image)
    assert got[0, 5] == 65535 and got[4, 0] == 1000 and got[2, 2] == 30000
    eight = invoke("from-points", tmp_path / "g.csv", "--method", "nearest", "--bit-depth", "8", "-o", tmp_path / "e.png")
    assert eight.exit_code == 0 and Image.open(tmp_path / "e.png").mode == "L"


def test_batch_skip_overwrite_and_a_bad_file(tmp_path, photo):
    for name in ("a.npy", "b.npy"):
        invoke("sample-points", photo, "--ratio", "0.4", "-o", tmp_path / name)
    (tmp_path / "c.csv").write_text("x,y,v\n0,0,1\n")
    result = invoke("from-points", tmp_path / "a.npy", tmp_path / "b.npy", tmp_path / "c.csv", "-o", tmp_path / "out",
                    "--method", "linear", "--json")
    assert result.exit_code == 1 and "c.csv" in result.stderr and "Traceback" not in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    again = invoke("from-points", tmp_path / "a.npy", "-o", tmp_path / "out" / "a.png", "--method", "linear")
    assert again.exit_code == 2 and "exists" in again.stderr
    skipped = invoke("from-points", tmp_path / "a.npy", "-o", tmp_path / "out" / "a.png", "--skip-existing", "--json")
    assert skipped.exit_code == 0 and json.loads(skipped.stdout)["rows"][0]["status"] == "skipped"
    assert invoke("from-points", tmp_path / "a.npy", "-o", tmp_path / "out" / "a.png", "--overwrite").exit_code == 0


BAD_FILES = {
    "nan.csv": ("x,y,v\n0,0,0.1\n1,0,nan\n0,1,0.3\n", "line 3 holds NaN"),
    "inf.csv": ("x,y,v\n0,0,0.1\n1,0,0.2\n0,1,inf\n", "holds an infinite value"),
    "columns.csv": ("0,0,0.1,0.2\n1,0,0.2,0.3\n0,1,0.3,0.4\n", "has 4 columns; expected x, y and 1, 3 or 4"),
    "ragged.csv": ("0,0,0.1\n1,0,0.2,0.5\n0,1,0.3\n", "line 2 has 4 columns"),
    "empty.csv": ("", "holds no points (empty file)"),
    "header.csv": ("x,y,v\n", "holds no points (only a header)"),
    "two.csv": ("x,y,v\n0,0,0.1\n1,1,0.2\n", "only 2 point(s); at least 3"),
    "line.csv": ("x,y,v\n0,0,0.1\n1,1,0.2\n2,2,0.3\n3,3,0.4\n", "lie on one line"),
    "text.csv": ("x,y,v\n0,0,0.1\n1,abc,0.2\n0,1,0.3\n", "line 3, column 2: 'abc' is not a number"),
    "negative.csv": ("x,y,v\n0,0,0.1\n1,0,-2\n0,1,0.3\n", "negative value"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_malformed_point_files_fail_cleanly(tmp_path, name):
    text, fragment = BAD_FILES[name]
    (tmp_path / name).write_text(text)
    result = invoke("from-points", tmp_path / name, "--method", "linear")
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr and result.stderr.startswith("srcli: error:")
    assert "Traceback" not in result.output and leftovers(tmp_path, {name}) == []


def test_bad_npy_and_points_outside_the_extent(tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((4, 4)))
    result = invoke("from-points", tmp_path / "bad.npy")
    assert result.exit_code == 2 and "has 4 columns" in result.stderr
    np.save(tmp_path / "ok.npy", np.array([[0, 0, 0.1], [9, 0, 0.2], [0, 9, 0.3], [9, 9, 0.4]]))
    outside = invoke("from-points", tmp_path / "ok.npy", "--extent", "-0.5,-0.5,4.5,4.5", "--method", "linear")
    assert outside.exit_code == 2 and "3 of 4 points lie outside the extent" in outside.stderr
    assert leftovers(tmp_path, {"bad.npy", "ok.npy"}) == []
    (tmp_path / "five.csv").write_text("x,y,v\n0,0,0.1\n1,0,0.2\n0,1,0.3\n1,1,0.4\n9,9,0.5\n")
    dropped = invoke("from-points", tmp_path / "five.csv", "--extent", "-0.5,-0.5,1.5,1.5", "--drop-outside",
                     "--method", "linear", "--json")
    assert dropped.exit_code == 0 and json.loads(dropped.stdout)["rows"][0]["points"] == 4


@pytest.mark.parametrize("args, fragment", [
    (["--size", "10x10", "--scale", "2"], "--size and --scale conflict"),
    (["--extent", "0,0,4,4", "--source-size", "5x5"], "--extent and --source-size conflict"),
    (["--extent", "0,0,4"], "--extent takes x0,y0,x1,y1"),
    (["--size", "10by10"], "size must look like WIDTHxHEIGHT"),
    (["--method", "magic"], "unknown --method 'magic'"),
    (["--method", "linear", "--weights", "w.pt"], "--weights is for --method isp"),
    (["--value-range", "0-100"], "unknown --value-range '0-100'"),
    (["--bit-depth", "12"], "unknown --bit-depth '12'"),
])
def test_bad_options_exit_2_before_any_work(tmp_path, photo, args, fragment):
    pts = tmp_path / "p.npy"
    invoke("sample-points", photo, "--ratio", "0.5", "-o", pts)
    result = invoke("from-points", pts, "-o", tmp_path / "o.png", *args)
    assert result.exit_code == 2 and fragment in result.stderr, result.output
    assert not (tmp_path / "o.png").exists() and "Traceback" not in result.output


def test_a_report_never_replaces_an_input_or_an_output(tmp_path, photo):
    pts = tmp_path / "p.csv"
    assert invoke("sample-points", photo, "--ratio", "0.5", "-o", pts).exit_code == 0
    before = pts.read_bytes()
    over_input = invoke("from-points", pts, "-o", tmp_path / "o.png", "--method", "linear", "--report", pts)
    assert over_input.exit_code == 2 and f"--report {pts} is also input {pts}" in over_input.stderr
    over_points = invoke("sample-points", photo, "--ratio", "0.5", "-o", pts, "--overwrite", "--report", pts)
    assert over_points.exit_code == 2 and f"--report {pts} is also output {pts}" in over_points.stderr
    assert pts.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "photo.png"]


def test_outputs_are_checked_before_the_work(tmp_path, photo):
    made = invoke("sample-points", photo, "--ratio", "0.5", "-o", tmp_path / "new" / "deeper" / "p.csv")
    assert made.exit_code == 0, made.output  # missing folders are created, as for images
    pts = tmp_path / "new" / "deeper" / "p.csv"
    cases = [(["-o", tmp_path / "x" / "o.xyz"], "unsupported image format '.xyz'"),
             (["--size", "100000x100000"], "output would be 100000x100000 pixels, over the limit of 200,000,000"),
             (["--scale", "1e5"], "over the limit of 200,000,000")]
    for args, message in cases:
        result = invoke("from-points", pts, "--method", "linear", *(args if "-o" in args else [*args, "-o", tmp_path / "o.png"]))
        assert result.exit_code == 2 and message in result.stderr and "MemoryError" not in result.stderr, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "photo.png"]
    far = tmp_path / "far.csv"
    far.write_text("x,y,v\n0,0,0.1\n100000,0,0.2\n0,100000,0.3\n")
    result = invoke("from-points", far, "--method", "linear", "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and "set --size or --scale (the default is the extent of the points)" in result.stderr


def test_rbf_with_locally_collinear_points_is_a_user_error(tmp_path):
    rows = [f"{x},0,{x / 40:.3f}" for x in range(30)] + ["15,10,0.5"]
    (tmp_path / "line.csv").write_text("x,y,v\n" + "\n".join(rows) + "\n")
    result = invoke("from-points", tmp_path / "line.csv", "--method", "rbf", "--size", "8x8", "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and "local fit is singular; use another method" in result.stderr
    assert "LinAlgError" not in result.stderr and not (tmp_path / "o.png").exists()


def test_isp_without_shipped_weights_asks_for_weights(tmp_path, photo, no_shipped_weights):
    pts = tmp_path / "p.npy"
    invoke("sample-points", photo, "--ratio", "0.5", "-o", pts)
    result = invoke("from-points", pts, "-o", tmp_path / "o.png", "--method", "isp")
    assert result.exit_code == 2 and "isp-points model ships none yet" in result.stderr and "--weights" in result.stderr
    assert not (tmp_path / "o.png").exists()
    auto = invoke("from-points", pts, "-o", tmp_path / "auto.png", "--json")
    assert auto.exit_code == 0 and json.loads(auto.stdout)["rows"][0]["method"] == "linear"


def test_reference_of_another_size_and_isp_with_weights(tmp_path, photo):
    from srcli.registry import create, save_checkpoint

    pts = tmp_path / "p.npy"
    invoke("sample-points", photo, "--ratio", "0.5", "-o", pts)
    result = invoke("from-points", pts, "--size", "12x10", "--reference", photo, "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and "the reference is 24x20" in result.stderr
    assert not (tmp_path / "o.png").exists()
    model = create("isp-points", point_features=8, point_hidden=16, grid_hidden=16, encoder_width=8,
                   encoder_blocks=1, decoder_hidden=16)
    save_checkpoint(tmp_path / "isp.pt", model)
    result = invoke("from-points", pts, "--weights", tmp_path / "isp.pt", "--device", "cpu", "--precision", "fp32",
                    "--scale", "1.5", "-o", tmp_path / "isp.png", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["method"] == "isp" and Image.open(tmp_path / "isp.png").size == (36, 30)


def test_sample_points_bad_input(tmp_path, photo):
    result = invoke("sample-points", photo, "--ratio", "1.5", "-o", tmp_path / "p.npy")
    assert result.exit_code == 2 and "ratio <= 1" in result.stderr
    result = invoke("sample-points", photo, "--ratio", "0.5", "-o", tmp_path / "p.png")
    assert result.exit_code == 2 and "point files end in" in result.stderr
    result = invoke("sample-points", tmp_path / "missing.png", "--ratio", "0.5", "-o", tmp_path / "p.npy")
    assert result.exit_code == 2 and "no such file" in result.stderr
    assert leftovers(tmp_path, {"photo.png"}) == []
    irregular = invoke("sample-points", photo, "--ratio", "2", "--irregular", "-o", tmp_path / "p.npy", "--json")
    assert irregular.exit_code == 0 and json.loads(irregular.stdout)["rows"][0]["points"] == 960
