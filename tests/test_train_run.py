"""End-to-end training runs on a few coco128 images: resume is exact, 2 ranks equal 1, bad input fails early,
and a pretrained model overfits 8 images (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from yolopt.cli import app
from yolopt.eval import val
from yolopt.model import load_model
from yolopt.train import train
from yolopt.train.config import TrainConfig, TrainConfigError
from yolopt.train.trainer import TrainingDiverged

SMALL = dict(imgsz=160, batch=4, workers=0, augment=False, shuffle=False, val=False, plots=False, close_mosaic=0,
             deterministic=True, threads=1)  # one thread: float order must not depend on what ran before in this process


def coco_subset(data_dir: Path, out: Path, n: int) -> Path:
    """The first ``n`` coco128 images (linked) with their official annotations, as a COCO folder."""
    src = data_dir / "coco128"
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "annotations").mkdir(exist_ok=True)
    js = json.loads(next((src / "annotations").glob("*.json")).read_text())
    images = sorted(js["images"], key=lambda r: r["id"])[:n]
    ids = {r["id"] for r in images}
    for r in images:
        (out / "images" / r["file_name"]).symlink_to(src / "images" / r["file_name"])
    js["images"], js["annotations"] = images, [a for a in js["annotations"] if a["image_id"] in ids]
    (out / "annotations" / "instances_train2017.json").write_text(json.dumps(js))
    return out


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "weights" / "last.state.safetensors"))


@pytest.mark.slow
def test_resume_after_kill_is_exact(data_dir, yolov8n_pt, tmp_path):
    data = coco_subset(data_dir, tmp_path / "d", 8)
    common = dict(SMALL, data=str(data), model=str(yolov8n_pt), epochs=2, project=str(tmp_path), augment=True,
                  mosaic=True, optimizer="SGD", warmup_epochs=0, nbs=8)
    straight = train(name="straight", **common).save_dir
    code = textwrap.dedent(f"""
        import os, signal
        from yolopt.train import train
        def kill(epoch, trainer):
            os.kill(os.getpid(), signal.SIGKILL)  # dies right after epoch 1's checkpoint, like a crash
        train(on_epoch_end=kill, name="killed", **{common!r})
    """)
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ}, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr[-2000:]
    killed = tmp_path / "killed"
    assert json.loads((killed / "args.json").read_text())["epochs"] == 2
    r = CliRunner().invoke(app, ["train", "--resume", str(killed)])  # as the README says: the run's own settings
    assert r.exit_code == 0 and "2 epochs done" in r.output, r.output[-2000:]
    assert [row.split(",")[0] for row in (killed / "results.csv").read_text().splitlines()[1:]] == ["1", "2"]
    a, b = weights(straight), weights(killed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the files are ordinary yolopt models
    assert load_model(killed / "weights" / "last.safetensors").spec.nc == 80


@pytest.mark.slow
def test_two_processes_equal_one(data_dir, yolov8n_pt, tmp_path):
    data = coco_subset(data_dir, tmp_path / "d", 24)
    common = dict(SMALL, data=str(data), model=str(yolov8n_pt), epochs=1, project=str(tmp_path), optimizer="SGD",
                  lr0=0.01, warmup_epochs=0, nbs=8, freeze_bn=True)
    one = train(name="one", **dict(common, batch=8)).save_dir
    two = train(name="two", devices=2, **common).save_dir
    a, b = weights(one), weights(two)
    start = load_model(yolov8n_pt).net.state_dict()
    moved = max((a[f"model.{k}"] - v).abs().max().item() for k, v in start.items() if v.is_floating_point()
                and ".bn." not in k)  # convolutions only: BN parameters were re-set by unfolding
    assert moved > 1e-3  # three SGD steps really changed the weights
    worst = max((a[k] - b[k]).abs().max().item() for k in a if k.startswith("model.") and a[k].is_floating_point())
    print(f"2 ranks x batch 4 vs 1 x batch 8, 3 SGD steps: largest weight difference {worst:.2e} (moved {moved:.2e})")
    assert worst <= 1e-5, worst


def test_batchnorm_statistics_frozen_by_default_only_when_fine_tuning():
    """Fine-tuning loaded weights keeps their BN statistics (measured on far more data); a fresh network trains them."""
    assert TrainConfig(model="x.pt").bn_frozen and not TrainConfig(model="yolov8n", nc=3).bn_frozen
    assert not TrainConfig(model="x.pt", freeze_bn=False).bn_frozen and TrainConfig(nc=3, freeze_bn=True).bn_frozen
    assert TrainConfig.from_dict(TrainConfig().to_dict()).freeze_bn is None  # resume decides the same way


def test_bad_input_fails_before_writing(data_dir, tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["train", "--data", str(tmp_path / "nope"), "--project", str(tmp_path / "runs")])
    assert r.exit_code == 2 and "no such file" in r.output
    r = runner.invoke(app, ["train", "--data", str(data_dir / "coco128"), "--imgsz", "100", "--project",
                            str(tmp_path / "runs")])
    assert r.exit_code == 2 and "--imgsz 100" in r.output
    r = runner.invoke(app, ["train", "--project", str(tmp_path / "runs")])
    assert r.exit_code == 2 and "give --data" in r.output
    with pytest.raises(TrainConfigError, match="--nc 3 but the dataset has 80"):
        train(data=str(data_dir / "coco128"), model="yolov8n", nc=3, project=str(tmp_path / "runs"), workers=0)
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_overfit_eight_images(data_dir, yolov8n_pt, tmp_path):
    """From the COCO yolov8n, 8 coco128 images at 320, no augmentation: the loss falls >= 60 %, mAP50 >= 0.9."""
    data = coco_subset(data_dir, tmp_path / "d", 8)
    # batch 2 (4 steps an epoch, no accumulation); BN statistics stay as loaded (the fine-tuning default)
    res = train(data=str(data), model=str(yolov8n_pt), epochs=20, imgsz=320, batch=2, nbs=2, workers=0,
                augment=False, shuffle=False, close_mosaic=0, optimizer="AdamW", lr0=0.0005, warmup_epochs=0,
                val_every=10_000, project=str(tmp_path), name="overfit", plots=False)
    total = [r["box_loss"] + r["cls_loss"] + r["dfl_loss"] for r in res.rows]
    print(f"overfit: total loss {total[0]:.4f} -> {total[-1]:.4f}, mAP50 {res.rows[-1]['map50']:.4f}")
    assert total[-1] <= 0.4 * total[0]
    m = val(str(data), res.best, imgsz=320, backend="torch", plots=False)  # the saved file scores the same
    assert m.metrics.map50 >= 0.9 and abs(m.metrics.map50 - res.rows[-1]["map50"]) < 1e-6


def test_validation_leaves_training_its_threads(data_dir, yolov8n_pt, tmp_path):
    """Validating builds a CPU backend, which sets torch's thread count for its streams: the epochs after it
    must train on the threads they had (once it left later epochs on one of two cores: 90 -> 150 s an epoch)."""
    data = coco_subset(data_dir, tmp_path / "d", 4)
    seen: list[int] = []
    before = torch.get_num_threads()
    torch.set_num_threads(3)  # a count no CPU backend here picks
    try:
        train(on_epoch_end=lambda epoch, t: seen.append(torch.get_num_threads()),
              **dict(SMALL, data=str(data), model=str(yolov8n_pt), epochs=2, val=True, threads=None,
                     project=str(tmp_path)))
    finally:
        torch.set_num_threads(before)
    assert seen == [3, 3]


def test_bf16_run_then_non_finite_losses_stop_and_keep_last_checkpoint(data_dir, yolov8n_pt, tmp_path):
    data = coco_subset(data_dir, tmp_path / "d", 8)

    def poison(epoch, trainer):  # from epoch 2 on every loss is NaN
        trainer.criterion = lambda *a, **k: (torch.tensor(float("nan")), torch.zeros(3))

    with pytest.raises(TrainingDiverged, match="3 non-finite losses or gradients in a row .* last good checkpoint"):
        train(on_epoch_end=poison, **dict(SMALL, data=str(data), model=str(yolov8n_pt), epochs=3, precision="bf16",
                                          max_bad_steps=3, project=str(tmp_path), name="nan"))
    run = tmp_path / "nan"
    rows = (run / "results.csv").read_text().splitlines()
    assert float(rows[1].split(",")[1]) > 0  # epoch 1 trained under bf16 autocast, finite
    assert rows[-1].split(",")[-1] == "2"  # epoch 2: both steps skipped and counted; epoch 3's first one stopped it
    last = load_model(run / "weights" / "last.safetensors")  # the last good checkpoint is intact
    assert all(torch.isfinite(v).all() for v in last.net.state_dict().values())
    assert not list((run / "weights").glob("*.tmp"))
