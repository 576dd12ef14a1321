"""Write the centre SIZE x SIZE crop of every image of a folder into another folder.

Smaller versions of a benchmark set, at the images' own pixel scale, for fits too slow to
run on whole images on a CPU: the kodak4 deblurring table of issue 7 (4000 full-batch
LINR steps per image) was measured on ``centre_crops.py kodak4 kodak4c256 --size 256``.
The crop's corner is ``((W - SIZE) // 2, (H - SIZE) // 2)``; files are written as PNG with
their names kept, pixels unchanged.

Usage: python benchmarks/centre_crops.py SOURCE DEST [--size 256]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

IMAGE_SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".webp"}


def centre_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """Pillow box (left, top, right, bottom) of the centre ``size`` x ``size`` square."""
    if size < 1 or size > min(width, height):
        raise ValueError(f"a {size}x{size} crop does not fit a {width}x{height} image")
    left, top = (width - size) // 2, (height - size) // 2
    return left, top, left + size, top + size


def write_centre_crops(source: Path, dest: Path, size: int) -> list[Path]:
    """Crop every image of ``source`` into ``dest`` (created); returns the files written."""
    images = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ValueError(f"{source}: no images")
    boxes = []
    for path in images:  # every size checked before anything is written
        with Image.open(path) as img:
            boxes.append(centre_box(*img.size, size))
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for path, box in zip(images, boxes):
        with Image.open(path) as img:
            crop = img.crop(box)
        out = dest / f"{path.stem}.png"
        crop.save(out)
        written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    try:
        written = write_centre_crops(args.source, args.dest, args.size)
    except (OSError, ValueError) as exc:
        print(f"centre_crops: error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
