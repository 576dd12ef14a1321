"""LINR data terms: the known support, pixel and crop losses against the full-canvas loss."""

from __future__ import annotations


import pytest
import torch

from srcli.models.siren import Siren, linr_coords
from srcli.tasks import linr_terms
from srcli.tasks.fit_linr import FitError, Observation, build_operator, fit_linr
from srcli.tasks.forward_models import Blur, Identity, Mask
from srcli.tasks.linr_terms import DataTerm, crop_loss, crop_window, flatten_terms, full_loss, known_support, pixel_loss

H, W = 9, 11


def masked_term(mask: torch.Tensor, weight: float = 1.0, seed: int = 0) -> DataTerm:
    observed = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(seed))
    op = Mask(mask)
    return DataTerm(op, observed, weight, op.loss_mask())


def random_mask(keep: float, seed: int, channels: int = 1) -> torch.Tensor:
    return (torch.rand(channels, H, W, generator=torch.Generator().manual_seed(seed)) < keep).float()


def test_known_support_is_the_union_of_kept_pixels() -> None:
    a, b = random_mask(0.2, 1), random_mask(0.2, 2, channels=3)
    support = known_support([masked_term(a), masked_term(b, seed=1)], (H, W))
    expected = ((a[0] > 0) | (b > 0).any(0)).reshape(-1).nonzero().squeeze(1)
    assert support is not None and torch.equal(support, expected)


def test_known_support_only_where_it_is_exact_and_saves_work() -> None:
    sparse = masked_term(random_mask(0.2, 3))
    assert known_support([sparse, DataTerm(Identity(), torch.rand(1, 3, H, W), 1.0, None)], (H, W)) is None
    assert known_support([masked_term(torch.ones(1, H, W))], (H, W)) is None  # all pixels: no saving
    blurred = DataTerm(Blur(torch.full((3, 3), 1 / 9)), torch.rand(1, 3, H, W), 1.0, sparse.mask)
    assert known_support([blurred], (H, W)) is None  # a blur needs the neighbours


@pytest.mark.parametrize("fractional", [False, True])
def test_loss_on_the_support_equals_the_full_loss_and_gradient(fractional: bool) -> None:
    masks = [random_mask(0.15, 4), random_mask(0.1, 5, channels=3)]
    if fractional:
        masks = [m * torch.rand(m.shape, generator=torch.Generator().manual_seed(6)) for m in masks]
    terms = [masked_term(masks[0], 1.0, seed=7), masked_term(masks[1], 0.3, seed=8)]
    torch.manual_seed(0)
    model = Siren(out_features=3, width=16, depth=1)
    coords = linr_coords(H, W)
    support = known_support(terms, (H, W))
    assert support is not None and support.numel() < H * W

    full, full_mses, _ = full_loss(model, coords, (H, W), terms, None)
    full_grads = torch.autograd.grad(full, list(model.parameters()))
    part, part_mses = pixel_loss(model, coords, flatten_terms(terms), support, None, pixels=H * W)
    part_grads = torch.autograd.grad(part, list(model.parameters()))

    assert float(part.detach()) == pytest.approx(float(full.detach()), rel=1e-6)  # float32 sums in another order
    assert [float(m.detach()) for m in part_mses] == pytest.approx([float(m.detach()) for m in full_mses], rel=1e-6)
    for g_full, g_part in zip(full_grads, part_grads, strict=True):
        torch.testing.assert_close(g_part, g_full, rtol=1e-5, atol=1e-8)


def test_inpaint_fit_on_the_support_matches_the_full_canvas_fit(monkeypatch) -> None:
    torch.set_num_threads(1)
    clean = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(9))
    mask = random_mask(0.1, 10)[0] > 0
    obs = [Observation("inpaint", clean * mask, mask=mask)]
    fast = fit_linr(obs, steps=20, width=24, depth=1)
    assert fast.settings["pixels_per_step"] == int(mask.sum())
    monkeypatch.setattr(linr_terms, "SUPPORT_MAX_FRACTION", 0.0)
    slow = fit_linr(obs, steps=20, width=24, depth=1)
    assert slow.settings["pixels_per_step"] == H * W
    torch.testing.assert_close(fast.image, slow.image, rtol=0, atol=1e-4)
    assert [e["loss"] for e in fast.curve] == pytest.approx([e["loss"] for e in slow.curve], rel=1e-4)


