"""Conversion of official LIIF checkpoints (github.com/yinboc/liif) into srcli checkpoints.

The official training script saves ``{'model': {'name': 'liif', 'args': {...}, 'sd':
state_dict}, 'optimizer': ..., 'epoch': ...}`` where ``args`` holds ``encoder_spec``
(``edsr-baseline``, ``edsr`` or ``rdn`` with ``no_upsampling: True``), ``imnet_spec``
(``mlp`` with ``out_dim: 3`` and ``hidden_list``) and the flags ``local_ensemble``,
``feat_unfold``, ``cell_decode`` (srcli's LIIF always uses all three).

Parameter names (official -> srcli):

* EDSR: ``encoder.head.0`` -> ``encoder.head``; ``encoder.body.{i}.body.0|2`` ->
  ``encoder.blocks.{i}.conv1|conv2``; ``encoder.body.{n}`` -> ``encoder.tail``;
  ``encoder.sub_mean|add_mean`` (unused mean shifts) are dropped.
* RDN: ``encoder.SFENet1|2`` -> ``encoder.shallow1|2``; ``encoder.RDBs.{i}.convs.{j}.conv.0``
  -> ``encoder.blocks.{i}.convs.{j}``; ``encoder.RDBs.{i}.LFF`` -> ``encoder.blocks.{i}.fuse``;
  ``encoder.GFF.0|1`` -> ``encoder.global_fuse1|2``.
* MLP: ``imnet.layers.{2 i}`` -> ``decoder.{i}`` (odd indices are the ReLUs).
"""

from __future__ import annotations

import re
from typing import Any

from srcli.registry import CHECKPOINT_FORMAT, RegistryError

#: official EDSR variants: default (n_resblocks, n_feats, res_scale)
EDSR_DEFAULTS = {"edsr-baseline": (16, 64, 1.0), "edsr": (32, 256, 0.1)}
#: official RDN configurations: (blocks D, layers per block C, growth G)
RDN_CONFIGS = {"A": (20, 6, 32), "B": (16, 8, 64)}
#: official LIIF flags srcli's LIIF implements only when True
LIIF_FLAGS = ("local_ensemble", "feat_unfold", "cell_decode")

_RENAMES = (
    (r"encoder\.head\.0\.", "encoder.head."),
    (r"encoder\.body\.(\d+)\.body\.0\.", r"encoder.blocks.\1.conv1."),
    (r"encoder\.body\.(\d+)\.body\.2\.", r"encoder.blocks.\1.conv2."),
    (r"encoder\.SFENet([12])\.", r"encoder.shallow\1."),
    (r"encoder\.RDBs\.(\d+)\.convs\.(\d+)\.conv\.0\.", r"encoder.blocks.\1.convs.\2."),
    (r"encoder\.RDBs\.(\d+)\.LFF\.", r"encoder.blocks.\1.fuse."),
    (r"encoder\.GFF\.0\.", "encoder.global_fuse1."),
    (r"encoder\.GFF\.1\.", "encoder.global_fuse2."),
)


def _edsr_args(name: str, args: dict[str, Any]) -> dict[str, Any]:
    blocks, feats, res_scale = EDSR_DEFAULTS[name]
    unknown = set(args) - {"n_resblocks", "n_feats", "res_scale", "scale", "no_upsampling", "rgb_range"}
    if unknown:
        raise RegistryError(f"official {name} encoder argument(s) not supported: {', '.join(sorted(unknown))}")
    return {"n_blocks": int(args.get("n_resblocks", blocks)), "n_feats": int(args.get("n_feats", feats)),
            "res_scale": float(args.get("res_scale", res_scale))}


def _rdn_args(args: dict[str, Any]) -> dict[str, Any]:
    unknown = set(args) - {"G0", "RDNkSize", "RDNconfig", "scale", "no_upsampling"}
    if unknown:
        raise RegistryError(f"official rdn encoder argument(s) not supported: {', '.join(sorted(unknown))}")
    if int(args.get("RDNkSize", 3)) != 3:
        raise RegistryError(f"official rdn with RDNkSize={args['RDNkSize']} is not supported (only 3)")
    config = args.get("RDNconfig", "B")
    if config not in RDN_CONFIGS:
        raise RegistryError(f"unknown official RDNconfig {config!r}; known: {', '.join(RDN_CONFIGS)}")
    blocks, layers, growth = RDN_CONFIGS[config]
    return {"n_feats": int(args.get("G0", 64)), "n_blocks": blocks, "n_layers": layers, "growth": growth}


