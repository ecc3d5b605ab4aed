"""Distillation loss terms: zero at agreement, the divergence they claim (checked against torch's own KL), and
gradients that pull the student toward the teacher; on the head's real raw outputs where a shape matters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from yolopt.optimize.distill import (DistillWeights, FeatureAdapters, channel_wise_kd, class_kd, confident_anchors,
                                     dfl_kd, distill_terms, feature_kd)


@pytest.fixture(scope="module")
def raw(data_dir):
    """The reference head's DFL and class logits for 8 coco-val images (8x64x2100, 8x80x2100)."""
    ref = np.load(data_dir / "reference" / "loss_yolov8n_coco-val8_320.npz")
    return torch.from_numpy(ref["pred_dfl_logits"]).float(), torch.from_numpy(ref["pred_cls_logits"]).float()


def _bernoulli_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL of Bernoulli(p) from Bernoulli(q), elementwise, from the definition."""
    return p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))


def test_class_kd_is_the_bernoulli_kl_of_softened_sigmoids(raw):
    _, t = raw
    s = t + torch.randn_like(t) * 0.5
    for temp in (1.0, 3.0):
        want = _bernoulli_kl(torch.sigmoid(t / temp).double(), torch.sigmoid(s / temp).double()).sum(1).mean()
        assert class_kd(s, t, temp).item() == pytest.approx(want.item() * temp**2, rel=1e-4)
    assert class_kd(t, t, 2.0).item() == pytest.approx(0.0, abs=1e-5)


def test_dfl_kd_matches_torch_kl_div_on_masked_anchors(raw):
    t, cls = raw
    s = t + torch.randn_like(t)
    mask = confident_anchors(cls, 0.25)
    assert 0 < int(mask.sum()) < mask.numel()  # the teacher is confident on some anchors only
    b, _, a = t.shape
    ls = F.log_softmax(s.view(b, 4, 16, a), 2).permute(0, 3, 1, 2)[mask]  # (n, 4, 16)
    lt = F.log_softmax(t.view(b, 4, 16, a), 2).permute(0, 3, 1, 2)[mask]
    want = F.kl_div(ls, lt, reduction="none", log_target=True).sum(-1).mean()
    assert dfl_kd(s, t, mask).item() == pytest.approx(want.item(), rel=1e-5)
    assert dfl_kd(t, t, mask).item() == pytest.approx(0.0, abs=1e-6)


def test_empty_mask_gives_zero_with_a_graph(raw):
    t, _ = raw
    s = t.clone().requires_grad_()
    loss = dfl_kd(s + 1.0, t, torch.zeros(t.shape[0], t.shape[2], dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.all(s.grad == 0)


def test_gradient_step_moves_the_student_toward_the_teacher():
    torch.manual_seed(0)
    t_box, t_cls = torch.randn(2, 64, 50), torch.randn(2, 80, 50)
    s_box = torch.randn(2, 64, 50, requires_grad=True)
    s_cls = torch.randn(2, 80, 50, requires_grad=True)
    opt = torch.optim.Adam([s_box, s_cls], lr=0.1)
    w = DistillWeights(cls_temperature=2.0)
    mask = torch.ones(2, 50, dtype=torch.bool)
    first = None
    for _ in range(60):
        terms = distill_terms((s_box, s_cls), (t_box, t_cls), w, mask)
        total = sum(terms.values())
        first = first if first is not None else {k: v.item() for k, v in terms.items()}
        opt.zero_grad()
        total.backward()
        opt.step()
    assert terms["cls"].item() < 0.2 * first["cls"] and terms["dfl"].item() < 0.2 * first["dfl"]


def test_channel_wise_kd_and_adapters():
    torch.manual_seed(0)
    teacher = [torch.randn(2, 64, 8, 8), torch.randn(2, 128, 4, 4)]
    student = [torch.randn(2, 32, 8, 8), torch.randn(2, 48, 4, 4)]
    ad = FeatureAdapters([32, 48], [64, 128])
    loss = feature_kd(student, teacher, ad, 4.0)
    loss.backward()
    assert loss.item() > 0 and all(c.weight.grad is not None and c.weight.grad.abs().sum() > 0 for c in ad.convs)
    x = torch.randn(2, 16, 5, 5)
    # per channel, a softmax over the 25 positions: invariant to adding a constant per channel
    assert channel_wise_kd(x + torch.randn(2, 16, 1, 1), x).item() == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError, match="feature shapes differ"):
        channel_wise_kd(student[0], teacher[0])
