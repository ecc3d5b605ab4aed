"""Structured channel pruning (Torch-Pruning) of YOLOv8 detectors, with a report and an accuracy-vs-speed sweep."""

from .errors import PruneError
from .pruner import IMPORTANCES, PruneResult, prune

__all__ = ["IMPORTANCES", "PruneError", "PruneResult", "prune"]
