"""Distillation, label-free training and sparsity in ``yolopt train``, on a few coco128 images at 160 px."""

from __future__ import annotations

import json

import pytest
import torch

from yolopt.data.inputs import load_input
from yolopt.model import load_model, save_yolopt
from yolopt.optimize.distill import DistillWeights, distill_terms
from yolopt.train import train
from yolopt.train.config import TrainConfigError
from yolopt.train.teacher import Distiller

from test_train_run import SMALL, coco_subset

FAST = dict(SMALL, optimizer="SGD", lr0=0.01, warmup_epochs=0, nbs=4, close_mosaic=0)


@pytest.fixture(scope="module")
def data(data_dir, tmp_path_factory):
    return coco_subset(data_dir, tmp_path_factory.mktemp("kd") / "d", 4)


@pytest.fixture(scope="module")
def student(yolov8n_pt, tmp_path_factory):
    """yolov8n with noise on every weight: the same classes as the teacher, different outputs."""
    m = load_model(yolov8n_pt)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in m.net.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05 * p.abs().mean())
    return save_yolopt(m, tmp_path_factory.mktemp("student") / "s.safetensors", half=False)


def test_distiller_terms_are_the_pure_functions_and_reach_the_student(yolov8n_pt, student, data_dir):
    teacher, s = load_model(yolov8n_pt), load_model(student)
    w = DistillWeights(cls=1.0, dfl=0.5, feature=0.0, cls_temperature=2.0, dfl_temperature=2.0)
    d = Distiller(teacher, s.net, w, torch.device("cpu"))
    img = torch.from_numpy(load_input(data_dir / "samples" / "000000184324.jpg", 256).chw[None]).float() / 255
    s.net.train()
    out = s.net(img)
    terms = d(img, out)
    with torch.no_grad():
        t_out = teacher.net(img)  # the Distiller keeps the teacher's BN in eval mode and its head raw
    ref = distill_terms(out, t_out, w)
    assert set(terms) == {"cls", "dfl"} and all(torch.allclose(terms[k], ref[k]) for k in terms)
    assert terms["cls"] > 0 and terms["dfl"] > 0
    sum(terms.values()).backward()
    grads = [p.grad for p in s.net.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0
    assert all(p.grad is None for p in teacher.net.parameters())  # the teacher is not trained
    same = Distiller(load_model(yolov8n_pt), teacher.net, w, torch.device("cpu"))
    teacher.net.eval()
    teacher.net.model[-1].training = True
    with torch.no_grad():
        zero = same(img, teacher.net(img))
    assert float(zero["cls"]) < 1e-6 and float(zero["dfl"]) < 1e-6


def _frozen_prefix_student(yolov8n_pt, changed: int, half: bool = False) -> torch.nn.Module:
    """yolov8n with every C2f's first conv split (as pruning leaves it), layers from ``changed`` on perturbed,
    the first 15 frozen, in training mode with BatchNorm in eval mode (a pruned model's recovery run); with
    ``half`` every weight rounded to float16 (a checkpoint saved in half precision)."""
    from yolopt.model.blocks import C2f
    from yolopt.train.optim import freeze

    net = load_model(yolov8n_pt).net
    for m in net.modules():
        if isinstance(m, C2f):
            m.split_cv1()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if half:
                p.copy_(p.half().float())
            if int(name.split(".")[1]) >= changed:
                p.add_(torch.randn(p.shape, generator=g) * 0.05 * p.abs().mean())
    freeze(net, 15)
    net.train()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
    return net


def test_teacher_takes_the_students_outputs_for_the_layers_they_share(yolov8n_pt, data_dir):
    teacher = load_model(yolov8n_pt)
    w = DistillWeights(cls=1.0, dfl=1.0, feature=0.0, cls_temperature=1.0, dfl_temperature=1.0)
    s, msgs = _frozen_prefix_student(yolov8n_pt, 15), []
    d = Distiller(teacher, s, w, torch.device("cpu"), share=15, log=msgs.append)
    imgs = [torch.from_numpy(load_input(p, 192).chw[None]).float() / 255
            for p in sorted((data_dir / "samples").glob("*.jpg"))[:2]]
    calls = []
    teacher.net.model[0].register_forward_hook(lambda *a: calls.append(1))
    for k, img in enumerate(imgs):
        out = s(img)
        before = len(calls)
        terms = d(img, out)
        assert d.shared == 15 and len(msgs) == 1 and "first 15 layers" in msgs[0]
        assert len(calls) - before == (1 if k == 0 else 0)  # the first batch compares; later ones skip the layers
        with torch.no_grad():
            ref = distill_terms(out, teacher.net(img), w)
        assert all(torch.allclose(terms[t], ref[t], rtol=1e-4, atol=1e-6) for t in ref)
    assert len(d._student_out) == 0  # nothing kept between batches
    # stored in half precision it still shares them; a student whose layer 3 differs shares layers 0-2 only;
    # BatchNorm in training mode shares nothing
    rounded = _frozen_prefix_student(yolov8n_pt, 15, half=True)
    dh = Distiller(teacher, rounded, w, torch.device("cpu"), share=15)
    dh(imgs[0], rounded(imgs[0]))
    assert dh.shared == 15
    early = _frozen_prefix_student(yolov8n_pt, 3)
    d3 = Distiller(teacher, early, w, torch.device("cpu"), share=15)
    d3(imgs[0], early(imgs[0]))
    assert d3.shared == 3
    live = _frozen_prefix_student(yolov8n_pt, 15).train()
    d0 = Distiller(teacher, live, w, torch.device("cpu"), share=15)
    d0(imgs[0], live(imgs[0]))
    assert d0.shared == 0


def test_teacher_adds_kd_terms_and_changes_the_update(data, yolov8n_pt, student, tmp_path):
    plain = train(**FAST, data=str(data), model=str(student), epochs=1, project=str(tmp_path), name="plain")
    kd = train(**FAST, data=str(data), model=str(student), epochs=1, project=str(tmp_path), name="kd",
               teacher=str(yolov8n_pt), kd_feature=1.0)
    row = kd.rows[0]
    assert row["kd_cls"] > 0 and row["kd_dfl"] > 0 and row["kd_feat"] > 0 and "kd_cls" not in plain.rows[0]
    assert row["box_loss"] == pytest.approx(plain.rows[0]["box_loss"])  # same first batch, same detection loss
    a, b = load_model(plain.last).net.state_dict(), load_model(kd.last).net.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)
    assert "kd_cls" in (kd.save_dir / "results.csv").read_text().splitlines()[0]


