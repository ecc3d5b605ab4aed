"""Import an optional dependency, or fail with the pip command that installs it."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, install: str, what: str = "") -> ModuleType:
    """``importlib.import_module(module)``; a missing package becomes an ImportError saying what to pip install.

    ``install`` is what to install, e.g. ``"yolopt[onnx]"`` or ``"tensorrt"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        need = f" for {what}" if what else ""
        raise ImportError(f"{module} is needed{need}: pip install '{install}' ({e})") from e
