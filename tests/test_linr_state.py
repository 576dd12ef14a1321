"""Resumable LINR fits: state files, fingerprints, resuming bit for bit, refusing foreign files."""

from __future__ import annotations

import os
import signal

import pytest
import torch

import srcli.tasks.linr_loop as fit_module
from srcli.tasks.fit_linr import FitError, Observation, fit_linr
from srcli.tasks.forward_models import Blur, Identity, Mask
from srcli.tasks.linr_config import FitInterrupted
from srcli.tasks.linr_state import STATE_FORMAT, FitStore, fit_fingerprint, state_path
from srcli.tasks.linr_terms import DataTerm

SMALL = {"width": 16, "depth": 2, "eval_every": 5}


def noisy_image(seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, 12, 14, generator=torch.Generator().manual_seed(seed))


def interrupt_at(step: int):
    """A callback that stops the process (as a kill would) once the fit reaches ``step``."""
    def callback(entry: dict) -> None:
        if entry["step"] >= step:
            raise SystemExit("killed")
    return callback


def sigterm_at(step: int):
    """A callback that sends this process SIGTERM when the fit reports ``step``."""
    def callback(entry: dict) -> None:
        if entry["step"] == step:
            os.kill(os.getpid(), signal.SIGTERM)
    return callback


def same_fit(a, b) -> None:
    assert a.steps == b.steps and a.stop_reason == b.stop_reason
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    assert torch.equal(a.image, b.image)
    assert [e["loss"] for e in a.curve] == [e["loss"] for e in b.curve]
    assert [e["step"] for e in a.curve] == [e["step"] for e in b.curve]


@pytest.mark.parametrize("kwargs", [
    {},  # the paper: whole image every step
    {"batch": 40},  # random pixels: the generator's state must be restored
    {"crop": 6},  # random windows
])
def test_interrupted_fit_resumes_to_the_uninterrupted_result(tmp_path, kwargs: dict) -> None:
    obs = [Observation("denoise", noisy_image())]
    plain = fit_linr(obs, steps=30, **SMALL, **kwargs)
    state = tmp_path / "fit.state"
    with pytest.raises(SystemExit):
        fit_linr(obs, steps=30, checkpoint=state, checkpoint_every=10, callback=interrupt_at(25), **SMALL, **kwargs)
    saved = torch.load(state, weights_only=True)
    assert saved["format"] == STATE_FORMAT and saved["step"] == 20 and saved["result"] is None
    seen: list[int] = []
    resumed = fit_linr(obs, steps=30, checkpoint=state, checkpoint_every=10, callback=lambda e: seen.append(e["step"]),
                       **SMALL, **kwargs)
    assert seen == [20, 25, 30]  # continued from the saved step, not from 0
    assert resumed.settings["resumed_at_step"] == 20
    same_fit(resumed, plain)


def test_best_reference_state_survives_a_resume(tmp_path) -> None:
    clean = noisy_image(1)
    obs = [Observation("denoise", (clean + 0.2 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(2))))]
    opts = dict(steps=40, reference=clean, stop="best-reference", lr=1e-3, **SMALL)
    plain = fit_linr(obs, **opts)
    state = tmp_path / "best.state"
    with pytest.raises(SystemExit):
        fit_linr(obs, checkpoint=state, checkpoint_every=10, callback=interrupt_at(35), **opts)
    resumed = fit_linr(obs, checkpoint=state, checkpoint_every=10, **opts)
    assert resumed.best_step == plain.best_step and resumed.best_psnr == plain.best_psnr
    same_fit(resumed, plain)


def test_finished_fit_is_returned_from_its_state_without_fitting(tmp_path, monkeypatch) -> None:
    obs = [Observation("deblur", noisy_image(), kernel=torch.full((3, 3), 1 / 9))]
    state = tmp_path / "done.state"
    first = fit_linr(obs, steps=10, checkpoint=state, **SMALL)
    assert torch.load(state, weights_only=True)["result"]["steps"] == 10
    monkeypatch.setattr(fit_module, "full_loss", lambda *a: pytest.fail("a finished fit must not run again"))
    calls: list[dict] = []
    again = fit_linr(obs, steps=10, checkpoint=state, callback=calls.append, **SMALL)
    assert calls == [] and again.settings["reused_state"] is True
    assert again.seconds == first.seconds and again.curve == first.curve
    same_fit(again, first)


@pytest.mark.parametrize("change", [{"seed": 1}, {"steps": 11}, {"lr": 2e-4}, {"width": 8}, {"out_size": (24, 28)}])
def test_state_of_another_fit_is_refused(tmp_path, change: dict) -> None:
    obs = [Observation("denoise", noisy_image())]
    state = tmp_path / "fit.state"
    base = {"steps": 10, **SMALL}
    fit_linr(obs, checkpoint=state, **base)
    with pytest.raises(FitError, match="state of another fit"):
        fit_linr(obs, checkpoint=state, **{**base, **change})


