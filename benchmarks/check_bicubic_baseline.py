"""Check srcli's resize and metrics against the published bicubic baseline (PUBLISHED.md).

Protocol: HR read with Pillow as uint8 / 255: RGB, or one channel for grey files, whose
"Y" is the grey value itself as in the field's MATLAB scripts (Set14's bridge is grey;
reading it as R = G = B would add 0.09 dB to the Set14 means). HR mod-cropped to the
scale; LR = MATLAB bicubic downscale by 1/scale, rounded to 8 bits (a stored PNG);
SR = MATLAB bicubic upscale by scale, clamped to [0, 1], not rounded; Y-PSNR / SSIM
(BT.601, 255 peak, float64) after shaving ``scale`` pixels from each border, through
``srcli.metrics.evaluate_sr``. Per-set means are printed next to the published values.

Usage: python benchmarks/check_bicubic_baseline.py [FOLDER]   (FOLDER holds set5/, set14/)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from srcli.metrics import evaluate_sr
from srcli.resize import imresize_scale
from srcli.training.degradations import bicubic_downscale, mod_crop, quantize_8bit

PUBLISHED = {
    "set5": {2: (33.69, 0.9307), 3: (30.41, 0.8691), 4: (28.43, 0.8114)},
    "set14": {2: (30.24, 0.8694), 3: (27.54, 0.7747), 4: (26.00, 0.7032)},
}
PSNR_TOLERANCE, SSIM_TOLERANCE = 0.05, 0.002


def read_image(path: Path) -> torch.Tensor:
    """(1, C, H, W) float64 in [0, 1] from an image file: C = 1 for grey files, else 3."""
    with Image.open(path) as img:
        grey = img.mode in {"1", "L", "I;16", "I", "F"}
        array = np.asarray(img.convert("L" if grey else "RGB"), dtype=np.float64) / 255.0
    return torch.from_numpy(array.reshape(*array.shape[:2], -1)).permute(2, 0, 1).unsqueeze(0).contiguous()


def evaluate_image(hr: torch.Tensor, scale: int) -> tuple[float, float]:
    """Y-PSNR and SSIM of bicubic SR for one HR image at one scale."""
    hr = mod_crop(hr, scale)
    lr = quantize_8bit(bicubic_downscale(hr, scale))
    sr = imresize_scale(lr, float(scale), "bicubic")
    if sr.shape != hr.shape:
        raise RuntimeError(f"SR {tuple(sr.shape)} and HR {tuple(hr.shape)} differ")
    scores = evaluate_sr(sr, hr, scale)
    return float(scores["psnr"][0]), float(scores["ssim"][0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="/work/shared/data/bench", type=Path)
    args = parser.parse_args(argv)
    failures = 0
    print("| set | scale | srcli PSNR / SSIM | published | diff dB / SSIM |")
    print("|---|---|---|---|---|")
    for name, expected in PUBLISHED.items():
        paths = sorted(p for p in (args.folder / name).iterdir() if p.suffix.lower() in {".png", ".bmp", ".jpg", ".tif", ".tiff"})
        images = [read_image(p) for p in paths]
        for scale, (ref_psnr, ref_ssim) in expected.items():
            results = np.array([evaluate_image(hr, scale) for hr in images])
            mean_psnr, mean_ssim = results.mean(axis=0)
            ok = abs(mean_psnr - ref_psnr) <= PSNR_TOLERANCE and abs(mean_ssim - ref_ssim) <= SSIM_TOLERANCE
            failures += not ok
            print(f"| {name} ({len(images)}) | x{scale} | {mean_psnr:.2f} / {mean_ssim:.4f} | {ref_psnr:.2f} / {ref_ssim:.4f} "
                  f"| {mean_psnr - ref_psnr:+.3f} / {mean_ssim - ref_ssim:+.4f}{'' if ok else ' FAIL'} |")
    print("all within tolerance" if not failures else f"{failures} rows outside +-{PSNR_TOLERANCE} dB / +-{SSIM_TOLERANCE}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
