"""Blur kernels and the noise estimate of LINR (srcli.tasks.forward_kernels) against independent formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from srcli.tasks.forward_kernels import ForwardModelError, estimate_noise_sigma, parse_blur_kernel


def test_parse_gauss_kernel_matches_fspecial() -> None:
    k = parse_blur_kernel("gauss:25:1.6")
    t = np.arange(25) - 12
    g = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * 1.6**2))
    np.testing.assert_allclose(k.numpy(), g / g.sum(), rtol=1e-5, atol=1e-9)
    assert k.sum().item() == pytest.approx(1.0, abs=1e-6)
    box = parse_blur_kernel("box:3")
    assert box.shape == (3, 3) and torch.allclose(box, torch.full((3, 3), 1 / 9))


def test_parse_kernel_files(tmp_path) -> None:
    raw = np.array([[0.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 2.0]])
    np.save(tmp_path / "k.npy", raw)
    np.savetxt(tmp_path / "k.txt", raw)
    Image.fromarray((raw * 50).astype(np.uint8)).save(tmp_path / "k.png")
    for name in ("k.npy", "k.txt", "k.png"):
        k = parse_blur_kernel(str(tmp_path / name))
        np.testing.assert_allclose(k.numpy(), raw / raw.sum(), rtol=1e-6, atol=1e-7)


def test_parse_kernel_errors(tmp_path) -> None:
    with pytest.raises(ForwardModelError, match="bad blur kernel"):
        parse_blur_kernel("gauss:abc:1")
    with pytest.raises(ForwardModelError, match="sigma"):
        parse_blur_kernel("gauss:5:0")
    with pytest.raises(ForwardModelError, match="neither"):
        parse_blur_kernel(str(tmp_path / "missing.npy"))
    np.save(tmp_path / "cube.npy", np.ones((2, 2, 2)))
    with pytest.raises(ForwardModelError, match="must be 2-D"):
        parse_blur_kernel(str(tmp_path / "cube.npy"))
    np.save(tmp_path / "zero.npy", np.array([[1.0, -1.0]]))
    with pytest.raises(ForwardModelError, match="positive sum"):
        parse_blur_kernel(str(tmp_path / "zero.npy"))
    (tmp_path / "bad.txt").write_text("1 2\n3\n")
    with pytest.raises(ForwardModelError, match="cannot read"):
        parse_blur_kernel(str(tmp_path / "bad.txt"))
    assert math.isclose(float(parse_blur_kernel("GAUSS:3:1").sum()), 1.0, rel_tol=1e-6)


def test_unreadable_kernel_files_are_user_errors_without_warnings(tmp_path) -> None:
    import warnings

    (tmp_path / "empty.npy").write_bytes(b"")
    np.save(tmp_path / "words.npy", np.array([["a", "b"], ["c", "d"]]))
    (tmp_path / "empty.txt").write_text("")
    cases = {"empty.npy": "cannot read blur kernel", "words.npy": "cannot read blur kernel",
             "empty.txt": "holds no numbers"}
    for name, message in cases.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning would print lines before the one-line error
            with pytest.raises(ForwardModelError, match=message):
                parse_blur_kernel(str(tmp_path / name))


@pytest.mark.parametrize("spec", ["box:0", "box:1024", "gauss:0:1", "gauss:100000:2"])
def test_kernel_spec_sizes_are_bounded(spec: str) -> None:
    with pytest.raises(ForwardModelError, match="kernel size must be an integer from 1 to 1023"):
        parse_blur_kernel(spec)
    assert parse_blur_kernel("box:1023").shape == (1023, 1023) and parse_blur_kernel("gauss:4:1").shape == (4, 4)


def test_noise_sigma_estimate() -> None:
    gen = torch.Generator().manual_seed(0)
    y, x = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    clean = torch.stack([0.5 + 0.3 * torch.sin(3 * x + 2 * y), 0.4 + 0.3 * torch.cos(4 * y - x)]).unsqueeze(0)
    for sigma in (0.02, 0.1):
        noisy = clean + sigma * torch.randn(clean.shape, generator=gen)
        assert estimate_noise_sigma(noisy) == pytest.approx(sigma, rel=0.1)
    assert estimate_noise_sigma(clean) < 0.005
    assert estimate_noise_sigma(clean[0, 0, :7, :9] + 0.5 * torch.randn(7, 9, generator=gen)) > 0.2  # odd sizes, 2-D
    with pytest.raises(ForwardModelError, match="at least 2x2"):
        estimate_noise_sigma(torch.zeros(1, 1, 1, 5))
