"""Training data: image folders, the per-worker image cache, LIIF items.

Validation pairs and scoring live in :mod:`srcli.training.validation`.

A training item executes one :class:`~srcli.training.samplers.ItemPlan`:

1. crop the square HR patch ``hr`` (3, S, S) from the cached image;
2. ``lr`` = MATLAB-bicubic resize of ``hr`` to ``lr_size x lr_size`` (srcli.resize, antialiased),
   quantised to 8 bits unless told not to (LIIF's LR goes through an 8-bit PIL image too);
3. the same flips / transpose on ``lr`` and ``hr``;
4. ``queries`` distinct pixels of ``hr`` drawn from ``default_rng(plan.query_seed)``:
   ``coord`` = their centres ``(-1 + (2 i + 1) / S, -1 + (2 j + 1) / S)`` in ``(y, x)``
   order, ``cell = (2 / S, 2 / S)``, ``gt`` = their RGB values.

Images are decoded with :func:`srcli.io.images.read_image` (Pillow; 16-bit PNG and TIFF
kept at 16 bits), made RGB (grey repeated, alpha dropped) and cached once per process in
their compact sample type (uint8 / uint16 / float32), so each data worker decodes each
image once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from srcli.errors import UsageError
from srcli.training.degradations import quantize_8bit
from srcli.training.samplers import ItemPlan

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class DataError(UsageError):
    """A training or validation folder that cannot be used (missing, empty, unreadable)."""


def list_images(folders: Sequence[str | Path], *, what: str = "training") -> list[Path]:
    """Image files under ``folders`` (recursive, hidden entries skipped), sorted per folder.

    Raises:
        DataError: a folder that does not exist, is not a folder, or holds no image.
    """
    if not folders:
        raise DataError(f"give at least one {what} folder")
    found: list[Path] = []
    for folder in map(Path, folders):
        if not folder.exists():
            raise DataError(f"{what} folder not found: {folder}")
        if not folder.is_dir():
            raise DataError(f"{what} data must be a folder of images, got the file {folder}")
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(folder).parts))
        if not files:
            raise DataError(f"no images in {what} folder {folder} (looked for {', '.join(IMAGE_SUFFIXES)})")
        found.extend(files)
    return found


def oriented_size(path: Path) -> tuple[int, int]:
    """``(H, W)`` of an image after its EXIF orientation, from the header when Pillow can."""
    from PIL import Image as PILImage

    try:
        with PILImage.open(path) as im:
            width, height = im.size
            orientation = im.getexif().get(0x0112, 1)
        return (width, height) if orientation in (5, 6, 7, 8) else (height, width)
    except Exception:  # formats only srcli's own decoders read (some TIFFs): decode fully
        h, w, _ = read_rgb(path).shape
        return h, w


def read_rgb(path: Path) -> np.ndarray:
    """Decode an image as RGB ``(H, W, 3)`` uint8, uint16 or float32 (clipped to [0, 1]).

    Raises:
        DataError: an unreadable image (the message names the file).
    """
    from srcli.io.images import ImageError, read_image

    try:
        image = read_image(path)
    except ImageError as exc:
        reason = str(exc)
        raise DataError(reason if str(path) in reason else f"cannot use training image {path}: {reason}") from None
    pixels = image.pixels
    rgb = np.repeat(pixels[:, :, :1], 3, axis=2) if image.channels <= 2 else pixels[:, :, :3]
    if image.bit_depth == "uint8":
        return np.rint(rgb * 255.0).astype(np.uint8)
    if image.bit_depth == "uint16":
        return np.rint(rgb * 65535.0).astype(np.uint16)
    return np.ascontiguousarray(np.clip(rgb, 0.0, 1.0), dtype=np.float32)


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 / uint16 / float32 -> (3, H, W) float32 in [0, 1]."""
    values = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))
    if pixels.dtype == np.uint8:
        return values.float() / 255.0
    if pixels.dtype == np.uint16:
        return values.float() / 65535.0
    return values.float()


class ImageCache:
    """Decoded images of one process, each read on first use and kept.

    Args:
        paths: the image files.
        sizes: their expected ``(H, W)`` (checked on decode), or None.
    """

    def __init__(self, paths: Sequence[Path], sizes: Sequence[tuple[int, int]] | None = None) -> None:
        self.paths = list(paths)
        self.sizes = list(sizes) if sizes is not None else None
        self._images: dict[int, np.ndarray] = {}
        self.decodes = 0

    def __getitem__(self, index: int) -> np.ndarray:
        if index not in self._images:
            pixels = read_rgb(self.paths[index])
            if self.sizes is not None and tuple(pixels.shape[:2]) != tuple(self.sizes[index]):
                raise DataError(f"{self.paths[index]} decodes to {pixels.shape[:2]}, its header said {self.sizes[index]}")
            self._images[index] = pixels
            self.decodes += 1
        return self._images[index]

    def crop(self, index: int, top: int, left: int, height: int, width: int) -> torch.Tensor:
        """(3, height, width) float32 crop of image ``index``."""
        return to_tensor(self[index][top: top + height, left: left + width])


def augment(image: torch.Tensor, hflip: bool, vflip: bool, transpose: bool) -> torch.Tensor:
    """LIIF's augmentation of (..., H, W): flip W, flip H, then swap H and W."""
    if hflip:
        image = image.flip(-1)
    if vflip:
        image = image.flip(-2)
    if transpose:
        image = image.transpose(-2, -1)
    return image.contiguous()


