"""Batch engine and its timing."""

from .predictor import BatchEngine, PredictConfig
from .timing import StageTimes

__all__ = ["BatchEngine", "PredictConfig", "StageTimes"]