def test_label_free_trains_on_images_alone(data, yolov8n_pt, student, tmp_path):
    before = load_model(student).net.state_dict()
    res = train(**FAST, data=str(data / "images"), model=str(student), epochs=1, project=str(tmp_path),
                name="lf", teacher=str(yolov8n_pt))
    row = res.rows[0]
    assert row["box_loss"] == row["cls_loss"] == row["dfl_loss"] == 0.0 and row["kd_cls"] > 0
    after = load_model(res.last).net.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())


def test_label_free_without_teacher_and_class_mismatch_fail_before_writing(data, data_dir, yolov8n_pt, tmp_path):
    other = data_dir / "weights" / "yolov8n-nc3-random.pt"
    cases = [(dict(data=str(data / "images"), model=str(yolov8n_pt)), "needs a --teacher"),
             (dict(data=str(data), model=str(yolov8n_pt), teacher=str(other)),
              r"predicts 3 classes, the training data has 80; class 0 is '.*' for the teacher, 'person'"),
             (dict(data=str(data / "images"), model=str(other), teacher=str(yolov8n_pt)),
              "predicts 80 classes, the student has 3"),
             (dict(data=str(data), teacher=str(tmp_path / "nope.pt")), "--teacher .*no such file")]
    for kw, msg in cases:
        with pytest.raises(TrainConfigError, match=msg):
            train(**FAST, **kw, epochs=1, project=str(tmp_path / "runs"))
    assert not (tmp_path / "runs").exists()


def test_sparsity_pushes_bn_scales_down(data, yolov8n_pt, tmp_path):
    kw = dict(FAST, data=str(data), model=str(yolov8n_pt), epochs=2, project=str(tmp_path))
    base = train(**kw, name="base")
    sparse = train(**kw, name="sparse", sparsity=1.0)

    def mean_scale(path):
        sd = load_model(path).net.state_dict()
        return torch.cat([v.abs() for k, v in sd.items() if k.endswith("bn.weight")]).mean().item()

    assert mean_scale(sparse.last) < mean_scale(base.last) - 0.01  # 2 SGD steps of lr 0.01 x sparsity 1, momentum
    hist = json.loads((sparse.save_dir / "bn_scales.json").read_text())
    assert hist["after"]["median"] < hist["before"]["median"]
    assert sum(hist["before"]["counts"]) == sum(hist["after"]["counts"]) == hist["before"]["channels"]
    assert load_model(sparse.last).meta["train"]["sparsity"] == 1.0
