"""Tiled inference equals whole-image inference; chunks, defaults, out-of-memory retry, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from srcli import tiling
from srcli.registry import create
from srcli.tiling import default_tile_and_chunk, output_start, upscale_tiled

SMALL_ENCODER = {"encoder_args": {"n_blocks": 1, "n_feats": 8}}
SMALL_MODELS = {
    "liif": {"hidden_dims": [16, 16]},
    "a-liif": {"n_basis": 3, "basis_hidden_dims": [8, 8], "expansion_hidden_dims": [16, 16]},
    "diinn": {"hidden_dims": [16, 16]},
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread avoids OpenMP overhead on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_model(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create(name, **SMALL_ENCODER, **SMALL_MODELS[name]).eval()


def whole_image(model: torch.nn.Module, image: torch.Tensor, out_hw: tuple[int, int]) -> torch.Tensor:
    with torch.no_grad():
        return model(image, out_hw)


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.rand(2, 3, 9, 7, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
@pytest.mark.parametrize("out_hw", [(18, 14), (27, 21), (22, 11)], ids=["x2", "x3", "fractional"])
def test_tiled_equals_whole_image(name, out_hw, image):
    model = tiny_model(name)
    expected = whole_image(model, image, out_hw)
    assert 0.5 < ((expected > 0) & (expected < 1)).float().mean()  # not all clamped: the check has teeth
    halo = model.receptive_radius + 1
    for tile in (2, 3, 4):  # all smaller than the halo (6 or 7) and the image
        assert tile < halo
        got = upscale_tiled(model, image, out_hw, tile=tile, chunk=5)
        assert got.shape == (2, 3, *out_hw)
        assert (got - expected).abs().max() <= 1e-5, f"tile={tile}"


def test_tiled_equals_whole_when_shrinking_and_tile_larger_than_image(image):
    model = tiny_model("liif", seed=3)
    for out_hw in [(4, 3), (9, 7)]:  # some LR tiles hold no output centre when shrinking
        expected = whole_image(model, image, out_hw)
        for tile in (2, 50):
            assert (upscale_tiled(model, image, out_hw, tile=tile) - expected).abs().max() <= 1e-5


def test_crops_are_bounded_by_the_tile_and_have_the_halo():
    model = tiny_model("diinn", seed=8)
    halo = model.receptive_radius + 1
    image = torch.rand(1, 3, 30, 25, generator=torch.Generator().manual_seed(9))
    shapes = []
    real_encode = model.encode
    model.encode = lambda pixels: shapes.append(tuple(pixels.shape[-2:])) or real_encode(pixels)
    got = upscale_tiled(model, image, (45, 50), tile=4)
    assert len(shapes) == math.ceil(30 / 4) * math.ceil(25 / 4)
    assert max(shapes) <= (4 + 2 * halo, 4 + 2 * halo)
    assert (4 + 2 * halo, 4 + 2 * halo) in shapes  # interior tiles get the full halo on every side
    del model.encode
    assert (got - whole_image(model, image, (45, 50))).abs().max() <= 1e-5


def test_chunked_queries_equal_unchunked(image):
    model = tiny_model("a-liif", seed=2)
    one_chunk = upscale_tiled(model, image, (20, 15), tile=100, chunk=10**6)
    for chunk in (1, 7):
        assert torch.allclose(upscale_tiled(model, image, (20, 15), tile=100, chunk=chunk), one_chunk, atol=1e-6, rtol=0)


def test_output_start_matches_pixel_centre_rule():
    for lr_len, out_len in [(9, 18), (9, 27), (7, 11), (13, 5), (1, 4), (6, 6)]:
        containing = [math.floor((i + 0.5) * lr_len / out_len) for i in range(out_len)]  # centre in LR pixels
        for lr_index in range(lr_len + 1):
            expected = sum(1 for c in containing if c < lr_index)
            assert output_start(lr_index, lr_len, out_len) == expected


class CropFrameOnly(torch.nn.Module):
    """A model seen through the minimal interface (no ``frame``): tiling maps queries into each crop."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.receptive_radius = model.receptive_radius
        self.feat_channels = model.feat_channels

    def encode(self, image):
        return self.model.encode(image)

    def prepare(self, feat):
        return self.model.prepare(feat)

    def query(self, feat, coord, cell):
        return self.model.query(feat, coord, cell)


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_crop_frame_path_equals_whole_image(name, image):
    model = tiny_model(name, seed=4)
    wrapped = CropFrameOnly(model)
    assert tiling.accepts_frame(model) and not tiling.accepts_frame(wrapped)
    for out_hw in [(27, 21), (22, 11)]:  # x3 puts queries exactly on LR centres at the borders
        expected = whole_image(model, image, out_hw)
        for tile in (2, 5):
            got = upscale_tiled(wrapped, image, out_hw, tile=tile, chunk=11)
            assert (got - expected).abs().max() <= 1e-5, f"{out_hw} tile={tile}"


