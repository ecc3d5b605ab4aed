"""Folded BatchNorm is detected and unfolded without changing the eval-mode network."""

from __future__ import annotations

import numpy as np
import torch

from yolopt.data.decode import read_image
from yolopt.data.letterbox import letterbox_chw
from yolopt.model import load_model
from yolopt.model.io import build
from yolopt.train.bn_unfold import batchnorms, is_folded, unfold


def _images(data_dir, n=4, size=160) -> torch.Tensor:
    paths = sorted((data_dir / "coco128" / "images").glob("*.jpg"))[:n]
    return torch.from_numpy(np.stack([letterbox_chw(read_image(p), size, rect=False)[0] for p in paths])).float() / 255


def test_unfold_keeps_eval_output_and_fixes_batch_statistics(data_dir, yolov8n_pt):
    net = load_model(yolov8n_pt).net
    assert is_folded(net)
    x = _images(data_dir)
    with torch.no_grad():
        before = net.eval()(x)
        assert unfold(net, [x[:2], x[2:]]) == len(batchnorms(net))
        after = net(x)
    assert not is_folded(net)
    assert (after - before).abs().max() <= 1e-4 * before.abs().max()
    # the statistics it chose are those training-mode BN accumulates over the same batches (checked on the first
    # BN, whose input does not depend on other BNs): cumulative running averages over them land where unfold put
    # them. A variance pooled over all images would be larger by the spread of the batch means, and the network
    # would drift as soon as training replaced it.
    bn = net.model[0].bn
    chosen = bn.running_mean.clone(), bn.running_var.clone()
    bn.reset_running_stats()
    bn.momentum = None
    with torch.no_grad():
        net.train()
        net(x[:2])
        net(x[2:])
    for got, want in zip((bn.running_mean, bn.running_var), chosen):
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)


def test_random_init_is_not_folded():
    model = build("n", {0: "a", 1: "b"})
    assert not is_folded(model.net)
