"""Channel pruning: C2f's split is the same function, pruning removes exactly what it says (checked on channels
made inert), the head's outputs are kept, channel counts round to 8, the saved model loads back bit for bit,
and bad input fails before any work with the input named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("torch_pruning", reason="needs yolopt[prune]")

from yolopt.data.decode import read_image  # noqa: E402
from yolopt.data.letterbox import letterbox_chw  # noqa: E402
from yolopt.model import YoloModel, load_model, save_yolopt  # noqa: E402
from yolopt.model.blocks import C2f, SplitConv  # noqa: E402
from yolopt.model.shapes import conv_channels  # noqa: E402
from yolopt.optimize.prune import PruneError, prune  # noqa: E402
from yolopt.optimize.prune.pruner import _make_pruner, count, kept_channels, splittable  # noqa: E402


@pytest.fixture(scope="module")
def image(data_dir) -> torch.Tensor:
    """A real sample, letterboxed to 320 as the network takes it."""
    x = letterbox_chw(read_image(data_dir / "samples" / "000000397133.jpg"), 320)[0]
    return torch.from_numpy(np.ascontiguousarray(x))[None].float() / 255


@pytest.fixture(scope="module")
def pruned():
    """yolov8n, 15 % of every layer's channels removed by L1 magnitude, rounded to multiples of 8."""
    return prune("yolov8n", ratio=0.15)


def test_split_c2f_is_the_same_function(image):
    m = load_model("yolov8n")
    net = splittable(m.net)
    c2fs = [x for x in net.modules() if isinstance(x, C2f)]
    assert len(c2fs) == 8 and all(isinstance(x.cv1, SplitConv) for x in c2fs)
    with torch.no_grad():
        ref, out = m.net(image), net(image)
    assert (out - ref).abs().max().item() <= 1e-4 * ref.abs().max().item()


def test_pruning_removes_exactly_the_inert_channels(image):
    """Zero the BN scale and shift of the channels a per-layer ratio will remove in every group: those channels
    then output SiLU(0) = 0, so removing them (BN-scale importance ranks them last) must not change the output.
    This checks the dependency handling (concats, residual adds, split C2f halves) end to end."""
    m = load_model("yolov8n")
    net = splittable(m.net)
    ratio = 0.2
    pr = _make_pruner(net, "bn", 0.0, False, 1, 1)
    dg = pr.DG
    with torch.no_grad():
        for g in dg.get_all_groups(ignored_layers=pr.ignored_layers, root_module_types=pr.root_module_types):
            root = g[0][0].target.module
            n = dg.get_out_channels(root)
            drop = list(range(n - kept_channels(n, ratio, 1)))
            for dep, idxs in dg.get_pruning_group(root, dg.get_pruner_of_module(root).prune_out_channels, drop):
                if isinstance(dep.target.module, torch.nn.BatchNorm2d) and dg.is_out_channel_pruning_fn(dep.handler):
                    dep.target.module.weight[idxs] = 0
                    dep.target.module.bias[idxs] = 0
        ref = net(image)
    res = prune(YoloModel(net, m.names, m.imgsz), ratio=ratio, importance="bn", round_to=1)
    with torch.no_grad():
        out = res.model.net(image)
    assert res.macs_fraction < 0.7
    assert (out - ref).abs().max().item() <= 1e-5 * ref.abs().max().item()


def test_head_outputs_kept_and_channels_rounded(pruned):
    net, nc = pruned.model.net, pruned.model.spec.nc
    det = net.model[-1]
    assert [det.cv2[i][-1].out_channels for i in range(3)] == [64] * 3
    assert [det.cv3[i][-1].out_channels for i in range(3)] == [nc] * 3
    assert det.dfl.conv.weight.shape == (1, 16, 1, 1)
    ch = conv_channels(net)
    head_out = {f"model.22.cv{b}.{i}.2" for b in (2, 3) for i in range(3)} | {"model.22.dfl.conv"}
    assert all(o % 8 == 0 for k, (o, _) in ch.items() if k not in head_out)
    rows = {r["layer"]: r for r in pruned.channels}
    assert rows["model.9.cv2.conv"]["before"] == 256 and rows["model.9.cv2.conv"]["after"] == 216
    assert 0.6 < pruned.macs_fraction < 0.85 and pruned.params[1] < pruned.params[0]
    assert count(net) == (pruned.macs[1], pruned.params[1])
    assert abs(pruned.macs[0] * 2 / 1e9 - 8.8) < 0.05  # YOLOv8n: 8.7-8.8 GFLOPs at 640


