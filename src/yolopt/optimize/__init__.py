"""Model optimisation: post-training quantization (INT8 with NNCF or ONNX Runtime QDQ, FP16, BF16) with a report."""

from .errors import AccuracyBudgetError, QuantizeError
from .quantize import QuantizeResult, quantize

__all__ = ["quantize", "QuantizeResult", "QuantizeError", "AccuracyBudgetError"]
