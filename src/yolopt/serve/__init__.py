"""Serving: an HTTP server with dynamic batching, and scale-out on Ray (Serve for requests, Data for folders).

Heavy dependencies live behind extras (``yolopt[serve]``, ``yolopt[ray]``) and are imported only when used,
so ``import yolopt.serve`` itself costs nothing.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import an optional dependency, or fail with a message naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"{module!r} is needed for this feature and is not installed: pip install 'yolopt[{extra}]'"
        ) from e


__all__ = ["require"]