def test_saved_pruned_model_loads_back_exactly(pruned, tmp_path, image):
    path = save_yolopt(pruned.model, tmp_path / "p.safetensors", half=False)
    back = load_model(path)
    assert conv_channels(back.net) == conv_channels(pruned.model.net)
    assert back.meta["pruned"]["ratio"] == 0.15 and back.names == pruned.model.names
    with torch.no_grad():
        assert torch.equal(back.net(image), pruned.model.net(image))


def test_global_pruning_gives_c2f_halves_their_own_widths(tmp_path, image):
    res = prune("yolov8n", ratio=0.3, importance="lamp", global_pruning=True)
    halves = [(m.cv1.a.conv.out_channels, m.cv1.b.conv.out_channels) for m in res.model.net.modules()
              if isinstance(m, C2f)]
    assert any(a != b for a, b in halves), halves
    back = load_model(save_yolopt(res.model, tmp_path / "g.safetensors", half=False))
    with torch.no_grad():
        assert torch.equal(back.net(image), res.model.net(image))


def test_steps_call_the_hook_between_steps():
    seen = []
    res = prune("yolov8n", ratio=0.15, steps=3, on_step=lambda k, net: seen.append((k, count(net)[0])))
    assert [k for k, _ in seen] == [1, 2, 3]
    macs = [m for _, m in seen]
    assert macs[0] > macs[1] > macs[2] == res.macs[1]


@pytest.mark.parametrize("kwargs, message", [
    (dict(ratio=0.8), r"would remove every channel of model\.[\w.]+ \(16 channels, rounded to multiples of 8\); "
                      r"the largest ratio this model allows is 0\.750"),
    (dict(ratio=1.0), "expected a fraction of channels to remove"),
    (dict(target_macs=0.02), r"--target-macs 0\.02 cannot be reached"),
    (dict(ratio=0.2, importance="taylor"), "needs labelled training images"),
    (dict(ratio=0.2, target_macs=0.5), "exactly one of --ratio"),
])
def test_bad_targets_fail_before_pruning(kwargs, message):
    with pytest.raises(PruneError, match=message):
        prune("yolov8n", **kwargs)


def test_models_that_are_not_prunable_yolov8_detectors(tmp_path, yolov8n_pt):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    with pytest.raises(PruneError, match="exported graph cannot be pruned"):
        prune(onnx, ratio=0.2)
    other = tmp_path / "resnet.pt"
    torch.save({"model": torch.nn.Linear(2, 2)}, other)
    with pytest.raises(PruneError, match="not a YOLOv8 detector"):
        prune(other, ratio=0.2)
    fused = load_model(yolov8n_pt)
    fused.net.fuse()
    with pytest.raises(PruneError, match="fused"):
        prune(fused, ratio=0.2)


def test_cli_bad_input_exits_2_before_work(tmp_path, cli):
    p = cli("prune", "--ratio", "0.8", "--out", tmp_path / "o")
    assert p.returncode == 2 and "would remove every channel of model." in p.stderr, p.stderr
    assert not (tmp_path / "o").exists()
    p = cli("prune", "--ratio", "0.2", "--runtimes", "openvino-int8", "--out", tmp_path / "o")
    assert p.returncode == 2 and "needs calibration images (--calib)" in p.stderr, p.stderr
    p = cli("prune", "--ratio", "0.2", "--sensitivity", "--out", tmp_path / "o")
    assert p.returncode == 2 and "sensitivity allocation needs --target-macs" in p.stderr, p.stderr
    assert not (tmp_path / "o").exists()


def test_channel_map_that_does_not_fit_is_refused(pruned, tmp_path):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    path = save_yolopt(pruned.model, tmp_path / "p.safetensors")
    with safe_open(str(path), framework="pt") as f:
        meta, sd = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    for name, edit in (("unknown", lambda ch: {**ch, "model.99.conv": [8, 8]}),
                       ("mismatch", lambda ch: {**ch, "model.0.conv": [8, 3]})):
        bad = dict(meta, channels=json.dumps(edit(json.loads(meta["channels"]))))
        save_file(sd, str(tmp_path / f"{name}.safetensors"), metadata=bad)
        with pytest.raises(ValueError, match="do not fit YOLOv8n with its channel map"):
            load_model(tmp_path / f"{name}.safetensors")
