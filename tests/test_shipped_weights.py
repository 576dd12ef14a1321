"""The weights that ship in the package: loadable, described, trained, and the default's choice."""

from __future__ import annotations

import importlib.util
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


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_beats_bicubic_on_the_example_photo(name: str) -> None:
    """Trained weights, not random ones: x2 of a downscaled crop of the example photo gains over bicubic."""
    from srcli.resize import imresize_scale
    from srcli.tasks.upscale import upscale_tensor

    photo = np.asarray(Image.open(ROOT / "examples" / "parrots.png").convert("RGB"), dtype=np.float32)[:96, :96] / 255
    hr = torch.from_numpy(photo).permute(2, 0, 1)[None]
    lr = (imresize_scale(hr, 0.5) * 255).round().clamp(0, 255) / 255
    model, _card = load_model(name)
    sr = upscale_tensor(lr, (96, 96), model)
    bicubic = imresize_scale(lr, 2.0).clamp(0, 1)
    crop = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    assert _psnr(sr[crop].numpy(), hr[crop].numpy()) > _psnr(bicubic[crop].numpy(), hr[crop].numpy()) + 0.5


def test_ship_script_keeps_folder_names_and_adds_quality(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("ship_weights", ROOT / "scripts" / "ship_weights.py")
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    card = {"data": ["/work/data/train/wiki", "/x/t91"], "steps": 5,
            "validation": {"data": "/work/data/split/val", "psnr": 30.0}}
    quality = [{"dataset": "set5", "scale": 4.0, "images": 5, "psnr": 30.5, "ssim": 0.86, "bicubic_psnr": 28.4}]
    shipped = ship.shipped_card(card, quality, "a note")
    assert shipped["data"] == ["wiki", "t91"] and shipped["validation"] == {"data": "val", "psnr": 30.0}
    assert shipped["quality"]["rows"] == quality and shipped["note"] == "a note" and card["data"][0].startswith("/")
