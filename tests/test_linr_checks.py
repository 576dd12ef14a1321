"""Checks of `srcli fit-linr` before the fit (srcli.tasks.linr_checks): values, destinations, unused options."""

from __future__ import annotations

import re

import pytest
import torch

from srcli.errors import UsageError
from srcli.io.image_formats import ImageError
from srcli.tasks.fit_linr import Observation
from srcli.tasks.linr_checks import check_destinations, check_options, check_used
from srcli.tasks.linr_files import FitLinrOptions


@pytest.mark.parametrize("kw, fragment", [
    ({"bit_depth": "12"}, "unknown --bit-depth '12'"),
    ({"scale": 0.0}, "--scale must be a positive number"),
    ({"scale": float("nan")}, "--scale must be a positive number"),
    ({"mask": "m.png", "missing_value": "0"}, "--mask and --missing-value conflict"),
    ({"invert_mask": True}, "--invert-mask needs --mask"),
    ({"steps": -1}, "--steps must be at least 0"),
    ({"stop": "best-reference"}, "--stop best-reference needs --reference"),
    ({"noise_sigma": 0.1}, "--noise-sigma sets the level of --stop noise-level"),
    ({"noise_sigma": float("nan"), "stop": "noise-level"}, "--noise-sigma must be a number >= 0"),
    ({"lr": -1.0}, "--lr must be a positive number"),
    ({"width": 0}, "--width must be at least 1 and --depth at least 0"),
    ({"batch": 0}, "--batch must be at least 1, got 0"),
    ({"batch": 5, "crop": 4}, "--batch and --crop conflict"),
    ({"checkpoint_every": 0}, "--checkpoint-every must be at least 1"),
])
def test_check_options(kw, fragment):
    with pytest.raises(UsageError, match=re.escape(fragment)):
        check_options(FitLinrOptions(**kw))
    check_options(FitLinrOptions(scale=0.5, mask="m.png", invert_mask=True, steps=0, bit_depth="16"))
    check_options(FitLinrOptions(stop="noise-level", noise_sigma=0.0, batch=3))


def test_destinations_are_distinct_known_and_in_existing_folders(tmp_path):
    (tmp_path / "in.png").write_bytes(b"x")
    inputs = [str(tmp_path / "in.png")]
    out = str(tmp_path / "out.png")
    check_destinations(out, FitLinrOptions(save_fit=str(tmp_path / "f.pt"), checkpoint=str(tmp_path / "s.state"),
                                           report=str(tmp_path / "r.json")), inputs)
    check_destinations("-", FitLinrOptions(), inputs)  # stdout, PNG by default
    bad = [
        (out, {"save_fit": out}, "-o and --save-fit name the same file"),
        (out, {"checkpoint": str(tmp_path / "r.json"), "report": str(tmp_path / "r.json")},
         "--checkpoint and --report name the same file"),
        (out, {"checkpoint": inputs[0]}, "is also an input file"),
        (out, {"checkpoint": "-"}, "--checkpoint needs a file or folder, not -"),
        (out, {"save_fit": inputs[0], "overwrite": True}, "is one of the inputs"),
        (out, {"save_fit": str(tmp_path / "no" / "f.pt")}, "does not exist"),
        (out, {"save_fit": str(tmp_path)}, f"is a folder; give a file name such as {tmp_path / 'fit.pt'}"),
        (str(tmp_path / "out.raw"), {}, "unsupported image format '.raw'"),
        (out, {"fmt": "gif"}, "unsupported image format 'gif'"),
        (out, {"report": inputs[0]}, f"--report {inputs[0]} is also input {inputs[0]}"),
    ]
    for dest, kw, fragment in bad:
        with pytest.raises((UsageError, ImageError), match=re.escape(fragment)):
            check_destinations(dest, FitLinrOptions(**kw), inputs)


def observation(task: str, **kw) -> Observation:
    return Observation(task, torch.zeros(1, 3, 4, 4), **kw)


def test_every_corruption_option_must_be_taken():
    sr, blurred = observation("sr", scale=2.0), observation("deblur", kernel=torch.ones(3, 3) / 9)
    check_used([sr, blurred, observation("denoise")], FitLinrOptions(scale=2.0, kernel="box:3", stop="noise-level"))
    cases = [
        ([sr], {"kernel": "box:3"}, "--kernel applies to deblur observations and no observation takes it (tasks: sr)"),
        ([blurred], {"scale": 2.0}, "--scale applies to sr observations"),
        ([sr], {"mask": "m.png"}, "--mask applies to inpaint observations"),
        ([sr], {"missing_value": "0"}, "--missing-value applies to inpaint observations"),
        ([sr], {"stop": "noise-level"}, "--stop noise-level needs a denoise observation"),
    ]
    for observations, kw, fragment in cases:
        with pytest.raises(UsageError, match=re.escape(fragment)):
            check_used(observations, FitLinrOptions(**kw))
    inpaint = observation("inpaint", mask=torch.ones(4, 4))
    check_used([inpaint], FitLinrOptions(missing_value="0"))
