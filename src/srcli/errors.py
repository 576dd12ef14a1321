"""Errors that reach the user as one line (exit code 2, or 1 for one item of a batch)."""

from __future__ import annotations


class SrcliError(Exception):
    """Base of errors whose message is meant for the user as it is."""


class UsageError(SrcliError, ValueError):
    """Bad options or inputs detected before any work."""


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exception types whose message is shown to the user without a traceback.

    Gathered lazily so that importing this module stays cheap.
    """
    from srcli.device import DeviceError
    from srcli.geometry import SizeError
    from srcli.registry import RegistryError

    types: list[type[BaseException]] = [SrcliError, SizeError, RegistryError, DeviceError]
    for module, name in (("srcli.io.images", "ImageError"), ("srcli.io.points", "PointsError")):
        try:
            mod = __import__(module, fromlist=[name])
            types.append(getattr(mod, name))
        except (ImportError, AttributeError):
            pass
    return tuple(types)
