"""LIIF weights starting the points network: renamed tensors, and LIIF's output at the start."""

from __future__ import annotations

import torch

from srcli.models.liif import LIIF
from srcli.models.points import ISPPointsNet
from srcli.registry import copy_matching_parameters
from srcli.training.transfer import init_payload_for, points_state_from_liif

LIIF_ARGS = {"encoder_args": {"n_feats": 8, "n_blocks": 2}, "hidden_dims": [16, 16]}
POINTS_ARGS = {"point_features": 5, "point_hidden": 8, "grid_hidden": 8, "encoder_width": 8, "encoder_blocks": 2,
               "decoder_hidden": 16, "decoder_layers": 2}


def trained_pair() -> tuple[LIIF, ISPPointsNet, dict]:
    torch.manual_seed(0)
    liif, points = LIIF(**LIIF_ARGS).eval(), ISPPointsNet(**POINTS_ARGS).eval()
    with torch.no_grad():  # non-zero biases everywhere, so a dropped or misplaced tensor shows
        for p in liif.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    payload = {"spec": {"name": "liif", "args": LIIF_ARGS}, "state_dict": liif.state_dict(), "card": {"steps": 7}}
    return liif, points, payload


def test_every_encoder_and_decoder_tensor_finds_its_place():
    liif, points, payload = trained_pair()
    mapped = points_state_from_liif(payload["state_dict"], points.state_dict())
    assert len(mapped) == len(payload["state_dict"])  # 2 blocks x 4 + head 2 + tail 2 + decoder 3 x 2
    assert set(mapped) == {k for k in points.state_dict() if k.startswith(("head.", "body.", "decoder."))}
    torch.testing.assert_close(mapped["body.2.weight"], liif.encoder.tail.weight)
    torch.testing.assert_close(mapped["decoder.4.bias"], liif.state_dict()["decoder.2.bias"])
    head = mapped["head.weight"]
    assert head.shape == (8, 3 + 5, 3, 3) and torch.equal(head[:, :3], liif.encoder.head.weight)
    assert not head[:, 3:].any()  # the point features start switched off
    first = liif.state_dict()["decoder.0.weight"]
    torch.testing.assert_close(mapped["decoder.0.weight"][:, :-4], first[:, :-4])
    torch.testing.assert_close(mapped["decoder.0.weight"][:, -4:], 2 * first[:, -4:])


def test_started_points_network_renders_what_liif_renders_from_the_colour_grid():
    """The independent reference: LIIF's own forward pass on the grid's colours as an image."""
    liif, points, payload = trained_pair()
    info = copy_matching_parameters(points, init_payload_for("points", payload, points.state_dict()), "liif.pt")
    assert info["loaded"] == len(payload["state_dict"]) and info["steps"] == 7
    grid = torch.rand(2, 3 + 5, 6, 7) * 2 - 1  # colours in LIIF's normalised range, any features
    coord = torch.rand(2, 40, 2) * 2 - 1
    cell = torch.full((2, 40, 2), 2 / 17)
    with torch.no_grad():
        expected = liif.query(liif.encode(grid[:, :3] * 0.5 + 0.5), coord, cell)
        got = points.query(points.project(points.encode(grid)), coord, cell)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_other_widths_are_left_out_and_other_models_read_as_they_are():
    _liif, _points, payload = trained_pair()
    wider = ISPPointsNet(**{**POINTS_ARGS, "encoder_width": 12})
    mapped = points_state_from_liif(payload["state_dict"], wider.state_dict())
    assert not any(k.startswith(("head.", "body.")) for k in mapped)  # no encoder tensor fits a wider encoder
    assert init_payload_for("upscale", payload, wider.state_dict()) is payload
    diinn_payload = {**payload, "spec": {"name": "diinn", "args": {}}}
    assert init_payload_for("points", diinn_payload, wider.state_dict()) is diinn_payload
