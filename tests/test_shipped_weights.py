"""The weights that ship in the package: loadable, described, trained, and the default's choice."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srcli.registry import WEIGHTS_DIR, get_entry, load_model, read_checkpoint
from srcli.tasks.upscale import DEFAULT_PREFERENCE, default_model

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt"))
SHIPPED_SR = [name for name in SHIPPED if get_entry(name).task == "upscale"]
SHIPPED_POINTS = [name for name in SHIPPED if get_entry(name).task == "points"]
BENCH_SETS = ("set5", "set14", "b100", "urban100", "kodak", "kodak24", "kodak4", "div2k_valid")


def test_the_default_is_the_first_preferred_model_that_ships() -> None:
    expected = next(n for n in DEFAULT_PREFERENCE if n in SHIPPED or not get_entry(n).trainable)
    assert default_model() == expected


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_are_fp16_and_carry_a_card(name: str) -> None:
    payload = read_checkpoint(WEIGHTS_DIR / f"{name}.pt")
    assert payload["spec"]["name"] == name and get_entry(name).has_weights
    assert all(v.dtype == torch.float16 for v in payload["state_dict"].values() if v.is_floating_point())
    card = payload["card"]
    for key in ("data", "steps", "wall_time_s", "hardware", "protocol", "validation"):
        assert card.get(key), f"{name} card lacks {key}"
    assert not any(d.lower() in BENCH_SETS for d in card["data"]), "trained on a benchmark set"
    assert all("/" not in d for d in card["data"])  # folder names, not this machine's paths
    assert (WEIGHTS_DIR / f"{name}.pt").stat().st_size < 8 * 2**20


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * math.log10(1.0 / float(np.mean((a - b) ** 2)))


def _example_crop() -> np.ndarray:
    """The example photo's top-left 96 x 96 (H, W, 3) in [0, 1]."""
    return np.asarray(Image.open(ROOT / "examples" / "parrots.png").convert("RGB"), dtype=np.float32)[:96, :96] / 255


def test_every_shipped_model_is_tested_on_the_example_photo() -> None:
    assert sorted(SHIPPED_SR + SHIPPED_POINTS) == SHIPPED


@pytest.mark.parametrize("name", SHIPPED_SR)
def test_shipped_model_beats_bicubic_on_the_example_photo(name: str) -> None:
    """Trained weights, not random ones: x2 of a downscaled crop of the example photo gains over bicubic."""
    from srcli.resize import imresize_scale
    from srcli.tasks.upscale import upscale_tensor

    hr = torch.from_numpy(_example_crop()).permute(2, 0, 1)[None]
    lr = (imresize_scale(hr, 0.5) * 255).round().clamp(0, 255) / 255
    model, _card = load_model(name)
    sr = upscale_tensor(lr, (96, 96), model)
    bicubic = imresize_scale(lr, 2.0).clamp(0, 1)
    crop = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    assert _psnr(sr[crop].numpy(), hr[crop].numpy()) > _psnr(bicubic[crop].numpy(), hr[crop].numpy()) + 0.5


@pytest.mark.parametrize("name", SHIPPED_POINTS)
def test_shipped_points_model_beats_cubic_on_the_example_photo(name: str) -> None:
    """Trained weights: the crop rebuilt from 20 % irregular samples gains over cubic interpolation."""
    from srcli.io.point_sampling import sample_points
    from srcli.tasks.from_points import from_points

    photo = _example_crop()
    points = sample_points(photo, 0.2, irregular=True, seed=0)
    model, _card = load_model(name)
    rendered = {method: from_points(points, size=(96, 96), source_size=(96, 96), method=method,
                                    model=model if method == "isp" else None).image for method in ("isp", "cubic")}
    isp, cubic = (_psnr(np.clip(rendered[m], 0, 1), photo) for m in ("isp", "cubic"))
    assert isp > cubic + 0.5


def _ship_script():  # noqa: ANN202 (a module loaded from scripts/)
    spec = importlib.util.spec_from_file_location("ship_weights", ROOT / "scripts" / "ship_weights.py")
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    return ship


def test_ship_script_keeps_folder_names_and_adds_quality(tmp_path: Path) -> None:
    ship = _ship_script()
    card = {"data": ["/work/data/train/wiki", "/x/t91"], "steps": 5,
            "validation": {"data": "/work/data/split/val", "psnr": 30.0}}
    quality = [{"dataset": "set5", "scale": 4.0, "images": 5, "psnr": 30.5, "ssim": 0.86, "bicubic_psnr": 28.4}]
    shipped = ship.shipped_card(card, quality, "a note")
    assert shipped["data"] == ["wiki", "t91"] and shipped["validation"] == {"data": "val", "psnr": 30.0}
    assert shipped["quality"]["rows"] == quality and shipped["note"] == "a note" and card["data"][0].startswith("/")


def _image_row(dataset: str, model: str, setting: dict, psnr: float) -> dict:
    return {"kind": "image", "dataset": dataset, "image": "a.png", "model": model, **setting, "psnr": psnr, "ssim": 0.5}


def test_ship_script_tables_points_reports_with_classical_baselines(tmp_path: Path) -> None:
    ship = _ship_script()
    points = {"task": "points", "precision": "fp32", "options": {"irregular": True},
              "rows": [_image_row("kodak24", m, {"ratio": 0.2}, p) for m, p in
                       (("cubic", 26.0), ("linear", 26.5), ("isp", 27.0), ("isp", 28.0))]}
    upscale = {"task": "upscale", "precision": "bf16", "rows": [_image_row("set5", m, {"scale": 4.0}, p)
                                                               for m, p in (("bicubic", 28.0), ("isp-points", 1.0))]}
    without_options = {key: value for key, value in points.items() if key != "options"}
    linr = {"task": "linr", "rows": [_image_row("k", "linr", {"case": "sr:4"}, 1.0)]}
    for name, report in (("p", points), ("u", upscale), ("old", without_options), ("linr", linr)):
        (tmp_path / f"{name}.json").write_text(json.dumps(report))
    table = ship.quality_table([tmp_path / "p.json", tmp_path / "u.json"], "isp-points")
    assert table[0] == {"task": "points", "dataset": "kodak24", "ratio": 0.2, "images": 2, "psnr": 27.5, "ssim": 0.5,
                        "precision": "fp32", "options": {"irregular": True}, "baselines": {"linear": 26.5, "cubic": 26.0}}
    assert table[1] == {"dataset": "set5", "scale": 4.0, "images": 1, "psnr": 1.0, "ssim": 0.5, "precision": "bf16",
                        "bicubic_psnr": 28.0}
    assert "RGB" in ship.shipped_card({}, table[:1], None)["quality"]["protocol"]
    with pytest.raises(SystemExit, match="different models' cards"):
        ship.shipped_card({}, table, None)
    with pytest.raises(SystemExit, match="names no task options"):
        ship.quality_table([tmp_path / "old.json"], "isp-points")
    with pytest.raises(SystemExit, match="without a scale/ratio/drop column"):
        ship.quality_table([tmp_path / "linr.json"], "linr")
