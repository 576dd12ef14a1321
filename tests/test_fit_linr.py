"""LINR fitting: restoration quality on tiny images, API behaviour, save/load, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from srcli.tasks.fit_linr import (
    FitError,
    Observation,
    estimate_noise_sigma,
    fit_linr,
    load_fit,
    render,
    save_fit,
)

SMALL = {"width": 48, "depth": 2}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def smooth_image(h: int = 32, w: int = 32) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    channels = [0.5 + 0.3 * torch.sin(3 * x + 2 * y), 0.4 + 0.3 * torch.cos(4 * y - x), 0.3 + 0.4 * x * y]
    return torch.stack(channels).unsqueeze(0)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1 / float((a.double() - b.double()).square().mean()))


def test_denoise_beats_noisy_input() -> None:
    gen = torch.Generator().manual_seed(1)
    clean = smooth_image()
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=gen)
    result = fit_linr([Observation("denoise", noisy)], steps=100, reference=clean, eval_every=20, **SMALL)
    assert result.image.shape == clean.shape
    assert 0 <= float(result.image.min()) and float(result.image.max()) <= 1
    assert psnr(result.image, clean) > psnr(noisy, clean) + 2
    assert [e["step"] for e in result.curve] == [0, 20, 40, 60, 80, 100]
    assert result.curve[-1]["loss"] < result.curve[0]["loss"]
    assert result.curve[-1]["psnr"] == pytest.approx(psnr(result.image, clean), abs=1e-3)
    assert result.steps == 100 and result.canvas_hw == (32, 32) and result.seconds > 0


def test_sr_renders_requested_size_and_fits_the_lr_image() -> None:
    from srcli.resize import resize

    hr = smooth_image(24, 32)
    lr = resize(hr, (12, 16), kernel="lanczos2")
    result = fit_linr([Observation("sr", lr, scale=2)], steps=60, lr=1e-3, **SMALL)
    assert result.canvas_hw == (24, 32) and result.image.shape == (1, 3, 24, 32)
    assert result.curve[-1]["mse"][0] < 0.01 * result.curve[0]["mse"][0]
    assert psnr(result.image, hr) > 25
    bigger = fit_linr([Observation("sr", lr, scale=2)], steps=5, out_size=(36, 48), **SMALL)
    assert bigger.image.shape == (1, 3, 36, 48) and bigger.canvas_hw == (24, 32)
    odd = fit_linr([Observation("sr", lr, scale=2.5)], steps=1, **SMALL)
    assert odd.canvas_hw == (30, 40)  # floor(2.5 n + 0.5)


def test_joint_fit_api_and_default_weights() -> None:
    from srcli.resize import resize

    gen = torch.Generator().manual_seed(2)
    hr = smooth_image(16, 16)
    noisy = hr + 0.05 * torch.randn(hr.shape, generator=gen)
    lr = resize(hr, (8, 8), kernel="lanczos2")
    mask = torch.rand(16, 16, generator=gen) < 0.3
    obs = [Observation("sr", lr, scale=2), Observation("denoise", noisy), Observation("inpaint", hr, mask=mask)]
    result = fit_linr(obs, steps=10, eval_every=5, **SMALL)
    assert [o["weight"] for o in result.settings["observations"]] == [1.0, 0.1, 1.0]
    assert all(len(e["mse"]) == 3 for e in result.curve)
    entry = result.curve[0]
    assert entry["loss"] == pytest.approx(entry["mse"][0] + 0.1 * entry["mse"][1] + entry["mse"][2], rel=1e-5)
    alone = fit_linr([Observation("denoise", noisy)], steps=1, **SMALL)
    assert alone.settings["observations"][0]["weight"] == 1.0


def test_inpaint_ignores_unknown_pixels() -> None:
    gen = torch.Generator().manual_seed(3)
    clean = smooth_image(16, 16)
    mask = torch.rand(16, 16, generator=gen) < 0.3
    garbage = torch.where(mask, clean, torch.rand(clean.shape, generator=gen))
    a = fit_linr([Observation("inpaint", clean * mask, mask=mask)], steps=15, **SMALL)
    b = fit_linr([Observation("inpaint", garbage, mask=mask)], steps=15, **SMALL)
    assert torch.equal(a.image, b.image)


def test_deblur_defaults_to_4000_steps_and_callback_stops() -> None:
    seen = []

    def stop_now(entry: dict) -> bool:
        seen.append(entry["step"])
        return True

    kernel = torch.full((3, 3), 1 / 9)
    result = fit_linr([Observation("deblur", smooth_image(16, 16), kernel=kernel)], callback=stop_now, **SMALL)
    assert result.settings["steps"] == 4000 and result.steps == 0 and seen == [0]
    assert result.stop_reason.startswith("stopped by callback")
    plain = fit_linr([Observation("denoise", smooth_image(16, 16))], callback=stop_now, **SMALL)
    assert plain.settings["steps"] == 500 and plain.settings["lr"] == 1e-4


def test_stop_reason_counts_steps_in_words() -> None:
    obs = [Observation("denoise", smooth_image(6, 5))]
    assert fit_linr(obs, steps=1, width=8, depth=1).stop_reason == "fixed: 1 step"
    assert fit_linr(obs, steps=2, width=8, depth=1).stop_reason == "fixed: 2 steps"


def test_canvas_and_output_are_bounded_before_anything_is_allocated() -> None:
    with pytest.raises(FitError, match="the fitted canvas would be 5000000x6000000 pixels, over the limit"):
        fit_linr([Observation("sr", smooth_image(6, 5), scale=1e6)], steps=1, width=8, depth=1)
    with pytest.raises(FitError, match="the output would be 30000x20000 pixels"):
        fit_linr([Observation("denoise", smooth_image(6, 5))], out_size=(20000, 30000), steps=1, width=8, depth=1)


def test_save_load_render_round_trip(tmp_path) -> None:
    result = fit_linr([Observation("denoise", smooth_image(12, 20))], steps=10, **SMALL)
    path = tmp_path / "fit.pt"
    save_fit(path, result)
    model, card = load_fit(path)
    assert torch.equal(model.extent, result.model.extent)
    assert torch.equal(render(model, (12, 20)), render(result.model, (12, 20)))
    assert torch.allclose(render(model, (12, 20)), result.image, atol=1e-6)
    assert torch.equal(render(model, (30, 50)), render(result.model, (30, 50)))
    assert card["kind"] == "linr-fit" and card["canvas"] == [12, 20] and card["steps_run"] == 10
    assert card["extent"] == pytest.approx([0.6, 1.0])
    assert card["observations"][0]["task"] == "denoise"


def test_load_fit_rejects_other_models(tmp_path) -> None:
    from srcli.registry import create, get_entry, save_checkpoint

    names = [n for n in ("bicubic",) if _registered(n)]
    if not names:
        pytest.skip("no other registered model to save")
    save_checkpoint(tmp_path / "other.pt", create(names[0]))
    with pytest.raises(FitError, match="not a fitted SIREN"):
        load_fit(tmp_path / "other.pt")
    assert get_entry("siren").task == "fit"


def _registered(name: str) -> bool:
    from srcli.registry import RegistryError, get_entry

    try:
        get_entry(name)
        return True
    except RegistryError:
        return False


def test_best_reference_returns_best_state() -> None:
    gen = torch.Generator().manual_seed(4)
    clean = smooth_image(16, 16)
    noisy = clean + 0.2 * torch.randn(clean.shape, generator=gen)
    result = fit_linr([Observation("denoise", noisy)], steps=40, eval_every=5, reference=clean,
                      stop="best-reference", **SMALL)
    best = max(result.curve, key=lambda e: e["psnr"])
    assert result.best_step == best["step"] == result.steps
    assert psnr(result.image, clean) == pytest.approx(best["psnr"], abs=1e-4)
    assert torch.allclose(render(result.model, (16, 16)), result.image, atol=1e-6)


def test_noise_level_stop() -> None:
    noisy = smooth_image(16, 16)
    early = fit_linr([Observation("denoise", noisy)], steps=30, stop="noise-level", noise_sigma=1.0, **SMALL)
    assert early.steps == 0 and "reached" in early.stop_reason
    never = fit_linr([Observation("denoise", noisy)], steps=5, stop="noise-level", noise_sigma=0.0, **SMALL)
    assert never.steps == 5 and "not reached" in never.stop_reason
    auto = fit_linr([Observation("denoise", noisy)], steps=1, stop="noise-level", **SMALL)
    assert auto.noise_sigma == pytest.approx(estimate_noise_sigma(noisy))


def test_seed_and_minibatch() -> None:
    noisy = smooth_image(16, 16)
    a = fit_linr([Observation("denoise", noisy)], steps=5, seed=1, **SMALL)
    b = fit_linr([Observation("denoise", noisy)], steps=5, seed=1, **SMALL)
    c = fit_linr([Observation("denoise", noisy)], steps=5, seed=2, **SMALL)
    assert torch.equal(a.image, b.image) and not torch.equal(a.image, c.image)
    mini = fit_linr([Observation("denoise", noisy)], steps=30, batch=64, eval_every=10, **SMALL)
    assert mini.curve[-1]["loss"] < mini.curve[0]["loss"]


def test_bf16_autocast_runs() -> None:
    result = fit_linr([Observation("denoise", smooth_image(16, 16))], steps=5, autocast_dtype=torch.bfloat16, **SMALL)
    assert result.settings["precision"] == "bfloat16" and bool(torch.isfinite(result.image).all())


@pytest.mark.parametrize("observations,kwargs,message", [
    ([], {}, "at least one observation"),
    ([Observation("denoise_x", smooth_image())], {}, "unknown task 'denoise_x'"),
    ([Observation("inpaint", smooth_image(), mask=torch.ones(8, 8))], {}, "mask shape"),
    ([Observation("inpaint", smooth_image())], {}, "needs a mask"),
    ([Observation("sr", smooth_image(), scale=0)], {}, "scale must be a positive number"),
    ([Observation("sr", smooth_image(), scale=-2.0)], {}, "scale must be a positive number"),
    ([Observation("sr", smooth_image())], {}, "needs a scale"),
    ([Observation("deblur", smooth_image())], {}, "needs a kernel"),
    ([Observation("denoise", torch.rand(3, 8, 8))], {}, r"\(1, C, h, w\)"),
    ([Observation("denoise", torch.rand(1, 3, 8, 8)), Observation("denoise", torch.rand(1, 1, 8, 8))], {}, "channel"),
    ([Observation("denoise", torch.rand(1, 3, 8, 8)), Observation("denoise", torch.rand(1, 3, 9, 8))], {}, "canvases"),
    ([Observation("denoise", smooth_image())], {"reference": torch.rand(1, 3, 5, 5)}, "the reference is 5x5 .* it must match the output, 32x32 with 3 channel"),
    ([Observation("denoise", smooth_image())], {"stop": "best-reference"}, "needs a reference"),
    ([Observation("denoise", smooth_image())], {"stop": "early"}, "unknown stop rule"),
    ([Observation("sr", smooth_image(), scale=2)], {"stop": "noise-level"}, "needs a denoise observation"),
    ([Observation("sr", smooth_image(), scale=2)], {"batch": 16}, "random-pixel batches"),
    ([Observation("denoise", smooth_image())], {"steps": -1}, "steps must be"),
    ([Observation("denoise", smooth_image())], {"lr": 0.0}, "learning rate"),
    ([Observation("denoise", smooth_image(), weight=-1.0)], {}, "weight must be"),
    ([Observation("denoise", smooth_image())], {"depth": -1}, "depth >= 0"),
    ([Observation("denoise", smooth_image())], {"eval_every": 0}, "eval_every"),
    ([Observation("denoise", smooth_image())], {"compile_mode": "yes"}, "unknown compile mode 'yes'"),
    ([Observation("denoise", smooth_image())], {"compile_mode": "on", "device": "meta"}, "not supported on meta"),
])
def test_bad_input(observations: list, kwargs: dict, message: str) -> None:
    with pytest.raises(FitError, match=message):
        fit_linr(observations, **{**SMALL, **kwargs})


def test_non_finite_low_precision_is_redone_in_fp32(monkeypatch) -> None:
    import srcli.tasks.linr_loop as fit_module

    real = fit_module.full_loss

    def nan_in_bf16(model, coords, canvas_hw, terms, autocast_dtype, chunk=None):
        loss, mses, canvas = real(model, coords, canvas_hw, terms, autocast_dtype, chunk)
        return (loss * float("nan"), mses, canvas) if autocast_dtype is not None else (loss, mses, canvas)

    monkeypatch.setattr(fit_module, "full_loss", nan_in_bf16)
    noisy = smooth_image(8, 8)
    result = fit_linr([Observation("denoise", noisy)], steps=3, autocast_dtype=torch.bfloat16, **SMALL)
    assert "redone in fp32" in result.settings["precision_fallback"] and bool(torch.isfinite(result.image).all())
    plain = fit_linr([Observation("denoise", noisy)], steps=3, **SMALL)
    assert torch.equal(result.image, plain.image)
    monkeypatch.setattr(fit_module, "full_loss", lambda *a: (lambda r: (r[0] * float("nan"), *r[1:]))(real(*a)))
    with pytest.raises(FitError, match="non-finite at step 0"):
        fit_linr([Observation("denoise", noisy)], steps=3, **SMALL)


@pytest.mark.parametrize("chunk,expected", [("auto", None), (0, None), (None, None), (5, 5)])
def test_chunk_setting_resolves(chunk, expected) -> None:
    result = fit_linr([Observation("denoise", smooth_image(8, 8))], steps=1, chunk=chunk, **SMALL)
    assert result.settings["chunk"] == expected  # auto: 64 pixels need no chunks


@pytest.mark.parametrize("free_coords,expected", [(100_000, 8192), (300_000, None), (10, 8192)])
def test_auto_chunk_follows_free_memory(monkeypatch, free_coords: int, expected) -> None:
    """A quarter of the free memory holds ``free_coords`` coordinates' activations; the canvas has 160,000."""
    import srcli.device
    from srcli.tasks.linr_config import activation_bytes

    features = SMALL["width"] * (SMALL["depth"] + 1)
    monkeypatch.setattr(srcli.device, "free_memory_bytes", lambda device: 4 * activation_bytes(free_coords, features, False))
    result = fit_linr([Observation("denoise", torch.rand(1, 3, 400, 400))], steps=0, **SMALL)
    assert result.settings["chunk"] == expected


