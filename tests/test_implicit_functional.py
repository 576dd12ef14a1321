"""Tensor functions of the implicit decoders: unfold, projection, lookups, ensemble weights."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from srcli.models.implicit_functional import (
    add_coordinate_terms,
    ensemble_lookups,
    ensemble_weights,
    gather_rows,
    nearest_pixel,
    pixel_rows,
    project_unfolded,
    relative_coord,
    relu_,
    scaled_cell,
    unfold3x3,
)


def test_unfold3x3_channel_order_matches_shifted_copies() -> None:
    torch.manual_seed(0)
    feat = torch.randn(2, 3, 5, 4)
    padded = F.pad(feat, (1, 1, 1, 1))
    out = unfold3x3(feat)
    assert out.shape == (2, 27, 5, 4)
    for c in range(3):
        for ky in range(3):
            for kx in range(3):
                expected = padded[:, c, ky:ky + 5, kx:kx + 4]
                assert torch.equal(out[:, c * 9 + ky * 3 + kx], expected)


def test_project_unfolded_equals_linear_on_unfolded_features() -> None:
    torch.manual_seed(1)
    feat = torch.randn(2, 4, 6, 7)
    weight = torch.randn(5, 36)
    bias = torch.randn(5)
    # independent: explicit 3x3 patches gathered by padding and slicing
    padded = F.pad(feat, (1, 1, 1, 1))
    patches = torch.stack([padded[:, :, ky:ky + 6, kx:kx + 7] for ky in range(3) for kx in range(3)], dim=2)
    expected = torch.einsum("ok,bkhw->bohw", weight, patches.reshape(2, 36, 6, 7)) + bias.view(1, 5, 1, 1)
    torch.testing.assert_close(project_unfolded(feat, weight, bias), expected, atol=1e-5, rtol=1e-5)


def test_nearest_pixel_indices_and_centres_by_hand() -> None:
    # 4 pixels per axis: edges at -1, -0.5, 0, 0.5, 1; centres -0.75, -0.25, 0.25, 0.75
    coord = torch.tensor([[[-0.9, 0.0], [-0.5, 0.49], [0.74, 0.51], [1.5, -3.0]]])
    index, centre = nearest_pixel(coord, 4, 4)
    iy = torch.tensor([[0, 1, 3, 3]])
    ix = torch.tensor([[2, 2, 3, 0]])  # 0.0 is an edge: floor puts it in the upper pixel
    assert torch.equal(index, iy * 4 + ix)
    torch.testing.assert_close(centre[..., 0], -0.75 + 0.5 * iy.float())
    torch.testing.assert_close(centre[..., 1], -0.75 + 0.5 * ix.float())


def test_relative_coord_and_cell_scale_by_grid_size() -> None:
    coord = torch.tensor([[0.3, -0.2]])
    centre = torch.tensor([[0.25, -0.25]])
    torch.testing.assert_close(relative_coord(coord, centre, 4, 8), torch.tensor([[0.05 * 4, 0.05 * 8]]))
    torch.testing.assert_close(scaled_cell(torch.tensor([[0.1, 0.2]]), 5, 3), torch.tensor([[0.5, 0.6]]))


def test_ensemble_weights_for_a_hand_computed_query() -> None:
    # 4x4 grid, query (0.1, -0.3): y between centres -0.25 and 0.25, x between -0.75 and -0.25
    coord = torch.tensor([[[0.1, -0.3]]])
    index, rel = ensemble_lookups(coord, 4, 4)
    # branches (vy, vx) = (-1,-1), (-1,1), (1,-1), (1,1)
    expected_index = torch.tensor([1 * 4 + 0, 1 * 4 + 1, 2 * 4 + 0, 2 * 4 + 1]).view(4, 1, 1)
    assert torch.equal(index, expected_index)
    expected_rel = torch.tensor([[1.4, 1.8], [1.4, -0.2], [-0.6, 1.8], [-0.6, -0.2]]).view(4, 1, 1, 2)
    torch.testing.assert_close(rel, expected_rel)
    weights = ensemble_weights(rel).flatten()
    # opposite-area weights = bilinear weights: nearest pixel (2, 1) is 0.3 / 0.1 pixels away
    torch.testing.assert_close(weights, torch.tensor([0.03, 0.27, 0.07, 0.63]), atol=1e-6, rtol=0)


def test_ensemble_weights_sum_to_one_and_pick_own_pixel_at_centres() -> None:
    torch.manual_seed(2)
    coord = torch.rand(2, 100, 2) * 2 - 1
    _, rel = ensemble_lookups(coord, 7, 9)
    torch.testing.assert_close(ensemble_weights(rel).sum(0), torch.ones(2, 100))
    # interior pixel centres (at the border LIIF's clamped lookups make all areas ~0)
    iy, ix = torch.meshgrid(torch.arange(1, 6), torch.arange(1, 8), indexing="ij")
    centres = torch.stack([-1 + (2 * iy + 1) / 7, -1 + (2 * ix + 1) / 9], -1).view(1, -1, 2)
    index, rel = ensemble_lookups(centres, 7, 9)
    weights = ensemble_weights(rel)
    assert torch.equal(index[0], (iy * 9 + ix).view(1, -1))  # branch (-1, -1) is the pixel itself
    assert torch.all(weights[0] > 1 - 1e-6)
    torch.testing.assert_close(rel[0], torch.zeros_like(rel[0]), atol=1e-5, rtol=0)


def test_lookups_clamp_at_the_border() -> None:
    coord = torch.tensor([[[-0.99, 0.99]]])
    index, rel = ensemble_lookups(coord, 3, 3)
    iy, ix = index // 3, index % 3
    assert iy.flatten().tolist() == [0, 0, 0, 0]
    assert ix.flatten().tolist() == [2, 2, 2, 2]
    assert torch.isfinite(ensemble_weights(rel)).all()


def test_gather_rows_reads_each_batch_item() -> None:
    torch.manual_seed(3)
    maps = torch.randn(2, 5, 3, 4)
    rows = pixel_rows(maps)
    flat_index = torch.tensor([[0, 11, 5], [7, 7, 2]])
    out = gather_rows(rows, flat_index, 12)
    for b in range(2):
        for q in range(3):
            i = int(flat_index[b, q])
            assert torch.equal(out[b, q], maps[b, :, i // 4, i % 4])


def test_add_coordinate_terms_in_place() -> None:
    torch.manual_seed(4)
    projected = torch.randn(4, 2, 3, 6)
    geometry = torch.randn(4, 2, 3, 4)
    weight = torch.randn(6, 4)
    expected = projected + geometry @ weight.T
    out = add_coordinate_terms(projected, geometry, weight)
    assert out.data_ptr() == projected.data_ptr()
    torch.testing.assert_close(out, expected)


def test_add_coordinate_terms_under_autograd_is_out_of_place_with_exact_gradients() -> None:
    torch.manual_seed(5)
    projected = torch.randn(4, 2, 3, 6, requires_grad=True)
    geometry = torch.randn(4, 2, 3, 4)
    weight = torch.randn(6, 4, requires_grad=True)
    base = projected * 1.0  # a non-leaf, as a gather is
    out = add_coordinate_terms(base, geometry, weight)
    assert out.data_ptr() != base.data_ptr()
    torch.testing.assert_close(out, projected + geometry @ weight.T)
    upstream = torch.randn_like(out)
    out.backward(upstream)
    torch.testing.assert_close(projected.grad, upstream)
    torch.testing.assert_close(weight.grad, upstream.reshape(-1, 6).T @ geometry.reshape(-1, 4))


def test_relu_is_in_place_only_without_autograd() -> None:
    x = torch.tensor([-1.0, 0.5, -0.25, 2.0])
    with torch.no_grad():
        y = relu_(x.clone().requires_grad_())
    z = x.clone()
    assert relu_(z).data_ptr() == z.data_ptr()
    torch.testing.assert_close(z, torch.tensor([0.0, 0.5, 0.0, 2.0]))
    leaf = x.clone().requires_grad_()
    activation = leaf.view(2, 2) * 1.0
    out = relu_(activation)
    assert out.data_ptr() != activation.data_ptr()
    out.sum().backward()
    torch.testing.assert_close(leaf.grad, torch.tensor([0.0, 1.0, 0.0, 1.0]))
    torch.testing.assert_close(y, torch.tensor([0.0, 0.5, 0.0, 2.0]))
