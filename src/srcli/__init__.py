"""srcli: restore and resample images with implicit neural representations.

The public API is imported lazily (PEP 562) so that ``import srcli`` and the command line
start without loading PyTorch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "upscale": ("srcli.tasks.upscale", "upscale"),
    "read_image": ("srcli.io.images", "read_image"),
    "write_image": ("srcli.io.images", "write_image"),
    "list_models": ("srcli.registry", "list_models"),
    "load_model": ("srcli.registry", "load_model"),
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'srcli' has no attribute {name!r}")
