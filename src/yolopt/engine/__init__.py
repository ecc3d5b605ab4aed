"""Batch engine and its timing."""

from .predictor import BatchEngine, PredictConfig, Prepared, detect_prepared, prepare
from .timing import StageTimes

__all__ = ["BatchEngine", "PredictConfig", "Prepared", "StageTimes", "detect_prepared", "prepare"]
