"""COCO evaluation: scoring with pycocotools, the ``val`` run and its report."""

from .coco import ClassMetrics, CocoMetrics, evaluate, load_predictions, make_scorer
from .val import ValResult, val

__all__ = ["ClassMetrics", "CocoMetrics", "ValResult", "evaluate", "load_predictions", "make_scorer", "val"]
