"""``yolopt profile``: where the time goes, and what to change."""

from .diagnose import Finding, diagnose
from .layers import LayerCost, openvino_layers, torch_layers
from .report import print_report, save
from .run import ProfileReport, profile

__all__ = ["Finding", "LayerCost", "ProfileReport", "diagnose", "openvino_layers", "print_report", "profile",
           "save", "torch_layers"]