@pytest.mark.parametrize("name", ["liif", "diinn"])
def test_frame_path_exact_near_pixel_edges_of_a_tall_image(name):
    # h * H > 1e6 at a ratio with a large denominator: some output centres lie within the
    # models' 1e-6 tie-breaking shift below an LR pixel edge, so the whole image looks up
    # the pixel above them; the frame path repeats the whole image's arithmetic. (In the
    # crop's own frame the shift is smaller in LR pixels and DIINN's lookup differs.)
    h, out_h = 1201, 2999
    gaps = [(-(2 * i + 1) * h) % (2 * out_h) for i in range(out_h)]  # 2 H x distance below an edge
    assert any(0 < gap < 1e-6 * h * out_h for gap in gaps)  # such near-ties exist here
    model = tiny_model(name, seed=5)
    assert tiling.accepts_frame(model)
    image = torch.rand(1, 3, h, 2, generator=torch.Generator().manual_seed(6))
    expected = whole_image(model, image, (out_h, 3))
    got = upscale_tiled(model, image, (out_h, 3), tile=300, chunk=4096)
    assert (got - expected).abs().max() <= 1e-5


def test_out_of_memory_halves_the_tile_and_retries(image, monkeypatch):
    model = tiny_model("liif", seed=7)
    boxes = []
    real_render = tiling._render_box

    def flaky_render(model_, image_, out, box, *args):
        boxes.append(box)
        if len(boxes) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_render(model_, image_, out, box, *args)

    monkeypatch.setattr(tiling, "_render_box", flaky_render)
    got = upscale_tiled(model, image, (18, 14), tile=8, chunk=64)
    assert boxes[0] == (0, 8, 0, 7)
    assert all(y1 - y0 <= 4 and x1 - x0 <= 4 for y0, y1, x0, x1 in boxes[1:])
    assert sum((y1 - y0) * (x1 - x0) for y0, y1, x0, x1 in boxes[1:]) == 9 * 7  # every LR pixel once
    assert (got - whole_image(model, image, (18, 14))).abs().max() <= 1e-5


def test_out_of_memory_at_one_pixel_and_other_errors_propagate(image, monkeypatch):
    model = tiny_model("diinn")

    def always_oom(*args):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(tiling, "_render_box", always_oom)
    with pytest.raises(torch.OutOfMemoryError, match="tile of 1 LR pixel"):
        upscale_tiled(model, image, (18, 14), tile=2, chunk=8)

    def broken(*args):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(tiling, "_render_box", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        upscale_tiled(model, image, (18, 14), tile=2, chunk=8)


def test_default_tile_and_chunk_follow_free_memory(monkeypatch):
    model = create("liif").eval()  # full size: the defaults are for real models
    halo = model.receptive_radius + 1
    results = {}
    for free in (256 * 2**20, 2 * 2**30, 4 * 2**30, 2**40):
        monkeypatch.setattr(tiling, "free_memory_bytes", lambda device, free=free: free)
        results[free] = default_tile_and_chunk(model, torch.device("cpu"))
    assert results[2**40] == results[4 * 2**30]  # the CPU budget is capped at 1 GiB (a quarter of 4 GiB)
    tiles = [results[f][0] for f in sorted(results)]
    assert tiles == sorted(tiles) and tiles[0] < tiles[-1]
    for free, (tile, chunk) in results.items():
        budget = min(free / 4, 2**30)
        assert 32 <= tile <= 1024 and 1024 <= chunk <= tiling.CPU_MAX_CHUNK and chunk % 1024 == 0
        if tile > 32:  # the crop's estimated memory fits half the budget
            assert (tile + 2 * halo) ** 2 * tiling.memory_per_lr_pixel(model) <= budget / 2
    assert default_tile_and_chunk(model, torch.device("cpu"), batch=4)[0] < results[2**40][0]
    assert results[2**40][1] == tiling.CPU_MAX_CHUNK  # cache-sized on the CPU, whatever the memory


def test_cuda_chunks_follow_free_memory_past_the_cpu_cap(monkeypatch):
    model = create("liif").eval()
    monkeypatch.setattr(tiling, "free_memory_bytes", lambda device: 40 * 2**30)
    tile, chunk = default_tile_and_chunk(model, torch.device("cuda"))
    expected = int(40 * 2**30 / 2 / 2 // tiling.memory_per_query(model)) // 1024 * 1024
    assert chunk == min(tiling.MAX_CHUNK, expected) > tiling.CPU_MAX_CHUNK


def test_bad_arguments_raise_clear_errors(image):
    model = tiny_model("liif")
    with pytest.raises(ValueError, match="tile"):
        upscale_tiled(model, image, (18, 14), tile=0)
    with pytest.raises(ValueError, match="chunk"):
        upscale_tiled(model, image, (18, 14), chunk=-3)
    with pytest.raises(ValueError, match="out_hw"):
        upscale_tiled(model, image, (0, 14))
    with pytest.raises(ValueError, match="floating"):
        upscale_tiled(model, (image * 255).to(torch.uint8), (18, 14))
    with pytest.raises(TypeError, match="encode/query"):
        upscale_tiled(torch.nn.Identity(), image, (18, 14))
