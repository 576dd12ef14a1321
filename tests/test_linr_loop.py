"""The LINR fit loop: which loss each step uses, stopping, and non-finite losses."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from srcli.tasks import linr_loop
from srcli.tasks.forward_models import Blur, Identity, Mask
from srcli.tasks.linr_loop import FitConfig, NonFiniteLoss, run_fit
from srcli.tasks.linr_terms import DataTerm

H, W = 8, 10


def config(**changes) -> FitConfig:
    base = FitConfig(steps=4, lr=1e-4, width=8, depth=1, seed=0, batch=None, crop=None, eval_every=2,
                     autocast_dtype=None, stop="fixed", out_hw=(H, W), reference=None, noise_sigma=None,
                     denoise_index=None, callback=None)
    return dataclasses.replace(base, **changes)


def terms_of(kind: str) -> list[DataTerm]:
    observed = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(0))
    if kind == "inpaint":
        mask = Mask(torch.rand(H, W, generator=torch.Generator().manual_seed(1)) < 0.2)
        return [DataTerm(mask, observed, 1.0, mask.loss_mask())]
    if kind == "deblur":
        return [DataTerm(Blur(torch.full((3, 3), 1 / 9)), observed, 1.0, None)]
    return [DataTerm(Identity(), observed, 1.0, None)]


@pytest.mark.parametrize("kind,changes,path", [
    ("denoise", {}, "full"), ("inpaint", {}, "support"), ("denoise", {"batch": 5}, "pixels"),
    ("deblur", {"crop": 4}, "crop"), ("inpaint", {"crop": 4}, "crop"),
])
def test_each_step_uses_the_planned_loss(monkeypatch, kind: str, changes: dict, path: str) -> None:
    calls: list[str] = []
    for name, label in [("full_loss", "full"), ("pixel_loss", "pixels"), ("crop_loss", "crop")]:
        real = getattr(linr_loop, name)
        monkeypatch.setattr(linr_loop, name, lambda *a, _r=real, _l=label, **k: calls.append(_l) or _r(*a, **k))
    result = run_fit(terms_of(kind), (H, W), config(**changes), torch.device("cpu"))
    if path in ("full", "support"):  # exact losses: every step and the final evaluation, no extra passes
        assert calls == ["full" if path == "full" else "pixels"] * 5
    else:  # 4 stochastic steps; curve entries and the final state are measured on the whole canvas
        assert [c for c in calls if c != "full"] == [path] * 4 and calls.count("full") == 3
    assert result.steps == 4 and [e["step"] for e in result.curve] == [0, 2, 4]


def test_non_finite_loss_is_raised(monkeypatch) -> None:
    real = linr_loop.full_loss
    monkeypatch.setattr(linr_loop, "full_loss", lambda *a: (real(*a)[0] * float("inf"), *real(*a)[1:]))
    with pytest.raises(NonFiniteLoss, match="non-finite at step 0"):
        run_fit(terms_of("denoise"), (H, W), config(), torch.device("cpu"))


def test_compiled_fit_follows_the_eager_fit() -> None:
    """The compiled SIREN takes the same steps as the eager one (fp32 rounding apart)."""
    eager = run_fit(terms_of("deblur"), (H, W), config(steps=6, lr=1e-3), torch.device("cpu"))
    compiled = run_fit(terms_of("deblur"), (H, W), config(steps=6, lr=1e-3, compiled=True), torch.device("cpu"))
    if "compile_fallback" in compiled.settings:
        pytest.skip(f"torch.compile cannot build here: {compiled.settings['compile_fallback']}")
    assert compiled.settings["compiled"] is True and eager.settings["compiled"] is False
    assert [e["step"] for e in compiled.curve] == [e["step"] for e in eager.curve]
    for a, b in zip(compiled.curve, eager.curve, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    assert torch.allclose(compiled.image, eager.image, atol=1e-5)


@pytest.mark.parametrize("kind,changes", [("denoise", {}), ("inpaint", {}), ("deblur", {}), ("deblur", {"crop": 6}),
                                          ("denoise", {"batch": 30})])
def test_chunked_fit_follows_the_one_pass_fit(kind: str, changes: dict) -> None:
    """Chunks of 7 coordinates (activations recomputed in backward) take the same steps, fp32 rounding apart."""
    from srcli.tasks import linr_terms

    one = run_fit(terms_of(kind), (H, W), config(steps=6, lr=1e-3, **changes), torch.device("cpu"))
    chunks: list[int | None] = []
    real = linr_terms.evaluate
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(linr_terms, "evaluate", lambda *a: chunks.append(a[3]) or real(*a))
        chunked = run_fit(terms_of(kind), (H, W), config(steps=6, lr=1e-3, chunk=7, **changes), torch.device("cpu"))
    assert chunked.settings["chunk"] == 7 and one.settings["chunk"] is None
    assert chunks and set(chunks) == {7}  # every SIREN evaluation of the fit was chunked
    torch.testing.assert_close(chunked.image, one.image, rtol=0, atol=1e-5)
    for a, b in zip(chunked.model.parameters(), one.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
