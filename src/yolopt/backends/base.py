"""The backend interface every runtime implements."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Backend(Protocol):
    """Runs the network: (B, 3, H, W) uint8 RGB letterboxed images → (B, 4 + nc, A) float32 raw head output.

    H and W are multiples of 32 and every image of a batch has the same shape. A backend must give each
    image the same output whatever else shares its batch (see DESIGN.md, exactness rules).
    """

    name: str
    names: dict[int, str]

    def infer(self, images: np.ndarray) -> np.ndarray: ...
