"""Box operations and NMS (vectorised)."""

from .boxes import box_iou, scale_boxes, xywh2xyxy
from .nms import nms, postprocess

__all__ = ["box_iou", "nms", "postprocess", "scale_boxes", "xywh2xyxy"]
