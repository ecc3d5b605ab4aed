"""The one writer of COCO results (``[{image_id, category_id, bbox: [x, y, w, h], score}]``): ``predict --format
coco``, ``val``'s predictions.json, bench's scorer and ``Detections.to_coco`` all round the same way."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

BOX_DECIMALS = 3  # pixels: 1/1000 px is far below any box's uncertainty
SCORE_DECIMALS = 6


def coco_results(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, image_id: int,
                 category_ids: Mapping[int, int] | None = None) -> list[dict]:
    """One image's x1, y1, x2, y2 boxes as COCO result dicts (xywh, rounded), in the given order.

    ``category_ids`` maps class id → category id; classes it does not list are dropped (model classes a
    dataset does not have). ``None`` keeps the class id as the category id.
    """
    class_ids = np.asarray(class_ids, np.int64)
    if not len(class_ids):
        return []
    if category_ids is None:
        cat = class_ids
    else:
        lut = np.full(max(max(category_ids, default=0), int(class_ids.max())) + 1, -1, np.int64)
        lut[list(category_ids)] = list(category_ids.values())
        cat = lut[class_ids]
    keep = cat >= 0
    b = np.asarray(boxes, np.float64)[keep]
    xywh = np.round(np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], 1), BOX_DECIMALS)
    score = np.round(np.asarray(scores, np.float64)[keep], SCORE_DECIMALS)
    return [{"image_id": int(image_id), "category_id": c, "bbox": box, "score": s}
            for c, box, s in zip(cat[keep].tolist(), xywh.tolist(), score.tolist())]