def test_crop_loss_of_the_whole_canvas_is_the_full_loss() -> None:
    torch.manual_seed(1)
    model = Siren(out_features=3, width=16, depth=1)
    coords = linr_coords(H, W)
    blurred = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(11))
    mask = random_mask(0.5, 12)
    chain = build_operator(Observation("deblur", blurred, kernel=torch.rand(5, 3), mask=mask > 0))
    terms = [DataTerm(chain, blurred, 1.0, chain.loss_mask()), DataTerm(Identity(), torch.rand(1, 3, H, W), 0.1, None)]
    full, _, _ = full_loss(model, coords, (H, W), terms, None)
    whole = crop_loss(model, coords, (H, W), terms, (0, 0, H, W), None)
    assert float(whole.detach()) == pytest.approx(float(full.detach()), rel=1e-6)


@pytest.mark.parametrize("padding", ["replicate", "reflect", "symmetric", "zeros"])
def test_crop_residuals_equal_the_whole_canvas_residuals(padding: str) -> None:
    canvas = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(13))
    op = Blur(torch.rand(5, 4, generator=torch.Generator().manual_seed(14)), padding=padding)
    whole = op(canvas, (H, W))
    r = op.reach
    assert r == 2
    for top, left, h, w in [(3, 4, 3, 3), (0, 0, 4, 5), (H - 3, W - 2, 3, 2), (0, 5, H, 3)]:
        rows = slice(max(top - r, 0), min(top + h + r, H))
        cols = slice(max(left - r, 0), min(left + w + r, W))
        local = op.apply_local(canvas[..., rows, cols])
        inner = local[..., top - rows.start:top - rows.start + h, left - cols.start:left - cols.start + w]
        torch.testing.assert_close(inner, whole[..., top:top + h, left:left + w], rtol=0, atol=1e-6)


def test_crop_windows_cover_the_canvas_and_stay_inside() -> None:
    gen = torch.Generator().manual_seed(15)
    seen = torch.zeros(H, W)
    for _ in range(200):
        top, left, h, w = crop_window((H, W), 4, gen)
        assert (h, w) == (4, 4) and 0 <= top <= H - 4 and 0 <= left <= W - 4
        seen[top:top + h, left:left + w] += 1
    assert bool((seen > 0).all())
    assert crop_window((H, W), 50, gen) == (0, 0, H, W)


def test_crop_fit_restores_a_blurred_image_and_rejects_sr() -> None:
    torch.set_num_threads(1)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 24), torch.linspace(0, 1, 24), indexing="ij")
    clean = torch.stack([0.5 + 0.4 * torch.sin(6 * xx + 3 * yy), 0.5 + 0.3 * torch.cos(5 * yy), xx * yy])[None]
    kernel = torch.ones(3, 3) / 9
    blurred = Blur(kernel)(clean, (24, 24))
    obs = [Observation("deblur", blurred, kernel=kernel)]
    whole = fit_linr(obs, steps=150, width=32, depth=1, lr=1e-3, reference=clean)
    result = fit_linr(obs, steps=150, crop=12, width=32, depth=1, lr=1e-3, reference=clean)
    assert result.settings["crop"] == 12 and result.settings["pixels_per_step"] is None
    assert result.curve[-1]["psnr"] > result.curve[0]["psnr"] + 8  # 10.4 -> 20.5 dB when written
    assert result.curve[-1]["psnr"] > whole.curve[-1]["psnr"] - 3  # the whole-image fit: 22.4 dB
    with pytest.raises(FitError, match="random crops work for"):
        fit_linr([Observation("sr", clean, scale=2)], steps=1, crop=8)
    with pytest.raises(FitError, match="not both"):
        fit_linr([Observation("denoise", clean)], steps=1, crop=8, batch=10)