def downscale_to(hr: torch.Tensor, size: tuple[int, int], quantize: bool) -> torch.Tensor:
    """MATLAB-bicubic resize of (..., H, W) to ``size``, optionally quantised to 8 bits."""
    from srcli.resize import resize

    lr = resize(hr, size, "bicubic", antialias=True)
    return quantize_8bit(lr) if quantize else lr


def query_pixels(seed: int, side: int, count: int) -> np.ndarray:
    """``count`` distinct flat pixel indices of a ``side x side`` patch."""
    return np.random.default_rng(seed).choice(side * side, size=count, replace=False)


def make_item(hr: torch.Tensor, plan: ItemPlan, lr_size: int, queries: int, quantize: bool = True) -> dict[str, torch.Tensor]:
    """Build one training item from its HR crop (see the module docstring).

    Args:
        hr: (3, S, S) HR crop, S = ``plan.hr_size``.
        plan: the item's plan.
        lr_size: LR side.
        queries: sampled HR pixels (<= S * S).
        quantize: round the LR to 8 bits.

    Returns:
        ``{"lr": (3, lr, lr), "coord": (Q, 2), "cell": (Q, 2), "gt": (Q, 3), "scale": ()}``.
    """
    side = hr.shape[-1]
    lr = downscale_to(hr[None], (lr_size, lr_size), quantize)[0]
    flips = (plan.hflip, plan.vflip, plan.transpose)
    lr, hr = augment(lr, *flips), augment(hr, *flips)
    index = torch.from_numpy(query_pixels(plan.query_seed, side, queries))
    rows, cols = index // side, index % side
    coord = torch.stack([(2 * rows + 1).float() / side - 1, (2 * cols + 1).float() / side - 1], dim=-1)
    cell = torch.full_like(coord, 2.0 / side)
    gt = hr.reshape(3, -1)[:, index].t().contiguous()
    return {"lr": lr, "coord": coord, "cell": cell, "gt": gt, "scale": torch.tensor(plan.scale)}


class PatchDataset(torch.utils.data.Dataset):
    """Executes plans: ``dataset[plan]`` is :func:`make_item` on the planned crop.

    Args:
        paths: training images.
        sizes: their ``(H, W)``.
        lr_size: LR side.
        queries: query pixels per item.
        quantize: round the LR to 8 bits.
    """

    def __init__(self, paths: Sequence[Path], sizes: Sequence[tuple[int, int]], lr_size: int, queries: int,
                 quantize: bool = True) -> None:
        self.cache = ImageCache(paths, sizes)
        self.lr_size, self.queries, self.quantize = lr_size, queries, quantize

    def __len__(self) -> int:
        return len(self.cache.paths)

    def __getitem__(self, plan: ItemPlan) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return self.build(self.cache.crop(plan.image, plan.top, plan.left, plan.hr_size, plan.hr_size), plan)

    def build(self, hr: torch.Tensor, plan: ItemPlan) -> dict[str, torch.Tensor]:
        """The item of a planned HR crop (subclasses build other kinds of items)."""
        return make_item(hr, plan, self.lr_size, self.queries, self.quantize)


def collate_items(items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items into a batch: lr (B, 3, l, l), coord/cell (B, Q, 2), gt (B, Q, 3), scale (B,)."""
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


class PlanBatches:
    """Batch sampler of a DataLoader: yields this rank's plans for steps ``[start, stop)``.

    Args:
        plan_batch: ``(step, global_batch) -> plans`` (the sampler's).
        global_batch: items per step over all ranks.
        shard: ``(first, count)`` of this rank's items within each global batch.
    """

    def __init__(self, plan_batch: Callable[[int, int], list[ItemPlan]], global_batch: int, shard: tuple[int, int]) -> None:
        self.plan_batch, self.global_batch, self.shard = plan_batch, global_batch, shard
        self.start = self.stop = 0

    def set_range(self, start: int, stop: int) -> None:
        """Steps the next iteration covers."""
        self.start, self.stop = start, stop

    def __iter__(self) -> Iterator[list[ItemPlan]]:
        first, count = self.shard
        for step in range(self.start, self.stop):
            yield self.plan_batch(step, self.global_batch)[first: first + count]

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def _ignore_sigint(_worker: int) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle


def make_loader(dataset: torch.utils.data.Dataset, batches: PlanBatches, workers: int, pin: bool = False,
                collate: Callable[[Sequence[dict[str, torch.Tensor]]], dict[str, torch.Tensor]] = collate_items,
                ) -> torch.utils.data.DataLoader:
    """A DataLoader over planned batches; workers persist (and keep their image caches).

    Args:
        dataset: executes plans.
        batches: yields the plans.
        workers: worker processes (0: load in this process).
        pin: pin batches in page-locked memory (for CUDA).
        collate: stacks a step's items into a batch.
    """
    return torch.utils.data.DataLoader(dataset, batch_sampler=batches, num_workers=workers, collate_fn=collate,
                                       persistent_workers=workers > 0, pin_memory=pin,
                                       worker_init_fn=_ignore_sigint if workers else None)


def describe_images(paths: Sequence[Path], sizes: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """Counts for the model card: images and pixels."""
    return {"images": len(paths), "megapixels": round(sum(h * w for h, w in sizes) / 1e6, 2)}
