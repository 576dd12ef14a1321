"""Official LIIF checkpoints (github.com/yinboc/liif format) load into srcli's LIIF."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from srcli.models.liif_official import convert_official_liif
from srcli.registry import RegistryError, load_model


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread avoids OpenMP overhead on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2)


# Modules named as the official code names them (models/edsr.py, rdn.py, mlp.py, liif.py).
class OfficialResBlock(nn.Module):
    def __init__(self, n: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(n, n), nn.ReLU(True), conv(n, n))
        self.res_scale = res_scale

    def forward(self, x):
        return self.body(x) * self.res_scale + x


class OfficialEDSR(nn.Module):
    def __init__(self, n_resblocks: int, n_feats: int, res_scale: float) -> None:
        super().__init__()
        self.sub_mean, self.add_mean = nn.Conv2d(3, 3, 1), nn.Conv2d(3, 3, 1)  # unused mean shifts
        self.head = nn.Sequential(conv(3, n_feats))
        self.body = nn.Sequential(*[OfficialResBlock(n_feats, res_scale) for _ in range(n_resblocks)], conv(n_feats, n_feats))

    def forward(self, x):
        x = self.head(x)
        return self.body(x) + x


class OfficialRDBConv(nn.Module):
    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(conv(cin, growth), nn.ReLU())

    def forward(self, x):
        return torch.cat((x, self.conv(x)), 1)


class OfficialRDB(nn.Module):
    def __init__(self, g0: int, growth: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(*[OfficialRDBConv(g0 + c * growth, growth) for c in range(layers)])
        self.LFF = nn.Conv2d(g0 + layers * growth, g0, 1)

    def forward(self, x):
        return self.LFF(self.convs(x)) + x


class OfficialRDN(nn.Module):
    def __init__(self, g0: int, blocks: int, layers: int, growth: int) -> None:
        super().__init__()
        self.SFENet1, self.SFENet2 = conv(3, g0), conv(g0, g0)
        self.RDBs = nn.ModuleList(OfficialRDB(g0, growth, layers) for _ in range(blocks))
        self.GFF = nn.Sequential(nn.Conv2d(blocks * g0, g0, 1), conv(g0, g0))

    def forward(self, x):
        f1 = self.SFENet1(x)
        x = self.SFENet2(f1)
        outs = []
        for block in self.RDBs:
            x = block(x)
            outs.append(x)
        return self.GFF(torch.cat(outs, 1)) + f1


class OfficialLIIF(nn.Module):
    def __init__(self, encoder: nn.Module, feats: int, hidden: list[int]) -> None:
        super().__init__()
        self.encoder = encoder
        dims, layers = [feats * 9 + 4, *hidden], []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.imnet = nn.Module()
        self.imnet.layers = nn.Sequential(*layers, nn.Linear(dims[-1], 3))


def official_args(encoder_name: str, encoder_args: dict, hidden: list[int]) -> dict:
    return {"encoder_spec": {"name": encoder_name, "args": {"no_upsampling": True, **encoder_args}},
            "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": hidden}}}


def official_payload(official: OfficialLIIF, args: dict) -> dict:
    return {"model": {"name": "liif", "args": args, "sd": official.state_dict()}, "epoch": 7,
            "optimizer": {"name": "adam", "args": {"lr": 1e-4}, "sd": {}}}


CASES = {
    "edsr-baseline": (lambda: OfficialEDSR(2, 8, 1.0), {"n_resblocks": 2, "n_feats": 8}, 8,
                      {"encoder": "edsr-baseline", "encoder_args": {"n_blocks": 2, "n_feats": 8, "res_scale": 1.0}}),
    "edsr": (lambda: OfficialEDSR(1, 8, 0.1), {"n_resblocks": 1, "n_feats": 8}, 8,  # official default res_scale 0.1
             {"encoder": "edsr-baseline", "encoder_args": {"n_blocks": 1, "n_feats": 8, "res_scale": 0.1}}),
    "rdn": (lambda: OfficialRDN(4, 20, 6, 32), {"G0": 4, "RDNconfig": "A"}, 4,
            {"encoder": "rdn", "encoder_args": {"n_feats": 4, "n_blocks": 20, "n_layers": 6, "growth": 32}}),
}


@pytest.mark.parametrize("encoder_name", sorted(CASES))
def test_official_checkpoint_loads_and_computes_the_same(encoder_name, tmp_path):
    make_encoder, encoder_args, feats, expected_args = CASES[encoder_name]
    torch.manual_seed(0)
    official = OfficialLIIF(make_encoder(), feats, [16, 16]).eval()
    args = official_args(encoder_name, encoder_args, [16, 16])
    converted = convert_official_liif(official_payload(official, args))
    assert converted["spec"] == {"name": "liif", "args": {**expected_args, "hidden_dims": [16, 16]}}
    assert converted["card"]["epoch"] == 7
    path = tmp_path / "epoch-best.pth"
    torch.save(official_payload(official, args), path)
    model, card = load_model(str(path))
    assert card["official_encoder"] == encoder_name
    image = torch.rand(2, 3, 6, 5)
    x = torch.randn(10, feats * 9 + 4)
    with torch.no_grad():
        torch.testing.assert_close(model.encode(image), official.encoder((image - 0.5) / 0.5), atol=1e-5, rtol=1e-5)
        h = x
        for layer in model.decoder[:-1]:
            h = torch.relu(layer(h))
        torch.testing.assert_close(model.decoder[-1](h), official.imnet.layers(x), atol=1e-6, rtol=1e-6)


def test_official_names_map_one_to_one():
    official = OfficialLIIF(OfficialEDSR(2, 8, 1.0), 8, [16, 16])
    converted = convert_official_liif(official_payload(official, official_args("edsr-baseline", {"n_resblocks": 2, "n_feats": 8}, [16, 16])))
    sd = official.state_dict()
    expected = {"encoder.head.weight": "encoder.head.0.weight", "encoder.blocks.1.conv2.bias": "encoder.body.1.body.2.bias",
                "encoder.tail.weight": "encoder.body.2.weight", "decoder.2.weight": "imnet.layers.4.weight"}
    for ours, theirs in expected.items():
        assert torch.equal(converted["state_dict"][ours], sd[theirs])
    assert not any("mean" in key for key in converted["state_dict"])
    assert len(converted["state_dict"]) == len(sd) - 4  # all but sub_mean/add_mean weight and bias


def _variant(path: tuple, value) -> dict:
    official = OfficialLIIF(OfficialEDSR(1, 4, 1.0), 4, [8])
    payload = official_payload(official, official_args("edsr-baseline", {"n_resblocks": 1, "n_feats": 4}, [8]))
    payload = copy.deepcopy(payload)
    target = payload
    for key in path[:-1]:
        target = target[key]
    if value is None:
        target.pop(path[-1])
    else:
        target[path[-1]] = value
    return payload


@pytest.mark.parametrize("path, value, message", [
    (("model", "args", "local_ensemble"), False, "local_ensemble=False"),
    (("model", "args", "feat_unfold"), False, "feat_unfold=False"),
    (("model", "args", "cell_decode"), False, "cell_decode=False"),
    (("model", "args", "encoder_spec", "name"), "rcan", "encoder 'rcan' is not supported"),
    (("model", "args", "encoder_spec", "args", "no_upsampling"), None, "no_upsampling"),
    (("model", "args", "imnet_spec"), None, "imnet None is not supported"),
    (("model", "args", "imnet_spec", "args", "out_dim"), 1, "out_dim=3"),
    (("model", "name"), "metasr", "'metasr' is not supported"),
    (("model", "sd", "encoder.extra.weight"), torch.zeros(1), "'encoder.extra.weight' has no counterpart"),
    (("model", "sd"), None, "not an official LIIF checkpoint"),
])
def test_unsupported_variants_raise_clear_errors(path, value, message):
    with pytest.raises(RegistryError, match=message):
        convert_official_liif(_variant(path, value))


def test_unsupported_rdn_options_and_bad_file(tmp_path):
    for rdn_args, message in (({"RDNkSize": 5}, "RDNkSize=5"), ({"RDNconfig": "C"}, "RDNconfig 'C'")):
        payload = {"model": {"name": "liif", "args": official_args("rdn", rdn_args, [8]), "sd": {}}}
        with pytest.raises(RegistryError, match=message):
            convert_official_liif(payload)
    path = tmp_path / "bad.pth"
    torch.save(_variant(("model", "args", "local_ensemble"), False), path)
    with pytest.raises(RegistryError, match="local_ensemble"):
        load_model(str(path))
