"""Item plans and the PSNR-gain sampler: determinism, bounds, epochs, cells, probability rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from srcli.training.samplers import (
    ItemPlan, PatchGeometry, PsnrGainSampler, UniformSampler, axis_offsets, candidate_cells, gain_probabilities,
    make_sampler,
)

SIZES = [(60, 80), (30, 100), (200, 150)]
GEOMETRY = PatchGeometry(lr_size=8, scale_min=1.0, scale_max=4.0)


def test_plans_are_a_pure_function_of_seed_and_step():
    a = UniformSampler(SIZES, GEOMETRY, seed=3)
    b = UniformSampler(SIZES, GEOMETRY, seed=3)
    later_first = [b.plan_batch(t, 5) for t in (7, 2, 0)]  # any order of asking
    assert [a.plan_batch(t, 5) for t in (7, 2, 0)] == later_first
    assert a.plan_batch(1, 5) != a.plan_batch(2, 5)
    assert UniformSampler(SIZES, GEOMETRY, seed=4).plan_batch(1, 5) != a.plan_batch(1, 5)


def test_plans_respect_geometry_and_bounds():
    sampler = UniformSampler(SIZES, GEOMETRY, seed=0)
    scales = []
    for step in range(60):
        for plan in sampler.plan_batch(step, 4):
            h, w = SIZES[plan.image]
            assert 0 <= plan.top and plan.top + plan.hr_size <= h
            assert 0 <= plan.left and plan.left + plan.hr_size <= w
            assert math.isclose(plan.scale, plan.hr_size / 8)
            if plan.hr_size < min(h, w):  # not capped by the image: side = floor(8 s + 0.5), s in [1, 4]
                assert 8 <= plan.hr_size <= 32
            scales.append(plan.scale)
    assert min(scales) < 1.5 and max(scales) > 3.5  # the whole range is drawn
    flags = [(p.hflip, p.vflip, p.transpose) for t in range(60) for p in sampler.plan_batch(t, 4)]
    assert 0.3 < np.mean(flags) < 0.7


def test_small_image_gets_the_largest_crop_it_holds():
    sampler = UniformSampler([(12, 40)], GEOMETRY, seed=0)
    sides = {p.hr_size for t in range(40) for p in sampler.plan_batch(t, 2)}
    assert max(sides) == 12  # crops wanting more than 12 pixels are capped at the short side


def test_no_augmentation_when_off():
    sampler = UniformSampler(SIZES, PatchGeometry(8, 1.0, 2.0, augment=False), seed=0)
    assert not any(p.hflip or p.vflip or p.transpose for t in range(20) for p in sampler.plan_batch(t, 3))


def test_uniform_sampler_uses_every_image_once_per_epoch():
    sizes = [(40, 40)] * 7
    sampler = UniformSampler(sizes, GEOMETRY, seed=1)
    images = [p.image for t in range(7) for p in sampler.plan_batch(t, 3)]  # 21 items = 3 epochs
    for epoch in range(3):
        assert sorted(images[epoch * 7: epoch * 7 + 7]) == list(range(7))
    assert images[:7] != images[7:14]  # a new permutation each epoch


def test_axis_offsets_cover_the_axis():
    assert axis_offsets(20, 32) == [(0, 20)]
    assert axis_offsets(32, 32) == [(0, 32)]
    offsets = axis_offsets(100, 32)  # ceil(100/32) = 4 cells at round(k * 68 / 3)
    assert offsets == [(0, 32), (23, 32), (45, 32), (68, 32)]
    covered = np.zeros(100, bool)
    for start, size in offsets:
        covered[start: start + size] = True
    assert covered.all()


def test_candidate_cells_lie_inside_their_images():
    cells = candidate_cells(SIZES, 32)
    assert cells.shape[1] == 5
    for image, top, left, h, w in cells:
        H, W = SIZES[image]
        assert 0 <= top and top + h <= H and 0 <= left and left + w <= W
    assert sum(1 for c in cells if c[0] == 0) == 2 * 3  # 60x80: 2 rows x 3 columns


def test_gain_probabilities_rule():
    gains = np.array([0.0, 0.1, 0.05, 0.02, 3.0, 2.9])  # four flat cells, two with large gains
    p = gain_probabilities(gains, bins=4, mix=0.5)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert p[4] > p[0] and p[5] > p[0]
    # independent evaluation of the documented rule: bins over [0, 3] of width 0.75
    bins = np.array([0, 0, 0, 0, 3, 3])
    counts = np.array([4, 0, 0, 2])
    mid_rank = (np.cumsum(counts) - counts / 2) / 6
    weights = mid_rank[bins]
    expected = 0.5 / 6 + 0.5 * weights / weights.sum()
    np.testing.assert_allclose(p, expected, rtol=1e-12)


def test_gain_probabilities_monotone_and_neutral_cases():
    rng = np.random.default_rng(0)
    gains = rng.normal(size=200)
    p = gain_probabilities(gains, bins=16, mix=0.8)
    order = np.argsort(gains)
    assert np.all(np.diff(p[order]) >= -1e-15)  # never less likely with a larger gain
    assert p.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(gain_probabilities(np.full(5, 2.0)), np.full(5, 0.2))  # all equal: uniform
    np.testing.assert_allclose(gain_probabilities(np.full(4, np.nan)), np.full(4, 0.25))  # unmeasured: uniform
    with_unknown = gain_probabilities(np.array([0.0, 1.0, np.nan]), bins=2, mix=1.0)
    assert with_unknown[0] < with_unknown[2] < with_unknown[1]  # unmeasured in the middle (F = 1/2)
    np.testing.assert_allclose(gain_probabilities(gains, mix=0.0), np.full(200, 1 / 200))
    with pytest.raises(ValueError):
        gain_probabilities(gains, bins=0)


def test_psnr_gain_sampler_draws_cells_by_probability():
    sampler = PsnrGainSampler([(64, 64)], GEOMETRY, seed=0, every=10, bins=4, mix=1.0)
    assert len(sampler.cells) == 4  # 2 x 2 cells of side 32
    sampler.set_gains(np.array([0.0, 0.0, 0.0, 5.0]), step=10)
    counts = np.zeros(4)
    for step in range(300):
        for plan in sampler.plan_batch(step, 4):
            inside = [(plan.top >= t and plan.top + plan.hr_size <= t + h and plan.left >= l and plan.left + plan.hr_size <= l + w)
                      for _, t, l, h, w in sampler.cells]
            counts[int(np.argmax(inside))] += 1
    frequency = counts / counts.sum()
    # p = F / sum F with F = (3/8, 3/8, 3/8, 7/8): the hard cell 7/16, the others 3/16
    np.testing.assert_allclose(sampler.probabilities, [3 / 16, 3 / 16, 3 / 16, 7 / 16])
    assert abs(frequency[3] - 7 / 16) < 0.05 and frequency[3] > 2 * frequency[:3].max()


def test_psnr_gain_sampler_schedule_and_state():
    sampler = make_sampler("psnr-gain", SIZES, GEOMETRY, 0, every=5)
    assert not sampler.measurement_due(0) and sampler.measurement_due(5) and not sampler.measurement_due(6)
    assert sampler.next_change(0) == 5 and sampler.next_change(5) == 10
    sampler.set_gains(np.linspace(0, 1, len(sampler.cells)), step=5)
    assert not sampler.measurement_due(5)
    restored = make_sampler("psnr-gain", SIZES, GEOMETRY, 0, every=5)
    restored.load_state_dict(sampler.state_dict())
    assert restored.plan_batch(7, 6) == sampler.plan_batch(7, 6)
    np.testing.assert_array_equal(restored.probabilities, sampler.probabilities)
    other = make_sampler("psnr-gain", SIZES[:1], GEOMETRY, 0, every=5)
    with pytest.raises(ValueError, match="candidate cells"):
        other.load_state_dict(sampler.state_dict())
    with pytest.raises(ValueError, match="not 'uniform'"):
        make_sampler("uniform", SIZES, GEOMETRY, 0).load_state_dict(sampler.state_dict())


def test_measure_pixels_are_distinct_and_seeded():
    sampler = PsnrGainSampler(SIZES, GEOMETRY, seed=2, measure_queries=50)
    a = sampler.measure_pixels(3, 32 * 32)
    assert len(set(a.tolist())) == 50 and a.max() < 1024
    np.testing.assert_array_equal(a, sampler.measure_pixels(3, 32 * 32))
    assert len(sampler.measure_pixels(3, 20)) == 20  # fewer pixels than asked: all of them


def test_unknown_sampler_and_bad_settings():
    with pytest.raises(ValueError, match="unknown sampler"):
        make_sampler("hard", SIZES, GEOMETRY, 0)
    with pytest.raises(ValueError):
        PsnrGainSampler(SIZES, GEOMETRY, 0, every=0)
    with pytest.raises(ValueError):
        UniformSampler([], GEOMETRY, 0)


def test_plan_is_picklable():
    import pickle

    plan = UniformSampler(SIZES, GEOMETRY, 0).plan_batch(0, 1)[0]
    assert isinstance(plan, ItemPlan) and pickle.loads(pickle.dumps(plan)) == plan
