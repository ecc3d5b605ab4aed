"""Pruning that keeps the network's function without training: least-squares re-fitting of every conv to the
original's outputs, and sensitivity-guided allocation of the channels each layer gives up."""

from __future__ import annotations

import copy

import pytest
import torch

pytest.importorskip("torch_pruning", reason="needs yolopt[prune]")

from yolopt.model import load_model  # noqa: E402
from yolopt.optimize.prune import prune  # noqa: E402
from yolopt.optimize.prune.allocate import distortion  # noqa: E402
from yolopt.optimize.prune.pruner import splittable, stat_batches  # noqa: E402
from yolopt.optimize.prune.reconstruct import reconstruct  # noqa: E402
from yolopt.train.bn_unfold import unfold  # noqa: E402


@pytest.fixture(scope="module")
def fit_and_held(data_dir):
    """Twelve coco128 images to measure on, four other ones (coco-val-extra) to judge on."""
    return (stat_batches(data_dir / "coco128" / "images", 256, 12),
            stat_batches(data_dir / "coco-val-extra" / "images", 256, 4))


def _damage(net, original, images) -> float:
    with torch.no_grad():
        return sum(distortion(net.eval()(x), original.eval()(x)) for x in images) / len(images)


def test_refit_of_an_unpruned_network_keeps_its_weights(yolov8n_pt, fit_and_held):
    fit, _ = fit_and_held
    net = splittable(load_model(yolov8n_pt).net)
    unfold(net, fit, per_batch=False)
    twin = copy.deepcopy(net)
    reconstruct(twin, net, {}, fit[:4])
    for (name, a), b in zip(twin.state_dict().items(), net.state_dict().values()):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-4), name


def test_refit_brings_the_pruned_network_closer_on_unseen_images(yolov8n_pt, fit_and_held):
    fit, held = fit_and_held
    base = prune(yolov8n_pt, ratio=0.1, batches=fit, refit=False)
    refit = prune(yolov8n_pt, ratio=0.1, batches=fit, refit=True)
    assert base.channels == refit.channels and refit.settings["refit"] and not base.settings["refit"]
    original = splittable(load_model(yolov8n_pt).net)
    unfold(original, fit, per_batch=False)
    damage = [_damage(r.model.net, original, held) for r in (base, refit)]
    assert damage[1] < 0.85 * damage[0], damage


def test_sensitivity_allocation_damages_less_than_a_uniform_ratio(yolov8n_pt, fit_and_held):
    fit, held = fit_and_held
    memo: dict = {}
    logs: list[str] = []
    runs = {s: prune(yolov8n_pt, target_macs=0.8, batches=fit, refit=False, sensitivity=s, memo=memo,
                     log=logs.append) for s in (False, True)}
    sens = runs[True]
    assert sens.macs_fraction <= 0.8 and sens.settings["scope"] == "sensitivity"
    assert abs(sens.macs_fraction - runs[False].macs_fraction) < 0.05
    ratios = sens.settings["ratios"]
    assert ratios and all(0 < r < 1 for r in ratios.values())  # the groups it chose, each at its own level
    assert 0 < sens.ratio < 1 and sens.model.meta["pruned"]["ratios"] == ratios
    original = splittable(load_model(yolov8n_pt).net)
    unfold(original, fit, per_batch=False)
    damage = {s: _damage(r.model.net, original, held) for s, r in runs.items()}
    assert damage[True] < 0.7 * damage[False], damage

    # a sweep: later targets reuse the measurements (nothing re-measured) and allocate the same way from them
    assert any("sensitivity: 10/" in s for s in logs)
    for target in (0.8, 0.7):
        logs.clear()
        again = prune(yolov8n_pt, target_macs=target, batches=fit, sensitivity=True, memo=memo, log=logs.append)
        assert any("measured for an earlier target, reused" in s for s in logs)
        assert not any("sensitivity: 10/" in s for s in logs)
        if target == 0.8:
            assert again.settings["ratios"] == ratios and again.channels == sens.channels
        else:
            assert again.macs_fraction <= 0.7 < sens.macs_fraction
    # a cap on any one layer's share: the same target from the same measurements, spread over more layers
    capped = prune(yolov8n_pt, target_macs=0.8, batches=fit, sensitivity=True, memo=memo, max_layer_ratio=0.375)
    assert capped.macs_fraction <= 0.8 and capped.settings["max_layer_ratio"] == 0.375
    assert max(capped.settings["ratios"].values()) <= 0.375 < max(ratios.values())
    assert len(capped.settings["ratios"]) > len(ratios)


def test_sensitivity_needs_a_macs_target_and_images(yolov8n_pt, fit_and_held):
    from yolopt.optimize.prune import PruneError

    for kwargs in ({"ratio": 0.2, "batches": fit_and_held[0]}, {"target_macs": 0.8}):
        with pytest.raises(PruneError, match="sensitivity allocation needs --target-macs"):
            prune(yolov8n_pt, sensitivity=True, **kwargs)
    with pytest.raises(PruneError, match="--max-layer-ratio 0.9"):
        prune(yolov8n_pt, sensitivity=True, target_macs=0.8, batches=fit_and_held[0], max_layer_ratio=0.9)