def official_spec_to_srcli(args: dict[str, Any]) -> dict[str, Any]:
    """srcli ``liif`` spec ``{"name", "args"}`` for the ``args`` of an official LIIF spec.

    Raises:
        RegistryError: for a variant srcli's LIIF does not implement.
    """
    for flag in LIIF_FLAGS:
        if not args.get(flag, True):
            raise RegistryError(f"official LIIF with {flag}=False is not supported (srcli's LIIF always uses it)")
    unknown = set(args) - {"encoder_spec", "imnet_spec", *LIIF_FLAGS}
    if unknown:
        raise RegistryError(f"official LIIF argument(s) not supported: {', '.join(sorted(unknown))}")
    encoder = args.get("encoder_spec") or {}
    encoder_name, encoder_args = encoder.get("name"), dict(encoder.get("args") or {})
    if encoder_name not in (*EDSR_DEFAULTS, "rdn"):
        raise RegistryError(f"official LIIF encoder {encoder_name!r} is not supported; "
                            f"supported: {', '.join([*EDSR_DEFAULTS, 'rdn'])}")
    if not encoder_args.get("no_upsampling", False):
        raise RegistryError(f"official {encoder_name} encoder without no_upsampling=True is not a LIIF encoder")
    imnet = args.get("imnet_spec")
    if not imnet or imnet.get("name") != "mlp":
        raise RegistryError(f"official LIIF imnet {None if not imnet else imnet.get('name')!r} is not supported "
                            f"(only 'mlp'; LIIF without an imnet is plain nearest-neighbour)")
    imnet_args = dict(imnet.get("args") or {})
    if int(imnet_args.get("out_dim", 0)) != 3 or not imnet_args.get("hidden_list"):
        raise RegistryError(f"official LIIF imnet must have out_dim=3 and a hidden_list, got {imnet_args}")
    srcli_encoder_args = _rdn_args(encoder_args) if encoder_name == "rdn" else _edsr_args(encoder_name, encoder_args)
    return {"name": "liif", "args": {"encoder": "rdn" if encoder_name == "rdn" else "edsr-baseline",
                                     "encoder_args": srcli_encoder_args,
                                     "hidden_dims": [int(v) for v in imnet_args["hidden_list"]]}}


def rename_official_key(key: str, edsr_blocks: int | None) -> str | None:
    """srcli state-dict name of an official LIIF parameter, or None for a dropped one.

    Args:
        key: official name, e.g. ``"encoder.body.3.body.2.weight"``.
        edsr_blocks: number of EDSR residual blocks (``body.{n}`` is the tail), None for RDN.

    Raises:
        RegistryError: for a name with no srcli counterpart.
    """
    if re.match(r"encoder\.(sub_mean|add_mean)\.", key):
        return None
    if edsr_blocks is not None and key.startswith(f"encoder.body.{edsr_blocks}."):
        return "encoder.tail." + key[len(f"encoder.body.{edsr_blocks}."):]
    layer = re.fullmatch(r"imnet\.layers\.(\d+)\.(weight|bias)", key)
    if layer and int(layer.group(1)) % 2 == 0:
        return f"decoder.{int(layer.group(1)) // 2}.{layer.group(2)}"
    for pattern, replacement in _RENAMES:
        renamed, count = re.subn(f"^{pattern}", replacement, key)
        if count:
            return renamed
    raise RegistryError(f"official LIIF parameter {key!r} has no counterpart in srcli's LIIF")


def convert_official_liif(payload: dict[str, Any]) -> dict[str, Any]:
    """Turn an official LIIF checkpoint into a srcli checkpoint dict.

    Args:
        payload: ``{'model': {'name': 'liif', 'args': {...}, 'sd': state_dict}, ...}`` as
            saved by the official ``train_liif.py``.

    Returns:
        ``{"format", "spec", "state_dict", "card"}`` for :func:`srcli.registry.load_checkpoint`.

    Raises:
        RegistryError: not an official LIIF checkpoint, or a variant srcli does not implement.
    """
    model = payload.get("model") if isinstance(payload, dict) else None
    if not isinstance(model, dict) or not isinstance(model.get("sd"), dict):
        raise RegistryError("not an official LIIF checkpoint: expected {'model': {'name', 'args', 'sd'}}")
    if model.get("name") != "liif":
        raise RegistryError(f"official checkpoint of model {model.get('name')!r} is not supported (only 'liif')")
    spec = official_spec_to_srcli(dict(model.get("args") or {}))
    is_edsr = spec["args"]["encoder"] == "edsr-baseline"
    edsr_blocks = spec["args"]["encoder_args"]["n_blocks"] if is_edsr else None
    state: dict[str, Any] = {}
    for key, value in model["sd"].items():
        name = rename_official_key(key, edsr_blocks)
        if name is not None:
            state[name] = value
    encoder = model["args"]["encoder_spec"]["name"]
    card = {"source": "official LIIF checkpoint (github.com/yinboc/liif)", "official_encoder": encoder}
    if isinstance(payload.get("epoch"), int):
        card["epoch"] = payload["epoch"]
    return {"format": CHECKPOINT_FORMAT, "spec": spec, "state_dict": state, "card": card}
