"""Training-mode network outputs, model set-up for a dataset's classes, optimizer groups, EMA and state files."""

from __future__ import annotations

import torch

from yolopt.model import load_model
from yolopt.model.adapt import fresh, with_classes
from yolopt.train.checkpoint import load_state, save_state
from yolopt.train.ema import ModelEMA
from yolopt.train.optim import Schedule, build_optimizer, freeze, param_groups


def test_training_mode_returns_raw_head_outputs():
    net = fresh("n", {0: "a", 1: "b", 2: "c"}).net
    x = torch.rand(2, 3, 96, 128)
    box, cls = net.train()(x)
    a = 12 * 16 + 6 * 8 + 3 * 4  # stride 8, 16, 32 grids of a 96x128 input
    assert box.shape == (2, 64, a) and cls.shape == (2, 3, a)
    net.eval()
    with torch.no_grad():
        out = net(x)
        net.model[-1].training = True  # only the head's output switches; every BN stays in eval mode
        _, logits = net(x)
    assert torch.allclose(out[:, 4:], logits.sigmoid(), atol=1e-6)


def test_new_class_count_reinitialises_only_the_class_branch(yolov8n_pt):
    coco = load_model(yolov8n_pt)
    model, reinit = with_classes(coco, {0: "helmet", 1: "head", 2: "person"})
    assert model.spec.nc == 3 and reinit
    assert all(k.startswith("model.22.cv3.") for k in reinit)
    assert {k.rsplit(".", 1)[-1] for k in reinit} >= {"2"}  # the last conv of each level, at least
    old, new = coco.net.state_dict(), model.net.state_dict()
    kept = [k for k in new if not k.startswith("model.22.cv3.")]
    assert all(torch.equal(old[k], new[k]) for k in kept)  # backbone, neck and box branch untouched
    same, none = with_classes(coco, coco.names)
    assert none == [] and same.net is coco.net


def test_optimizer_groups_schedule_and_freeze():
    net = fresh("n", {0: "a"}).net
    decay, bn_w, bias = param_groups(net)
    assert all(p.ndim > 1 for p in decay) and all(p.ndim == 1 for p in bn_w + bias)
    opt = build_optimizer(net, "SGD", 0.01, 0.937, 5e-4)
    assert [g["weight_decay"] for g in opt.param_groups] == [5e-4, 0.0, 0.0] and opt.defaults["nesterov"]
    s = Schedule(epochs=10, lrf=0.01, warmup_iters=100)
    s.apply(opt, 0, 0)
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[0]["lr"] == 0.0  # bias LR warms down from 0.1
    s.apply(opt, 5, 500)
    assert abs(opt.param_groups[0]["lr"] - 0.01 * (0.5 * 0.99 + 0.01)) < 1e-12
    assert s.accumulate(0, 16) == 1 and s.accumulate(1000, 16) == 4
    assert abs(Schedule(10, 0.01, cosine=True).factor(10) - 0.01) < 1e-12
    frozen = freeze(net, 2)
    assert frozen and all(n.startswith(("model.0.", "model.1.")) for n in frozen)


def test_ema_ramp_and_state_roundtrip(tmp_path):
    net = fresh("n", {0: "a"}).net
    ema = ModelEMA(net)
    opt = build_optimizer(net, "AdamW", 1e-3, 0.9)
    net.train()(torch.rand(1, 3, 64, 64))[1].sum().backward()
    opt.step()
    ema.update(net)
    assert 0 < ema.d() < 0.001  # first updates follow the model almost fully
    torch.manual_seed(7)
    save_state(tmp_path / "s.safetensors", net, ema.net, opt, {"epoch": 3})
    expected = torch.rand(3)
    net2, ema2 = fresh("n", {0: "a"}).net, fresh("n", {0: "a"}).net
    opt2 = build_optimizer(net2, "AdamW", 1e-3, 0.9)
    assert load_state(tmp_path / "s.safetensors", net2, ema2, opt2) == {"epoch": 3}
    assert torch.equal(torch.rand(3), expected)  # RNG restored
    for a, b in zip(net.state_dict().values(), net2.state_dict().values()):
        assert torch.equal(a, b)
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert all(torch.equal(s1[k]["exp_avg"], s2[k]["exp_avg"]) for k in s1)
