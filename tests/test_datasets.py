"""Training items and data folders, checked against independent formulas written here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from srcli.training.datasets import (
    DataError,
    ImageCache,
    PatchDataset,
    PlanBatches,
    collate_items,
    list_images,
    make_item,
    make_loader,
    oriented_size,
    read_rgb,
)
from srcli.training.samplers import ItemPlan, PatchGeometry, UniformSampler


def keys_cubic(x):
    a, ax = -0.5, np.abs(x)
    return np.where(ax <= 1, (a + 2) * ax**3 - (a + 3) * ax**2 + 1,
                    np.where(ax < 2, a * ax**3 - 5 * a * ax**2 + 8 * a * ax - 4 * a, 0.0))


def matlab_matrix(n_in, n_out):
    """MATLAB imresize bicubic (antialiased) as an (n_out, n_in) matrix, written from its definition."""
    scale = n_out / n_in
    width = 4.0 / scale if scale < 1 else 4.0
    u = np.arange(1, n_out + 1) / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    idx = left[:, None] + np.arange(int(np.ceil(width)) + 2)[None]
    dist = u[:, None] - idx
    k = scale * keys_cubic(scale * dist) if scale < 1 else keys_cubic(dist)
    k = k / k.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(n_in), np.arange(n_in)[::-1]])
    cols = mirror[np.mod(idx.astype(int) - 1, 2 * n_in)]
    m = np.zeros((n_out, n_in))
    for r in range(n_out):
        np.add.at(m[r], cols[r], k[r])
    return m


def matlab_resize(img, h, w):
    """(C, H, W) float64 -> (C, h, w)."""
    return np.einsum("ab,cbd,ed->cae", matlab_matrix(img.shape[1], h), img, matlab_matrix(img.shape[2], w))


def write_rgb(path, h, w, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def test_make_item_coordinates_values_and_lr():
    rng = np.random.default_rng(1)
    side, lr_size, queries = 20, 8, 50
    hr = torch.from_numpy(rng.random((3, side, side)).astype(np.float32))
    for flips in [(False, False, False), (True, False, True), (False, True, False), (True, True, True)]:
        plan = ItemPlan(0, 0, 0, side, side / lr_size, *flips, query_seed=5)
        item = make_item(hr, plan, lr_size, queries, quantize=False)
        assert item["lr"].shape == (3, lr_size, lr_size) and item["coord"].shape == (queries, 2)
        assert item["cell"].shape == (queries, 2) and item["gt"].shape == (queries, 3)
        np.testing.assert_allclose(item["cell"].numpy(), 2.0 / side)
        # expected augmented HR, by the documented order: flip W, flip H, transpose
        expected = hr.numpy().astype(np.float64)
        if flips[0]:
            expected = expected[:, :, ::-1]
        if flips[1]:
            expected = expected[:, ::-1, :]
        if flips[2]:
            expected = expected.transpose(0, 2, 1)
        # pixel centres -1 + (2i + 1) / S  <=>  i = ((c + 1) S - 1) / 2 must be integers
        rows = ((item["coord"][:, 0].double().numpy() + 1) * side - 1) / 2
        cols = ((item["coord"][:, 1].double().numpy() + 1) * side - 1) / 2
        np.testing.assert_allclose(rows, np.round(rows), atol=1e-4)
        np.testing.assert_allclose(cols, np.round(cols), atol=1e-4)
        r, c = np.round(rows).astype(int), np.round(cols).astype(int)
        assert len(set(zip(r.tolist(), c.tolist(), strict=True))) == queries  # distinct pixels
        np.testing.assert_array_equal(item["gt"].numpy(), expected[:, r, c].T.astype(np.float32))
        # the LR is the MATLAB-bicubic downscale of the (augmented) HR
        np.testing.assert_allclose(item["lr"].numpy(), matlab_resize(expected, lr_size, lr_size), atol=2e-5)


def test_make_item_quantises_lr_to_8_bits():
    hr = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    plan = ItemPlan(0, 0, 0, 16, 2.0, False, False, False, 1)
    lr = make_item(hr, plan, 8, 10)["lr"].double().numpy()
    np.testing.assert_allclose(lr * 255, np.round(lr * 255), atol=1e-4)
    np.testing.assert_allclose(lr, np.clip(matlab_resize(hr.double().numpy(), 8, 8), 0, 1), atol=0.5 / 255 + 1e-6)


def test_list_images_finds_recursively_and_errors(tmp_path):
    (tmp_path / "a" / "sub").mkdir(parents=True)
    write_rgb(tmp_path / "a" / "x.png", 4, 4)
    write_rgb(tmp_path / "a" / "sub" / "y.jpg", 4, 4)
    (tmp_path / "a" / "notes.txt").write_text("hi")
    (tmp_path / "a" / ".hidden").mkdir()
    write_rgb(tmp_path / "a" / ".hidden" / "z.png", 4, 4)
    found = list_images([tmp_path / "a"])
    assert [p.relative_to(tmp_path / "a").as_posix() for p in found] == ["sub/y.jpg", "x.png"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images in training folder"):
        list_images([tmp_path / "empty"])
    with pytest.raises(DataError, match="not found"):
        list_images([tmp_path / "missing"])
    with pytest.raises(DataError, match="must be a folder"):
        list_images([tmp_path / "a" / "x.png"])
    with pytest.raises(DataError, match="at least one"):
        list_images([])


def test_read_rgb_grey_alpha_16bit_and_sizes(tmp_path):
    import tifffile

    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(grey, "L").save(tmp_path / "g.png")
    rgba = np.random.default_rng(0).integers(0, 256, (5, 6, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    deep = np.random.default_rng(1).integers(0, 65536, (7, 5, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "d.tif", deep, photometric="rgb")
    g = read_rgb(tmp_path / "g.png")
    assert g.dtype == np.uint8 and g.shape == (3, 4, 3) and (g == grey[:, :, None]).all()
    a = read_rgb(tmp_path / "a.png")
    np.testing.assert_array_equal(a, rgba[:, :, :3])
    d = read_rgb(tmp_path / "d.tif")
    assert d.dtype == np.uint16
    np.testing.assert_array_equal(d, deep)
    assert oriented_size(tmp_path / "d.tif") == (7, 5) and oriented_size(tmp_path / "a.png") == (5, 6)
    cache = ImageCache([tmp_path / "d.tif"], [(7, 5)])
    crop = cache.crop(0, 1, 2, 3, 2)
    np.testing.assert_allclose(crop.numpy(), deep[1:4, 2:4].transpose(2, 0, 1) / 65535.0, rtol=1e-6)
    cache.crop(0, 0, 0, 2, 2)
    assert cache.decodes == 1  # decoded once, reused


def test_exif_rotation_swaps_header_size(tmp_path):
    im = Image.fromarray(np.zeros((10, 30, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90
    im.save(tmp_path / "r.jpg", exif=exif)
    assert oriented_size(tmp_path / "r.jpg") == (30, 10) == read_rgb(tmp_path / "r.jpg").shape[:2]


def test_loader_with_workers_matches_in_process(tmp_path):
    paths = []
    for i, (h, w) in enumerate([(30, 40), (36, 30)]):
        write_rgb(tmp_path / f"{i}.png", h, w, seed=i)
        paths.append(tmp_path / f"{i}.png")
    sizes = [oriented_size(p) for p in paths]
    sampler = UniformSampler(sizes, PatchGeometry(8, 1.0, 3.0), seed=0)
    batches = []
    for workers in (0, 2):
        plans = PlanBatches(sampler.plan_batch, 4, (1, 2))  # items 1, 2 of each global batch of 4
        plans.set_range(3, 6)
        loader = make_loader(PatchDataset(paths, sizes, 8, 16), plans, workers)
        batches.append(list(loader))
    assert len(batches[0]) == len(batches[1]) == 3
    for a, b in zip(*batches, strict=True):
        assert a["lr"].shape == (2, 3, 8, 8) and a["gt"].shape == (2, 16, 3) and a["scale"].shape == (2,)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    direct = collate_items([PatchDataset(paths, sizes, 8, 16)[p] for p in sampler.plan_batch(3, 4)[1:3]])
    torch.testing.assert_close(direct["gt"], batches[0][0]["gt"], rtol=0, atol=0)