def test_other_observations_are_another_fit(tmp_path) -> None:
    state = tmp_path / "fit.state"
    fit_linr([Observation("denoise", noisy_image(0))], steps=5, checkpoint=state, **SMALL)
    with pytest.raises(FitError, match="state of another fit"):
        fit_linr([Observation("denoise", noisy_image(1))], steps=5, checkpoint=state, **SMALL)


def test_folder_holds_one_file_per_fit(tmp_path) -> None:
    for seed in (0, 1, 0):
        fit_linr([Observation("denoise", noisy_image(seed))], steps=5, checkpoint=tmp_path, **SMALL)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and all(n.startswith("linr-") and n.endswith(".pt") and len(n) == 24 for n in names)


@pytest.mark.parametrize("content,message", [(b"not a zip", "cannot read the fit state"), (None, "not a LINR fit state")])
def test_unusable_state_files_are_refused(tmp_path, content: bytes | None, message: str) -> None:
    state = tmp_path / "x.state"
    if content is None:
        torch.save({"format": "something else"}, state)
    else:
        state.write_bytes(content)
    with pytest.raises(FitError, match=message):
        fit_linr([Observation("denoise", noisy_image())], steps=5, checkpoint=state, **SMALL)


@pytest.mark.parametrize("kwargs,message", [
    ({"checkpoint_every": 0}, "checkpoint_every must be an integer >= 1"),
    ({"checkpoint": "missing-folder/x.state"}, "folder missing-folder does not exist"),
])
def test_bad_checkpoint_settings(tmp_path, monkeypatch, kwargs: dict, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FitError, match=message):
        fit_linr([Observation("denoise", noisy_image())], steps=5, **{"checkpoint": "x.state", **kwargs}, **SMALL)


def test_sigterm_writes_the_state_and_stops(tmp_path) -> None:
    obs = [Observation("denoise", noisy_image())]
    state = tmp_path / "term.state"
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(FitInterrupted, match=r"SIGTERM at step 11 of 30; the fit's state is in .*term.state") as stop:
        fit_linr(obs, steps=30, checkpoint=state, checkpoint_every=1000, eval_every=1, callback=sigterm_at(10),
                 width=16, depth=2)
    assert torch.load(state, weights_only=True)["step"] == 11
    assert signal.getsignal(signal.SIGTERM) is before and stop.value.exit_code == 143  # the handler is put back
    resumed = fit_linr(obs, steps=30, checkpoint=state, eval_every=1, width=16, depth=2)
    same_fit(resumed, fit_linr(obs, steps=30, eval_every=1, width=16, depth=2))


def test_sigterm_during_the_last_step_keeps_the_result_and_still_stops(tmp_path) -> None:
    obs = [Observation("denoise", noisy_image())]
    state = tmp_path / "late.state"
    with pytest.raises(FitInterrupted, match=r"SIGTERM at the end of the fit; its result is in .*late.state") as stop:
        fit_linr(obs, steps=30, checkpoint=state, eval_every=1, callback=sigterm_at(30), width=16, depth=2)
    assert stop.value.exit_code == 143 and torch.load(state, weights_only=True)["result"] is not None
    again = fit_linr(obs, steps=30, checkpoint=state, eval_every=1, width=16, depth=2)
    assert again.settings["reused_state"] is True
    same_fit(again, fit_linr(obs, steps=30, eval_every=1, width=16, depth=2))


def nan_in_bf16_loss(monkeypatch) -> list[str]:
    """Make every bf16 loss NaN; returns the precisions of the whole-canvas passes run."""
    real = fit_module.full_loss
    calls: list[str] = []

    def nan_in_bf16(model, coords, canvas_hw, terms, autocast_dtype, chunk=None):
        calls.append("bf16" if autocast_dtype is not None else "fp32")
        loss, mses, canvas = real(model, coords, canvas_hw, terms, autocast_dtype, chunk)
        return (loss * float("nan"), mses, canvas) if autocast_dtype is not None else (loss, mses, canvas)

    monkeypatch.setattr(fit_module, "full_loss", nan_in_bf16)
    return calls


def test_fp32_fallback_is_recorded_so_a_rerun_goes_straight_to_it(tmp_path, monkeypatch) -> None:
    calls = nan_in_bf16_loss(monkeypatch)
    state = tmp_path / "fit.state"
    obs = [Observation("denoise", noisy_image())]
    opts = dict(steps=30, autocast_dtype=torch.bfloat16, checkpoint=state, checkpoint_every=10, **SMALL)
    with pytest.raises(SystemExit):  # the bf16 fit fails at step 0; the fp32 redo is killed at step 25
        fit_linr(obs, callback=interrupt_at(25), **opts)
    saved = torch.load(state, weights_only=True)
    assert saved["step"] == 20 and "redone in fp32" in saved["fallback"]
    calls.clear()
    resumed = fit_linr(obs, **opts)  # the same command: no bf16 attempt, the fp32 fit continues
    assert "bf16" not in calls and resumed.settings["resumed_at_step"] == 20
    assert "redone in fp32" in resumed.settings["precision_fallback"] and resumed.settings["precision"] == "fp32"
    calls.clear()
    again = fit_linr(obs, **opts)  # ended: returned from the file
    assert calls == [] and again.settings["reused_state"] and "redone in fp32" in again.settings["precision_fallback"]
    monkeypatch.undo()
    same_fit(resumed, fit_linr(obs, steps=30, **SMALL))


