"""Pruning that keeps the network's function (bias compensation, taylor importance) and recovery inside prune:
fine-tuning with and without a teacher, the report's recovery rows, and bad recovery input."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("torch_pruning", reason="needs yolopt[prune]")

from yolopt.model import load_model  # noqa: E402
from yolopt.optimize.prune import PruneError, prune  # noqa: E402
from yolopt.optimize.prune.pruner import splittable, stat_batches  # noqa: E402
from yolopt.optimize.prune.taylor import labelled_batches  # noqa: E402

from browser import page_checks, table_with  # noqa: E402
from test_train_run import coco_subset  # noqa: E402


@pytest.fixture(scope="module")
def data(data_dir, tmp_path_factory):
    return coco_subset(data_dir, tmp_path_factory.mktemp("rec") / "d", 8)


@pytest.fixture(scope="module")
def batches(data):
    return stat_batches(data / "images", 160, 8)


def _outputs(net, x):
    with torch.no_grad():
        return net.eval()(x)


def test_bias_compensation_keeps_the_pruned_function_closer(yolov8n_pt, batches):
    x = torch.cat(batches[:2]) if batches[0].shape == batches[1].shape else batches[0]
    ref = _outputs(splittable(load_model(yolov8n_pt).net), x)
    plain = prune(yolov8n_pt, ratio=0.1)
    comp = prune(yolov8n_pt, ratio=0.1, batches=batches)
    assert plain.channels == comp.channels  # same channels removed (l1 ranks the same; BN unfolding keeps eval)
    err = [(_outputs(r.model.net, x)[:, :4] - ref[:, :4]).abs().mean().item() for r in (plain, comp)]
    assert err[1] < 0.7 * err[0], err


def test_taylor_ranks_by_the_loss_not_by_magnitude(yolov8n_pt, data, batches):
    labelled = labelled_batches(data, 160, 8, 4)
    kept = {}
    for imp in ("l1", "taylor"):
        res = prune(yolov8n_pt, ratio=0.25, importance=imp, batches=batches, labelled=labelled)
        net = res.model.net
        kept[imp] = {n: m.weight.detach().abs().sum((1, 2, 3)) for n, m in net.named_modules()
                     if isinstance(m, torch.nn.Conv2d) and m.weight.shape[1] > 3}
    assert kept["l1"].keys() == kept["taylor"].keys()
    differ = [n for n in kept["l1"] if kept["l1"][n].shape != kept["taylor"][n].shape
              or not torch.allclose(kept["l1"][n], kept["taylor"][n])]
    assert len(differ) > len(kept["l1"]) // 2, differ
    with pytest.raises(PruneError, match="needs labelled training images"):
        prune(yolov8n_pt, ratio=0.25, importance="taylor")


@pytest.mark.slow
def test_prune_then_finetune_recovers_map(yolov8n_pt, data, tmp_path, cli):
    """Taylor-pruned (ratio 0.15 per layer), then 3 epochs on the 8 images: fine-tuning (with and without the
    teacher) scores above the pruned model on those images, and the report lists every row."""
    out = tmp_path / "p"
    p = cli("prune", "--model", yolov8n_pt, "--ratio", "0.15", "--importance", "taylor", "--data", data,
            "--finetune-epochs", "3", "--teacher", "auto", "--imgsz", "160", "--runtimes", "torch-fp32",
            "--val", data, "--ft-batch", "4", "--ft-workers", "0", "--ft-threads", "1", "--ft-lr0", "0.001", "--out", out, "--html", out / "report.html")
    assert p.returncode == 0, p.stderr
    rep = json.loads((out / "report.json").read_text())
    ap = {r["model"]: r["map50_95"] for r in rep["rows"]}
    assert list(ap) == ["original", "pruned (before fine-tuning)", "pruned + fine-tuned",
                        "pruned + fine-tuned + teacher"]
    assert ap["pruned + fine-tuned"] > ap["pruned (before fine-tuning)"]
    assert ap["pruned + fine-tuned + teacher"] > ap["pruned (before fine-tuning)"]
    assert [f["name"] for f in rep["finetune"]] == ["plain", "teacher"] and rep["finetune"][1]["teacher"]
    tuned = load_model(out / "recovered.safetensors")
    assert tuned.meta["train"]["teacher"] and "## Fine-tuning" in (out / "report.md").read_text()
    assert "pruned + fine-tuned + teacher" in p.stdout
    facts = page_checks((out / "report.html").read_text())
    assert [r[0] for r in table_with(facts.page, "label-free")["rows"]] == ["plain", "teacher"]
    assert [r[0] for r in table_with(facts.page, "median |scale|")["rows"]] == ["original", "pruned"]


def test_recovery_bad_input_exits_2_before_work(tmp_path, cli, data, data_dir):
    cases = [(["--finetune-epochs", "2"], "needs both --data"),
             (["--data", data / "images", "--finetune-epochs", "1"], "needs --teacher"),
             (["--data", tmp_path / "none", "--finetune-epochs", "1"], "no such file"),
             (["--data", data, "--finetune-epochs", "1", "--teacher", data_dir / "weights" / "nope.pt"],
              "--teacher .*no such file"),
             (["--data", data, "--finetune-epochs", "1", "--teacher", data_dir / "weights" / "yolov8n-nc3-random.pt"],
              "predicts 3 classes, the pruned model has 80"),
             (["--data", data / "images", "--importance", "taylor"], "needs labelled training data")]
    for args, msg in cases:
        p = cli("prune", "--ratio", "0.2", "--runtimes", "torch-fp32", "--out", tmp_path / "o", *args)
        assert p.returncode == 2 and __import__("re").search(msg, p.stderr), (args, p.stderr)
        assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_sweep_with_a_recovery_budget(data, tmp_path, cli):
    out = tmp_path / "s"
    p = cli("prune", "--sweep", "0.9", "--data", data, "--finetune-epochs", "1", "--teacher", "auto",
            "--imgsz", "160", "--runtimes", "torch-fp32", "--val", data, "--ft-batch", "4", "--ft-workers", "0",
            "--ft-threads", "1", "--out", out)
    assert p.returncode == 0, p.stderr
    rep = json.loads((out / "sweep.json").read_text())
    assert rep["recovery"].startswith("1 epochs on") and "teacher" in rep["recovery"]
    assert [f["name"] for f in rep["finetune"]] == ["target0.9"] and len(rep["rows"]) == 2
    assert all(r["map50_95"] > 0 for r in rep["rows"])
    assert "Recovery: 1 epochs" in (out / "sweep.md").read_text()
