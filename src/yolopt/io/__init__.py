"""Result sinks: where detections go (JSONL, COCO JSON, CSV, YOLO txt, annotated images)."""

from .sinks import FORMATS, Sink, open_sink
from .draw import draw_detections

__all__ = ["FORMATS", "Sink", "draw_detections", "open_sink"]