def test_fit_that_cannot_go_on_removes_its_state(tmp_path, monkeypatch) -> None:
    real = fit_module.full_loss
    monkeypatch.setattr(fit_module, "full_loss", lambda *a: (lambda r: (r[0] * float("nan"), *r[1:]))(real(*a)))
    state = tmp_path / "fit.state"
    with pytest.raises(FitError, match="non-finite at step 0; lower the learning rate"):
        fit_linr([Observation("denoise", noisy_image())], steps=5, autocast_dtype=torch.bfloat16, checkpoint=state,
                 **SMALL)
    assert not state.exists()


def test_callback_stop_keeps_progress_that_the_next_run_continues(tmp_path) -> None:
    obs = [Observation("denoise", noisy_image())]
    state = tmp_path / "fit.state"
    paused = fit_linr(obs, steps=30, checkpoint=state, callback=lambda e: e["step"] == 10, **SMALL)
    assert paused.steps == 10 and paused.stop_reason == "stopped by callback at step 10"
    assert torch.load(state, weights_only=True)["step"] == 10
    resumed = fit_linr(obs, steps=30, checkpoint=state, **SMALL)
    assert resumed.settings["resumed_at_step"] == 10
    same_fit(resumed, fit_linr(obs, steps=30, **SMALL))


@pytest.mark.parametrize("kwargs,refused", [({}, False), ({"batch": 40}, True)])
def test_state_from_another_device_type(tmp_path, kwargs: dict, refused: bool) -> None:
    """A whole-canvas fit continues anywhere; one that samples random pixels only where its generator was."""
    obs = [Observation("denoise", noisy_image())]
    state = tmp_path / "fit.state"
    with pytest.raises(SystemExit):
        fit_linr(obs, steps=30, checkpoint=state, checkpoint_every=10, callback=interrupt_at(25), **SMALL, **kwargs)
    saved = torch.load(state, weights_only=True)
    saved.update(device="cuda", generator=torch.zeros(16, dtype=torch.uint8))  # as a CUDA generator's state
    torch.save(saved, state)
    if refused:
        with pytest.raises(FitError, match="written on cuda; this fit samples random pixels, so continue it there"):
            fit_linr(obs, steps=30, checkpoint=state, **SMALL, **kwargs)
    else:
        same_fit(fit_linr(obs, steps=30, checkpoint=state, **SMALL), fit_linr(obs, steps=30, **SMALL))


def test_fingerprint_digests_pixels_kernels_masks_weights_settings_and_reference() -> None:
    image = noisy_image()
    mask = Mask(torch.ones(12, 14))
    base = [DataTerm(Blur(torch.full((3, 3), 1 / 9)), image, 1.0, None)]
    settings = {"steps": 10, "lr": 1e-4}
    reference = noisy_image(3)
    digest = fit_fingerprint(base, (12, 14), settings, None)
    assert len(digest) == 16 and digest == fit_fingerprint(base, (12, 14), dict(settings), None)
    changed_pixel = image.clone()
    changed_pixel[0, 0, 0, 0] += 1e-3
    kernel = torch.full((3, 3), 1 / 9)
    kernel[1, 1] += 1e-3
    others = [
        fit_fingerprint([DataTerm(base[0].operator, changed_pixel, 1.0, None)], (12, 14), settings, None),
        fit_fingerprint([DataTerm(Blur(kernel), image, 1.0, None)], (12, 14), settings, None),
        fit_fingerprint([DataTerm(base[0].operator, image, 0.5, None)], (12, 14), settings, None),
        fit_fingerprint([DataTerm(Identity(), image, 1.0, None)], (12, 14), settings, None),
        fit_fingerprint([DataTerm(mask, image, 1.0, mask.loss_mask())], (12, 14), settings, None),
        fit_fingerprint(base, (12, 14), {**settings, "steps": 11}, None),
        fit_fingerprint(base, (12, 14), settings, reference),
    ]
    assert len({digest, *others}) == 1 + len(others)


def test_state_path_and_due_steps(tmp_path) -> None:
    assert state_path(tmp_path, "0123456789abcdef") == tmp_path / "linr-0123456789abcdef.pt"
    assert state_path(tmp_path / "a.state", "0123456789abcdef") == tmp_path / "a.state"
    store = FitStore(tmp_path, 10, [DataTerm(Identity(), noisy_image(), 1.0, None)], (12, 14), {}, None)
    assert [s for s in range(0, 41) if store.due(s, first=0, steps=40)] == [10, 20, 30]  # not at the start or end
    assert [s for s in range(20, 41) if store.due(s, first=20, steps=40)] == [30]  # not the step just loaded