@pytest.mark.parametrize("free_coords,expected", [(100_000, 80128), (50_000, 40192), (300_000, None), (10, 8192)])
def test_auto_chunk_off_the_cpu_takes_the_fewest_equal_chunks(monkeypatch, free_coords: int, expected) -> None:
    """2 chunks of 80,000 (rounded up to a multiple of 256), 4 of 40,000, one pass, the smallest chunk."""
    import srcli.device
    from srcli.tasks.linr_config import _resolve_chunk, activation_bytes

    monkeypatch.setattr(srcli.device, "free_memory_bytes", lambda device: 4 * activation_bytes(free_coords, 48, True))
    assert _resolve_chunk("auto", torch.device("cuda"), 160_000, 48, True) == expected


@pytest.mark.parametrize("chunk,expected", [("auto", 8192), (700, 700)])
def test_fp32_redo_sizes_an_auto_chunk_again(monkeypatch, chunk, expected) -> None:
    """Free memory holds 20,000 bf16 coordinates' activations (one pass for the 14,400-pixel
    canvas) but only 12,500 in fp32: the redo chunks; an explicit chunk stays as it was."""
    import srcli.device
    import srcli.tasks.linr_loop as loop_module
    from srcli.tasks.linr_config import activation_bytes

    features = SMALL["width"] * (SMALL["depth"] + 1)
    monkeypatch.setattr(srcli.device, "free_memory_bytes", lambda device: 4 * activation_bytes(20_000, features, True))
    real, chunks = loop_module.full_loss, []

    def nan_in_bf16(model, coords, canvas_hw, terms, autocast_dtype, chunk=None):
        chunks.append((autocast_dtype, chunk))
        loss, mses, canvas = real(model, coords, canvas_hw, terms, autocast_dtype, chunk)
        return (loss * float("nan"), mses, canvas) if autocast_dtype is not None else (loss, mses, canvas)

    monkeypatch.setattr(loop_module, "full_loss", nan_in_bf16)
    result = fit_linr([Observation("denoise", torch.rand(1, 3, 120, 120))], steps=1, chunk=chunk,
                      autocast_dtype=torch.bfloat16, **SMALL)
    assert chunks[0] == (torch.bfloat16, None if chunk == "auto" else 700)
    assert set(chunks[1:]) == {(None, expected)} and result.settings["chunk"] == expected


@pytest.mark.parametrize("chunk", [-1, "many", 2.5, True])
def test_bad_chunk_is_refused(chunk) -> None:
    with pytest.raises(FitError, match="chunk must be 'auto', 0"):
        fit_linr([Observation("denoise", smooth_image(8, 8))], steps=1, chunk=chunk, **SMALL)
