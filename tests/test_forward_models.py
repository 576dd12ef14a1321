"""LINR corruption operators against independent computations."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from scipy import ndimage

from srcli.tasks.forward_models import (
    Blur,
    Chain,
    Downsample,
    ForwardModelError,
    Identity,
    Mask,
    data_term,
)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_identity() -> None:
    x = torch.rand(1, 3, 5, 6)
    assert torch.equal(Identity()(x, (5, 6)), x)
    assert Identity().render_size((5, 6)) == (5, 6)
    with pytest.raises(ForwardModelError, match="differs from the observation"):
        Identity()(x, (4, 6))


def test_mask_exact_and_loss_only_on_known_pixels() -> None:
    torch.manual_seed(0)
    x = torch.rand(1, 3, 6, 7)
    keep = torch.rand(6, 7) < 0.4
    op = Mask(keep)
    out = op(x, (6, 7))
    assert torch.equal(out, x * keep.float())  # exact
    y = torch.rand(1, 3, 6, 7)
    y_garbage = torch.where(keep, y, torch.full_like(y, 123.0))
    loss = data_term(out, y, op.loss_mask())
    assert torch.equal(loss, data_term(out, y_garbage, op.loss_mask()))
    # LINR's normalisation: sum over known pixels / all elements
    expected = sum(float((x[0, c][keep] - y[0, c][keep]).square().sum()) for c in range(3)) / (3 * 6 * 7)
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_mask_per_channel_and_errors() -> None:
    m = torch.zeros(1, 3, 2, 2)
    m[0, 1, 0, 0] = 1
    assert torch.equal(Mask(m)(torch.ones(1, 3, 2, 2), (2, 2)), m)
    with pytest.raises(ForwardModelError, match=r"\[0, 1\]"):
        Mask(torch.full((2, 2), 2.0))
    with pytest.raises(ForwardModelError, match="no pixel"):
        Mask(torch.zeros(2, 2))
    with pytest.raises(ForwardModelError, match="mask must be"):
        Mask(torch.ones(2, 1, 2, 2))


@pytest.mark.parametrize("padding,scipy_mode", [("replicate", "nearest"), ("reflect", "mirror"),
                                                ("symmetric", "reflect"), ("circular", "wrap"), ("zeros", "constant")])
@pytest.mark.parametrize("kshape", [(3, 5), (4, 2)])
def test_blur_matches_scipy_convolve(padding: str, scipy_mode: str, kshape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    image = rng.random((2, 9, 11))
    kernel = rng.random(kshape)  # asymmetric: convolution and correlation differ
    out = Blur(torch.from_numpy(kernel), padding=padding)(torch.from_numpy(image)[None].float(), (9, 11))
    for c in range(2):
        expected = ndimage.convolve(image[c], kernel, mode=scipy_mode, cval=0.0)
        np.testing.assert_allclose(out[0, c].numpy(), expected, rtol=1e-5, atol=1e-5)


def test_blur_errors() -> None:
    with pytest.raises(ForwardModelError, match="2-D"):
        Blur(torch.ones(3))
    with pytest.raises(ForwardModelError, match="NaN"):
        Blur(torch.tensor([[float("nan")]]))
    with pytest.raises(ForwardModelError, match="unknown padding"):
        Blur(torch.ones(3, 3), padding="edge")


def lanczos2(t: np.ndarray) -> np.ndarray:
    return np.where(np.abs(t) < 2, np.sinc(t) * np.sinc(t / 2), 0.0)


def test_downsample_interior_matches_antialiased_lanczos2() -> None:
    """Interior LR pixels: lanczos2 widened by the scale, centred on the LR pixel centre."""
    rng = np.random.default_rng(2)
    s, lr = 3, 8
    hr = rng.random((lr * s, lr * s))
    out = Downsample(s)(torch.from_numpy(hr)[None, None].float(), (lr, lr))[0, 0].numpy()
    assert out.shape == (lr, lr)
    j = np.arange(lr * s)
    weights = np.stack([lanczos2((j - ((i + 0.5) * s - 0.5)) / s) for i in range(lr)])
    weights /= weights.sum(1, keepdims=True)
    expected = weights @ hr @ weights.T
    inner = slice(2, lr - 2)  # away from the border rule
    np.testing.assert_allclose(out[inner, inner], expected[inner, inner], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scale,observed,canvas", [(2, (5, 7), (10, 14)), (2.5, (7, 4), (18, 10)), (1.5, (3, 3), (5, 5))])
def test_downsample_sizes(scale: float, observed: tuple[int, int], canvas: tuple[int, int]) -> None:
    op = Downsample(scale)
    assert op.render_size(observed) == canvas  # round half up of scale * n
    x = torch.full((1, 3, *canvas), 0.25)
    out = op(x, observed)
    assert out.shape == (1, 3, *observed)
    assert torch.allclose(out, torch.full_like(out, 0.25), atol=1e-6)  # weights sum to 1


def test_downsample_is_differentiable() -> None:
    x = torch.rand(1, 1, 8, 8, requires_grad=True)
    Downsample(2)(x, (4, 4)).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize("scale", [0, -2, float("nan"), float("inf"), True])
def test_downsample_bad_scale(scale: float) -> None:
    with pytest.raises(ForwardModelError, match="scale must be a positive number"):
        Downsample(scale)


def test_downsample_bad_kernel() -> None:
    with pytest.raises(ForwardModelError, match="unknown downsampling kernel"):
        Downsample(2, kernel="sinc")


def test_chain_blur_downsample_mask() -> None:
    torch.manual_seed(3)
    x = torch.rand(1, 2, 8, 8)
    k = torch.rand(3, 3)
    m = (torch.rand(4, 4) > 0.5).float()
    chain = Chain([Blur(k), Downsample(2), Mask(m)])
    assert chain.render_size((4, 4)) == (8, 8)
    assert not chain.pointwise and Chain([Mask(m)]).pointwise
    with pytest.raises(ForwardModelError, match="only one size-changing"):
        Chain([Downsample(2), Downsample(2)])
    expected = Downsample(2)(Blur(k)(x, (8, 8)), (4, 4)) * m
    assert torch.allclose(chain(x, (4, 4)), expected)
    assert torch.equal(chain.loss_mask()[0, 0], m)


def test_data_term_formula() -> None:
    a, b = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    assert float(data_term(a, b)) == pytest.approx(float(((a - b) ** 2).sum()) / a.numel(), rel=1e-6)
