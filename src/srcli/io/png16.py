"""True 16-bit PNG in zlib + NumPy: Pillow reduces 16-bit colour PNGs to 8 bits and cannot write them.

Handles every colour type (grey, grey+alpha, RGB, RGBA) at depth 16, all five row filters,
Adam7 interlacing, tRNS colour keys, iCCP and eXIf chunks, and checks chunk CRCs.
"""

from __future__ import annotations

import contextlib
import struct
import zlib
from typing import BinaryIO, Callable

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class PNGError(ValueError):
    """A truncated or corrupt PNG (the message names what is wrong)."""


_PNG_CHANNELS = {0: 1, 4: 2, 2: 3, 6: 4}  # colour type -> channels
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _png_chunks(data: bytes) -> dict[bytes, list[bytes]]:
    """Split a PNG into its chunks (checking CRCs), up to IEND."""
    chunks: dict[bytes, list[bytes]] = {}
    view, pos = memoryview(data), 8
    while True:
        if pos + 12 > len(data):
            raise PNGError("truncated PNG file")
        length, kind = struct.unpack(">I4s", view[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise PNGError("truncated PNG file")
        body = view[pos + 8 : end - 4]
        if zlib.crc32(body, zlib.crc32(kind)) != struct.unpack(">I", view[end - 4 : end])[0]:
            raise PNGError(f"corrupt PNG file (bad {kind.decode('latin-1')} checksum)")
        chunks.setdefault(kind, []).append(bytes(body))
        if kind == b"IEND":
            return chunks
        pos = end


def _png_passes(width: int, height: int, interlaced: bool) -> list[tuple[int, int, int, int, int, int]]:
    """``(x0, y0, dx, dy, pass_width, pass_height)`` of each non-empty pass."""
    grids = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    passes = [(x0, y0, dx, dy, -(-(width - x0) // dx), -(-(height - y0) // dy)) for x0, y0, dx, dy in grids]
    return [p for p in passes if p[4] > 0 and p[5] > 0]


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _unfilter(lines: np.ndarray, width: int, bpp: int) -> np.ndarray:
    """Undo PNG scanline filters: ``(H, 1 + W * bpp)`` uint8 -> ``(H, W, bpp)`` uint8."""
    height, kinds = lines.shape[0], lines[:, 0]
    if kinds.max() > 4:
        raise ValueError(f"unknown PNG filter type {kinds.max()}")
    filtered = lines[:, 1:].reshape(height, width, bpp)
    out = np.zeros((height + 1, width + 1, bpp), np.uint8)  # a zero row above, a zero column left
    if kinds.max() <= 2:  # None/Sub/Up: one vector step per row (uint8 arithmetic wraps mod 256)
        for r in range(height):
            row = filtered[r]
            if kinds[r] == 1:
                row = np.cumsum(row, axis=0, dtype=np.uint8)
            elif kinds[r] == 2:
                row = row + out[r, 1:]
            out[r + 1, 1:] = row
        return out[1:, 1:]
    for d in range(height + width - 1):  # Average/Paeth: anti-diagonal wavefront
        r = np.arange(max(0, d - width + 1), min(height, d + 1))
        j = d - r
        a, b, c = (x.astype(np.int16) for x in (out[r + 1, j], out[r, j + 1], out[r, j]))
        k = kinds[r][:, None]
        pred = np.select([k == 1, k == 2, k == 3, k == 4], [a, b, (a + b) >> 1, _paeth(a, b, c)], 0)
        out[r + 1, j + 1] = (filtered[r, j] + pred) & 255
    return out[1:, 1:]


def read_png16(data: bytes, check_size: Callable[[int, int], None]) -> tuple[np.ndarray, bytes | None, bytes | None]:
    """Decode a 16-bit PNG.

    Args:
        data: the whole file.
        check_size: called with ``(width, height)`` before any pixel data is inflated
            (it raises to refuse an image, e.g. a decompression bomb).

    Returns:
        ``(values (H, W, C) uint16, ICC profile or None, raw eXIf body or None)``; a tRNS
        colour key becomes an alpha channel.

    Raises:
        PNGError: truncated or corrupt file.
    """
    chunks = _png_chunks(data)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"][0][:13])
    if colour not in _PNG_CHANNELS or depth != 16 or width == 0 or height == 0:
        raise PNGError(f"corrupt PNG header (colour type {colour}, depth {depth})")
    check_size(width, height)
    channels = _PNG_CHANNELS[colour]
    bpp = 2 * channels
    passes = _png_passes(width, height, bool(interlace))
    expected = sum(ph * (1 + pw * bpp) for *_, pw, ph in passes)
    try:
        raw = zlib.decompressobj().decompress(b"".join(chunks.get(b"IDAT", [])), expected)
        if len(raw) < expected:
            raise ValueError("image data ends early")
        stream, values = np.frombuffer(raw, np.uint8), np.zeros((height, width, channels), np.uint16)
        start = 0
        for x0, y0, dx, dy, pw, ph in passes:
            size = ph * (1 + pw * bpp)
            samples = _unfilter(stream[start : start + size].reshape(ph, -1), pw, bpp)
            values[y0::dy, x0::dx] = samples.reshape(ph, -1).view(">u2").reshape(ph, pw, channels)
            start += size
    except (ValueError, zlib.error) as err:
        raise PNGError(f"truncated or corrupt PNG file ({err})") from None
    values = _png_key_alpha(values, chunks.get(b"tRNS"), colour)
    icc = None
    if b"iCCP" in chunks:  # name, NUL, method byte, zlib data; an unreadable profile is dropped
        with contextlib.suppress(zlib.error, IndexError):
            icc = zlib.decompress(chunks[b"iCCP"][0].split(b"\0", 1)[1][1:])
    return values, icc, (chunks[b"eXIf"][0] if b"eXIf" in chunks else None)


def _png_key_alpha(values: np.ndarray, trns: list[bytes] | None, colour: int) -> np.ndarray:
    """A tRNS colour key on grey/RGB becomes an alpha channel (0 where the key matches)."""
    if not trns or colour not in (0, 2):
        return values
    key = np.frombuffer(trns[0][: 2 * values.shape[2]], ">u2").astype(np.uint16)
    alpha = np.where(np.all(values == key, axis=2), 0, 65535).astype(np.uint16)
    return np.concatenate([values, alpha[:, :, None]], axis=2)


def write_png16(fh: BinaryIO, values: np.ndarray, icc: bytes | None, exif: bytes | None) -> None:
    """Write ``(H, W, C)`` uint16 as a true 16-bit PNG (Sub filter on every row)."""
    height, width, channels = values.shape
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]

    def chunk(kind: bytes, body: bytes) -> None:
        fh.write(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind))))

    fh.write(PNG_SIGNATURE)
    chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0))
    if icc:
        chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc))
    if exif:
        chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif)
    rows = values.astype(">u2").view(np.uint8).reshape(height, width * channels * 2)
    sub = rows.copy()
    sub[:, 2 * channels :] -= rows[:, : -2 * channels]  # uint8 arithmetic wraps mod 256
    compressed = zlib.compress(np.concatenate([np.ones((height, 1), np.uint8), sub], axis=1).tobytes(), 6)
    for start in range(0, len(compressed), 1 << 24):
        chunk(b"IDAT", compressed[start : start + (1 << 24)])
    chunk(b"IEND", b"")
