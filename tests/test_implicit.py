"""The implicit models' base: prepared features, input checks, training graph, re-exports."""

from __future__ import annotations

import pytest
import torch

from srcli.models import implicit, implicit_functional
from srcli.models.implicit import PreparedFeatures, check_image, check_queries
from srcli.models.implicit_functional import pixel_rows


def test_prepared_gather_translates_frame_indices_into_the_crop() -> None:
    maps = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    crop = PreparedFeatures(pixel_rows(maps), 2, 4, 5, True, frame=(10, 20, 30, 40))
    assert crop.frame_size == (30, 40)
    frame_index = torch.tensor([[10 * 40 + 20, 13 * 40 + 24], [12 * 40 + 21, 10 * 40 + 22]])
    out = crop.gather(frame_index, slice(1, 3))
    assert torch.equal(out[0, 0], maps[0, 1:3, 0, 0]) and torch.equal(out[0, 1], maps[0, 1:3, 3, 4])
    assert torch.equal(out[1, 0], maps[1, 1:3, 2, 1]) and torch.equal(out[1, 1], maps[1, 1:3, 0, 2])
    with pytest.raises(ValueError, match="outside the prepared crop"):
        crop.gather(torch.tensor([[9 * 40 + 20], [10 * 40 + 20]]))
    with pytest.raises(ValueError, match="outside the prepared crop"):
        crop.gather(torch.tensor([[10 * 40 + 25], [10 * 40 + 20]]))


def test_input_checks_give_clear_errors() -> None:
    with pytest.raises(TypeError, match="torch.Tensor"):
        check_image([[0.0]])
    with pytest.raises(ValueError, match=r"\(B, 3, h, w\)"):
        check_image(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, 3, h, w\)"):
        check_image(torch.zeros(1, 1, 8, 8))
    with pytest.raises(TypeError, match="floating"):
        check_image(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="coord"):
        check_queries(torch.zeros(2, 5, 3), torch.zeros(2, 5, 3), 2)
    with pytest.raises(ValueError, match="coord"):
        check_queries(torch.zeros(1, 5, 2), torch.zeros(1, 5, 2), 2)
    with pytest.raises(ValueError, match="cell"):
        check_queries(torch.zeros(2, 5, 2), torch.zeros(2, 4, 2), 2)


def _graph_node_names(root: torch.Tensor) -> set[str]:
    names, stack, seen = set(), [root.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(next_fn for next_fn, _ in node.next_functions)
    return names


@pytest.mark.parametrize("name, args", [
    ("liif", {"hidden_dims": [16, 16]}),
    ("a-liif", {"n_basis": 3, "basis_hidden_dims": [8, 8], "expansion_hidden_dims": [16, 16]}),
    ("diinn", {"hidden_dims": [16, 16]}),
])
def test_training_graph_has_no_in_place_updates_of_views(name: str, args: dict) -> None:
    """An in-place op on a view under autograd makes backward copy the whole base (CopySlices)."""
    from srcli.registry import create

    torch.manual_seed(0)
    model = create(name, encoder_args={"n_blocks": 1, "n_feats": 8}, **args)
    coord = torch.rand(2, 30, 2) * 2 - 1
    out = model.query(model.encode(torch.rand(2, 3, 6, 7)), coord, torch.full((2, 30, 2), 0.1))
    names = _graph_node_names(out)
    assert "AddmmBackward0" in names or "MmBackward0" in names  # the walk reached the decoder
    assert not any("CopySlices" in n or "AsStrided" in n for n in names), sorted(names)
    out.sum().backward()  # and the graph is usable


def test_functional_names_stay_importable_from_implicit() -> None:
    for name in ("AREA_EPS", "COORD_CLAMP", "ENSEMBLE_EPS", "add_coordinate_terms", "ensemble_lookups",
                 "ensemble_weights", "gather_rows", "nearest_pixel", "pixel_centres_of", "pixel_rows",
                 "project_unfolded", "relative_coord", "relu_", "scaled_cell", "unfold3x3"):
        assert getattr(implicit, name) is getattr(implicit_functional, name), name
