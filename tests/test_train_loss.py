"""The YOLOv8 loss against the peer's values and gradients on 8 coco-val images at 320 (one with no boxes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from yolopt.train.assigner import TaskAlignedAssigner
from yolopt.train.loss import DetectionLoss

REF = Path(__file__).resolve().parents[2] / "shared" / "data" / "reference" / "loss_yolov8n_coco-val8_320.npz"
if not REF.exists():
    REF = Path("/work/shared/data/reference/loss_yolov8n_coco-val8_320.npz")


def _targets(d) -> torch.Tensor:
    return torch.cat([torch.tensor(d["batch_idx"])[:, None].float(), torch.tensor(d["cls"])[:, None].float(),
                      torch.tensor(d["bboxes_xywhn"])], 1)


@pytest.mark.skipif(not REF.exists(), reason="shared reference data not present")
def test_loss_and_gradients_match_peer():
    d = np.load(REF)
    box = torch.tensor(d["pred_dfl_logits"], requires_grad=True)
    cls = torch.tensor(d["pred_cls_logits"], requires_grad=True)
    total, items = DetectionLoss(80)(box, cls, _targets(d), (320, 320))
    total.backward()
    ref = d["loss_items_box_cls_dfl"]
    rel = np.abs(items.double().numpy() / ref - 1)
    assert rel.max() < 1e-4, (items.tolist(), ref.tolist())
    assert abs(total.item() / float(d["loss_total"]) - 1) < 1e-4
    for g, r in ((box.grad, d["grad_pred_dfl_logits"]), (cls.grad, d["grad_pred_cls_logits"])):
        assert np.abs(g.numpy() - r).max() <= 1e-4 * np.abs(r).max()
    # foreground anchors are exactly the peer's: the box gradient is non-zero at the same places
    assert np.array_equal(box.grad.abs().sum(1).numpy() > 0, np.abs(d["grad_pred_dfl_logits"]).sum(1) > 0)


def test_no_boxes_gives_class_loss_only():
    torch.manual_seed(0)
    box = torch.randn(2, 64, 8 * 8 + 4 * 4 + 2 * 2, requires_grad=True)
    cls = torch.randn(2, 3, box.shape[2], requires_grad=True)
    total, items = DetectionLoss(3)(box, cls, torch.zeros(0, 6), (64, 64))
    total.backward()
    assert items[0] == 0 and items[2] == 0 and items[1] > 0
    assert torch.all(box.grad == 0) and cls.grad.abs().sum() > 0


def test_assigner_claims_each_anchor_once_and_keeps_topk():
    # two overlapping boxes on an 8x8 grid of stride-8 anchors; perfect predictions everywhere
    anchors = torch.stack(torch.meshgrid(torch.arange(8) * 8 + 4.0, torch.arange(8) * 8 + 4.0, indexing="xy"), -1).view(-1, 2)
    gt = torch.tensor([[[0.0, 0.0, 40.0, 40.0], [16.0, 16.0, 64.0, 64.0]]])
    pred = gt[0, 0].expand(1, 64, 4).clone()
    scores = torch.full((1, 64, 2), 0.5)
    out = TaskAlignedAssigner(2, topk=4)(scores, pred, anchors, torch.tensor([[0, 1]]), gt, torch.tensor([[True, True]]))
    assert out.fg.sum() <= 8  # at most top-k per box
    assert out.scores.shape == (1, 64, 2) and (out.scores[~out.fg] == 0).all()
    assert ((out.scores > 0).sum(-1) <= 1).all()  # one class target per anchor
