"""Starting the points network from a trained LIIF (``srcli train --model isp-points --init LIIF.pt``).

The points network (:class:`srcli.models.points.ISPPointsNet`) ends in the same
EDSR-baseline encoder and LIIF decoder as LIIF, on a grid whose first ``C`` channels are
colour values (normalised like LIIF's input image) and whose other ``F`` channels are point
features. :func:`points_state_from_liif` renames LIIF's tensors for it:

* ``encoder.head`` -> ``head``, over the colour channels; the feature channels get zero
  weights, so at the start the encoder sees the colour grid only;
* ``encoder.blocks.i`` -> ``body.i`` and ``encoder.tail`` -> ``body.<blocks>``;
* ``decoder.j`` (linear layers) -> ``decoder.2j`` (the points decoder has ReLU modules
  between its linear layers); the four positional columns of the first layer are doubled,
  because LIIF measures offsets and cell sizes in half grid cells and the points decoder in
  whole cells.

Started so, the network's output equals LIIF's upscaling of the colour grid (the test
checks it), and training starts from a trained image decoder instead of a random one. The
point, filter and colour MLPs keep their seeded initial weights.
"""

from __future__ import annotations

import re
from typing import Any

import torch

#: LIIF offset and cell inputs per unit of the points decoder's (half cells per cell)
LIIF_POSITION_UNIT = 2.0
_BLOCK = re.compile(r"^encoder\.blocks\.(\d+)\.(.+)$")


def points_state_from_liif(liif_state: dict[str, torch.Tensor], points_state: dict[str, torch.Tensor],
                           ) -> dict[str, torch.Tensor]:
    """LIIF tensors under the points network's names and shapes (module docstring).

    Args:
        liif_state: a LIIF state dict (``encoder.*``, ``decoder.*``).
        points_state: the points network's own state dict (names, shapes and dtypes).

    Returns:
        New tensors for the points network's encoder and decoder; tensors whose shapes
        differ (another width or depth) are left out.
    """
    body_blocks = sum(1 for k in points_state if re.fullmatch(r"body\.\d+\.conv1\.weight", k))
    out: dict[str, torch.Tensor] = {}
    for name, value in liif_state.items():
        target, value = _points_name(name, value, body_blocks)
        if target is None or target not in points_state:
            continue
        if target == "head.weight":
            value = _head_weight(value, points_state[target])
        if tuple(value.shape) == tuple(points_state[target].shape):
            out[target] = value.to(points_state[target].dtype)
    return out


def _points_name(name: str, value: torch.Tensor, body_blocks: int) -> tuple[str | None, torch.Tensor]:
    """The points network's name for a LIIF tensor (None: no counterpart), and its value."""
    if name.startswith("encoder.head."):
        return name.replace("encoder.head.", "head.", 1), value
    if name.startswith("encoder.tail."):
        return name.replace("encoder.tail.", f"body.{body_blocks}.", 1), value
    block = _BLOCK.match(name)
    if block:
        return f"body.{block.group(1)}.{block.group(2)}", value
    layer = re.fullmatch(r"decoder\.(\d+)\.(weight|bias)", name)
    if layer is None:
        return None, value
    index, kind = int(layer.group(1)), layer.group(2)
    if index == 0 and kind == "weight":
        value = value.clone()
        value[:, -4:] *= LIIF_POSITION_UNIT
    return f"decoder.{2 * index}.{kind}", value


def _head_weight(liif_head: torch.Tensor, points_head: torch.Tensor) -> torch.Tensor:
    """LIIF's head over the first (colour) input channels, zeros over the feature channels."""
    weight = torch.zeros_like(points_head, dtype=liif_head.dtype)
    colour = liif_head.shape[1]
    if weight.shape[0] != liif_head.shape[0] or weight.shape[2:] != liif_head.shape[2:]:
        return liif_head  # another width: left out by the shape check
    weight[:, :colour] = liif_head
    return weight


def init_payload_for(task: str, payload: dict[str, Any], model_state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The ``--init`` checkpoint as the run's model should read it.

    A LIIF checkpoint starting a points model is translated (:func:`points_state_from_liif`);
    every other pair is used as it is (tensors matching by name and shape).
    """
    if task == "points" and payload["spec"]["name"] == "liif":
        return {**payload, "state_dict": points_state_from_liif(payload["state_dict"], model_state)}
    return payload
