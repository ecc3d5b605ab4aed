"""yolopt: fast, exact YOLOv8 object detection."""

from .detector import Detector, make_backend
from .engine import PredictConfig
from .model import load_model
from .results import Detections

__version__ = "0.1.0"

__all__ = ["Detections", "Detector", "PredictConfig", "__version__", "load_model", "make_backend"]
