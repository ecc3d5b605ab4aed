"""Checkpoint loading executes nothing: crafted pickles are refused; real and old-layout checkpoints load."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
import torch

from yolopt.model import UnsafeCheckpointError, load_model, load_ultralytics, save_yolopt
from yolopt.model.hub import git_blob_sha1, verify_download


class _Exploit:
    def __init__(self, cmd: str):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def test_malicious_checkpoint_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"model": _Exploit(f"touch {marker}"), "train_args": {}}, evil)
    with pytest.raises(UnsafeCheckpointError, match="refusing to load global"):
        load_model(evil)
    assert not marker.exists()


@pytest.mark.parametrize(
    "module,name",
    [
        ("builtins", "eval"),
        ("os", "system"),
        ("ultralytics.nn.tasks", "system"),  # trusted module path, name not allow-listed
        ("subprocess", "Conv"),  # allow-listed name under a foreign module
        ("torch", "load"),
    ],
)
def test_crafted_globals_are_refused(tmp_path, module, name):
    marker = tmp_path / "ran"
    payload = f"open({str(marker)!r}, 'w')"
    # PROTO 2, GLOBAL module name, one string argument, TUPLE1, REDUCE, STOP
    arg = payload.encode()
    pkl = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X" + len(arg).to_bytes(4, "little") + arg + b"\x85R."
    path = tmp_path / "crafted.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pkl)
    with pytest.raises(UnsafeCheckpointError, match=f"{module}.{name}"):
        load_ultralytics(path)
    assert not marker.exists()


def test_real_checkpoints_load(data_dir):
    n = load_ultralytics(data_dir / "weights" / "yolov8n.pt")
    assert (n.scale, n.nc, n.names[0], n.names[79]) == ("n", 80, "person", "toothbrush")
    assert n.train_args["imgsz"] == 640
    s = load_ultralytics(data_dir / "weights" / "yolov8s-random.pt")
    assert (s.scale, s.nc) == ("s", 80)
    c3 = load_ultralytics(data_dir / "weights" / "yolov8n-nc3-random.pt")
    assert (c3.scale, c3.nc, c3.names) == ("n", 3, {0: "helmet", 1: "head", 2: "person"})


def test_old_release_module_layout_loads(data_dir, tmp_path):
    """Ultralytics 8.0.x pickled classes as ``ultralytics.nn.modules.X``; classes resolve by name."""
    src = data_dir / "weights" / "yolov8n-nc3-random.pt"
    old = tmp_path / "old.pt"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(old, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("data.pkl"):
                for sub in (b"conv", b"block", b"head"):
                    data = data.replace(b"cultralytics.nn.modules." + sub + b"\n", b"cultralytics.nn.modules\n")
                assert b"cultralytics.nn.modules.conv\n" not in data  # no GLOBAL opcode names a submodule
            zout.writestr(info, data)
    a, b = load_ultralytics(src), load_ultralytics(old)
    assert a.state_dict.keys() == b.state_dict.keys()
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)


def _without_keys(src: Path, out: Path, *keys: bytes) -> Path:
    """A copy of a checkpoint whose pickled string keys ``keys`` are renamed (same length), i.e. missing."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("data.pkl"):
                for key in keys:  # BINUNICODE: 'X', uint32 length, the UTF-8 bytes
                    tag = b"X" + len(key).to_bytes(4, "little")
                    assert tag + key in data
                    data = data.replace(tag + key, tag + key[:-1] + b"_")
            zout.writestr(info, data)
    return out


def test_scale_is_inferred_when_the_checkpoint_does_not_name_it(data_dir, tmp_path):
    """Without ``scale`` the yaml file name decides; without either, the first layer's width does."""
    from yolopt.model.ultralytics_ckpt import _infer_scale

    src = data_dir / "weights" / "yolov8s-random.pt"
    no_scale = load_ultralytics(_without_keys(src, tmp_path / "a.pt", b"scale"))
    assert no_scale.scale == "s"  # used to raise TypeError: None in "nsmlx"
    neither = load_ultralytics(_without_keys(src, tmp_path / "b.pt", b"scale", b"yaml_file"))
    assert neither.scale == "s" and load_model(tmp_path / "b.pt").spec.scale == "s"
    sd = neither.state_dict
    assert _infer_scale({"scale": "ns"}, sd) == "s"  # not a scale: falls through to the widths
    assert _infer_scale({"scale": None, "yaml_file": "yolov8m.yaml"}, sd) == "m"


def test_safetensors_roundtrip(data_dir, tmp_path):
    model = load_model(data_dir / "weights" / "yolov8n-nc3-random.pt")
    path = save_yolopt(model, tmp_path / "m.safetensors")
    back = load_model(path)
    assert back.names == model.names and back.spec == model.spec
    for (k, v), (k2, v2) in zip(model.net.state_dict().items(), back.net.state_dict().items()):
        assert k == k2 and torch.equal(v.half().float() if v.is_floating_point() else v, v2)


def test_bundled_default_is_the_reference_checkpoint(data_dir):
    bundled, ref = load_model("yolov8n"), load_model(data_dir / "weights" / "yolov8n.pt")
    assert bundled.names == ref.names
    sd_ref = ref.net.state_dict()
    # The reference checkpoint stores FP16 weights, so the FP16 bundle is lossless.
    assert all(torch.equal(v, sd_ref[k]) for k, v in bundled.net.state_dict().items() if "num_batches" not in k)


def test_not_a_model_file(tmp_path):
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a PyTorch zip checkpoint"):
        load_model(bad)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_model(tmp_path / "missing.pt")


def test_download_verification_rejects_wrong_file(tmp_path, data_dir):
    fake = tmp_path / "yolov8n.pt"
    fake.write_bytes((data_dir / "weights" / "yolov8s-random.pt").read_bytes())
    with pytest.raises(ValueError, match="git blob id mismatch"):
        verify_download(fake, "yolov8n")
    with pytest.raises(ValueError, match="is YOLOv8s, not yolov8m"):
        verify_download(fake, "yolov8m")
    assert len(git_blob_sha1(fake)) == 40
