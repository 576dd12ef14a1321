"""Feature encoders: sizes, forward formula, receptive radius, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from srcli.models.encoders import RDN, EDSRBaseline, make_encoder


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv_params(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout


def test_edsr_baseline_has_1_22m_parameters() -> None:
    expected = conv_params(3, 64, 3) + 16 * 2 * conv_params(64, 64, 3) + conv_params(64, 64, 3)
    encoder = make_encoder("edsr-baseline")
    assert n_params(encoder) == expected == 1_220_416
    assert encoder.out_channels == 64
    assert encoder.receptive_radius == 34  # 34 stacked 3x3 convolutions


def test_rdn_b_parameter_count_by_formula() -> None:
    g0, d, c, g = 64, 16, 8, 64
    block = sum(conv_params(g0 + i * g, g, 3) for i in range(c)) + conv_params(g0 + c * g, g0, 1)
    expected = conv_params(3, g0, 3) + conv_params(g0, g0, 3) + d * block + conv_params(d * g0, g0, 1) + conv_params(g0, g0, 3)
    encoder = make_encoder("rdn")
    assert n_params(encoder) == expected
    assert encoder.receptive_radius == 3 + d * c


def test_edsr_forward_matches_explicit_convolutions() -> None:
    torch.manual_seed(0)
    encoder = EDSRBaseline(n_feats=8, n_blocks=2)
    x = torch.randn(2, 3, 7, 9)

    def conv(t: torch.Tensor, layer: torch.nn.Conv2d) -> torch.Tensor:
        return F.conv2d(t, layer.weight, layer.bias, padding=1)

    shallow = conv(x, encoder.head)
    deep = shallow
    for block in encoder.blocks:
        deep = deep + conv(F.relu(conv(deep, block.conv1)), block.conv2)
    expected = shallow + conv(deep, encoder.tail)
    out = encoder(x)
    assert out.shape == (2, 8, 7, 9)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize(
    "name,args",
    [("edsr-baseline", {"n_feats": 8, "n_blocks": 2}), ("rdn", {"n_feats": 16, "n_blocks": 2, "n_layers": 2, "growth": 16})],
)
def test_receptive_radius_is_exact(name: str, args: dict) -> None:
    torch.manual_seed(1)
    encoder = make_encoder(name, **args).double()  # float64: the corner's influence is small
    r = encoder.receptive_radius
    size = 2 * r + 5
    centre = size // 2
    x = torch.rand(1, 3, size, size, dtype=torch.float64)
    with torch.no_grad():
        base = encoder(x)[0, :, centre, centre]
        far = x.clone()
        far[:, :, centre - r - 1, centre + r + 1] += 10.0
        far[:, :, centre + r + 1, :] += 10.0
        near = x.clone()
        near[:, :, centre + r, centre - r] += 10.0
        torch.testing.assert_close(encoder(far)[0, :, centre, centre], base, atol=1e-12, rtol=0)
        assert (encoder(near)[0, :, centre, centre] - base).abs().max() > 1e-9


def test_follows_input_dtype_and_odd_sizes() -> None:
    encoder = make_encoder("edsr-baseline", n_feats=4, n_blocks=1).double()
    out = encoder(torch.rand(1, 3, 1, 5, dtype=torch.float64))
    assert out.shape == (1, 4, 1, 5) and out.dtype == torch.float64


def test_bad_encoder_requests() -> None:
    with pytest.raises(ValueError, match="unknown encoder 'vgg'"):
        make_encoder("vgg")
    with pytest.raises(ValueError, match="bad arguments"):
        make_encoder("edsr-baseline", n_resblocks=3)
    with pytest.raises(ValueError, match="n_feats"):
        EDSRBaseline(n_feats=0)
    with pytest.raises(ValueError):
        RDN(n_blocks=0)
