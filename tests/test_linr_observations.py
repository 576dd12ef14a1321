"""Observations of `srcli fit-linr` from images (srcli.tasks.linr_observations): specs, task choice, rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from srcli.errors import UsageError
from srcli.io.images import Image
from srcli.tasks.linr_files import FitLinrOptions
from srcli.tasks.linr_observations import ObserveSpec, auto_task, build_observation, parse_observe


# --------------------------------------------------------------------------- parse_observe


@pytest.mark.parametrize("text, task, path, weight", [
    ("sr:low.png", "sr", "low.png", None),
    ("denoise:noisy.png:0.1", "denoise", "noisy.png", 0.1),
    (" DeBlur :b.tif:2", "deblur", "b.tif", 2.0),
    ("inpaint:holes.png:0", "inpaint", "holes.png", 0.0),
    ("sr:dir/a:b.png", "sr", "dir/a:b.png", None),  # a colon inside the path, no weight
    ("sr:C:\\data\\low.png", "sr", "C:\\data\\low.png", None),  # Windows drive letter
    ("denoise:C:\\data\\n.png:0.25", "denoise", "C:\\data\\n.png", 0.25),
    ("sr:1e3", "sr", "1e3", None),  # a lone number is the path, not a weight
])
def test_parse_observe_good(text, task, path, weight):
    assert parse_observe(text) == ObserveSpec(task, path, weight)


@pytest.mark.parametrize("text, fragment", [
    ("low.png", "--observe takes TASK:PATH[:WEIGHT] with TASK one of denoise, sr, inpaint, deblur, got 'low.png'"),
    ("sr:", "--observe takes TASK:PATH[:WEIGHT]"),
    ("upscale:low.png", "got 'upscale:low.png'"),
    ("auto:low.png", "TASK one of denoise, sr, inpaint, deblur"),  # auto is for the main IMAGE only
    ("sr:low.png:-1", "--observe weight must be a finite number >= 0, got '-1' in 'sr:low.png:-1'"),
    ("sr:low.png:nan", "weight must be a finite number >= 0, got 'nan'"),
    ("sr:low.png:inf", "weight must be a finite number >= 0, got 'inf'"),
    ("sr::0.5", "names no image"),
])
def test_parse_observe_bad(text, fragment):
    with pytest.raises(UsageError) as info:
        parse_observe(text)
    assert fragment in str(info.value)


# --------------------------------------------------------------------------- task choice and observations


def test_auto_task_priority():
    rgb, rgba = Image(np.zeros((4, 5, 3), np.float32)), Image(np.ones((4, 5, 4), np.float32))
    assert auto_task(FitLinrOptions(), rgb) == "denoise"
    assert auto_task(FitLinrOptions(), rgba) == "inpaint"  # the alpha channel marks missing pixels
    assert auto_task(FitLinrOptions(mask="m.png"), rgb) == "inpaint"
    assert auto_task(FitLinrOptions(missing_value="0"), rgb) == "inpaint"
    assert auto_task(FitLinrOptions(kernel="gauss:3:1", mask="m.png"), rgba) == "deblur"
    assert auto_task(FitLinrOptions(scale=2.0, kernel="gauss:3:1", mask="m.png"), rgba) == "sr"


def test_build_observation_rules():
    pixels = np.random.default_rng(0).random((6, 8, 4)).astype(np.float32)
    pixels[1, 2, 3] = 0.0  # one pixel missing by alpha
    image = Image(pixels)
    kernel = torch.full((3, 3), 1 / 9)
    both = FitLinrOptions(scale=2.0, kernel="box:3")
    main = build_observation(ObserveSpec("auto", "x.png"), image, both, kernel, None)
    assert (main.task, main.scale, main.weight) == ("sr", 2.0, None) and main.kernel is kernel  # auto takes every option
    assert main.mask is None and tuple(main.image.shape) == (1, 3, 6, 8) and main.image.dtype == torch.float32
    np.testing.assert_array_equal(main.image[0].permute(1, 2, 0).numpy(), pixels[:, :, :3])  # alpha dropped
    sr = build_observation(ObserveSpec("sr", "x.png", 0.5), image, both, kernel, None)
    assert (sr.scale, sr.kernel, sr.weight) == (2.0, None, 0.5)  # an explicit sr term is not blurred
    holes = build_observation(ObserveSpec("inpaint", "x.png"), image, FitLinrOptions(), None, None)
    assert holes.mask.shape == (6, 8) and float(holes.mask.sum()) == 47 and float(holes.mask[1, 2]) == 0
    with pytest.raises(UsageError, match="an sr observation needs --scale"):
        build_observation(ObserveSpec("sr", "x.png"), image, FitLinrOptions(), None, None)
    with pytest.raises(UsageError, match="a deblur observation needs --kernel"):
        build_observation(ObserveSpec("deblur", "x.png"), image, FitLinrOptions(), None, None)
    dark = Image(np.zeros((6, 8, 3), np.float32))
    with pytest.raises(UsageError, match="no pixel is known"):
        build_observation(ObserveSpec("inpaint", "d.png"), dark, FitLinrOptions(missing_value="0"), None, None)
