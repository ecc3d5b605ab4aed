"""`yolopt optimize --pruned`: a pruned copy of the model is one more variant of the search, measured on its own
(speed and mAP, drop from the model's PyTorch FP32), never exact, shown in the table and the recipe; a file that
is not a pruned copy of --model is one clear error before any measurement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime", reason="needs yolopt[onnx]")
pytest.importorskip("torch_pruning", reason="needs yolopt[prune]")

from test_optimize_search import _rows, tiny  # noqa: F401 - the tiny search's data (a fixture)

# one backend, one precision, one size: the model and its pruned copy at 320
TINY = ("--backends", "onnxruntime", "--precisions", "fp32", "--sizes", "320:320", "--sample", "4",
        "--screen-seconds", "0.3", "--final-seconds", "0.2", "--rounds", "1", "--max-drop", "0.9")


@pytest.fixture(scope="module")
def pruned(tmp_path_factory) -> Path:
    """yolov8n with 30 % of every layer's channels removed, no fine-tuning (clearly faster, still detects)."""
    from yolopt.model import save_yolopt
    from yolopt.optimize.prune import prune

    return save_yolopt(prune("yolov8n", ratio=0.3).model, tmp_path_factory.mktemp("pruned") / "p30.safetensors")


@pytest.mark.slow
def test_pruned_model_is_searched_with_its_own_accuracy(cli, tiny, pruned):  # noqa: F811 - the fixture
    from yolopt.optimize.scoring import Scorer

    out = tiny["root"] / "deploy-pruned"
    res = cli("optimize", "--model", "yolov8n", "--val", tiny["val"], "--out", out, "--cache-dir", tiny["cache"],
              "--pruned", pruned, *TINY)
    assert res.returncode == 0, res.stderr
    rows = _rows(out)
    mine = [r for r in rows if r["source"] == str(pruned)]
    assert {(r["stage"], r["backend"], r["precision"], r["imgsz"]) for r in mine if r["stage"] == "screen"} == {
        ("screen", "onnxruntime", "fp32", "320")}
    assert all(r["exact"] == "False" for r in mine) and float(mine[0]["e2e_img_s"]) > 0
    scored = [r for r in mine if r["map50_95"]]
    assert scored, "the pruned variant was never scored"
    # its mAP is its own: yolopt val's pipeline on the pruned file gives the same figure
    m, _ = Scorer(tiny["val"], "onnxruntime", 320)(str(pruned), "fp32")
    assert float(scored[0]["map50_95"]) == pytest.approx(round(m, 4), abs=1e-4)
    recipe = json.loads((out / "deploy.json").read_text())
    base = recipe["reference_map50_95"]
    assert float(scored[0]["drop"]) == pytest.approx(base - round(m, 4), abs=2e-4)
    model_rows = [r for r in rows if r["source"] == "model" and r["map50_95"]]
    if model_rows:  # the unpruned model's own figure differs from the pruned one's
        assert model_rows[0]["map50_95"] != scored[0]["map50_95"]
    # the winner's row, recipe and model file agree on which model it runs
    win = next(r for r in rows if r["stage"] == "final" and float(r["e2e_img_s"]) == recipe["e2e_img_s"])
    assert recipe["pruned_model"] == (None if win["source"] == "model" else win["source"])
    if recipe["pruned_model"]:
        import onnx

        params = sum(t.dims[0] for t in onnx.load(str(out / recipe["model"])).graph.initializer if t.dims)
        full = sum(t.dims[0] for t in onnx.load(str(Path(_export("yolov8n")))).graph.initializer if t.dims)
        assert params < full  # the export of the pruned file, not of the model
    html = (out / "report.html").read_text()
    assert pruned.name in html and "source" in html


def _export(model: str) -> Path:
    from yolopt.export.cache import cached_export

    return cached_export(model, "onnx", imgsz=None)


@pytest.fixture()
def other_classes(tmp_path) -> Path:
    """yolov8n under other class names: a YOLOv8 model, but not a pruned copy of --model."""
    from yolopt.model import load_model, save_yolopt

    m = load_model("yolov8n")
    m.names = {k: f"thing{k}" for k in m.names}
    return save_yolopt(m, tmp_path / "other.safetensors")


def test_bad_pruned_file_is_one_clear_error_before_any_work(cli, tiny, tmp_path, other_classes):  # noqa: F811
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    for bad, says in ((junk, "not a yolopt/YOLOv8 model"), (other_classes, "class names differ"),
                      (tmp_path / "absent.safetensors", "no such file")):
        out = tmp_path / f"out-{bad.stem}"
        res = cli("optimize", "--val", tiny["val"], "--out", out, "--cache-dir", tmp_path / "cache",
                  "--pruned", bad, *TINY)
        assert res.returncode == 2 and f"--pruned {bad}: " in res.stderr and says in res.stderr, res.stderr
        assert "reference PyTorch" not in res.stderr and not out.exists()  # nothing measured, nothing written


def test_python_api_checks_pruned_files(tiny, other_classes, tmp_path):  # noqa: F811
    from yolopt.optimize.search import SearchError, optimize

    with pytest.raises(SearchError, match="class names differ"):
        optimize("yolov8n", tiny["val"], None, tmp_path / "out", backends=["onnxruntime"], precisions=["fp32"],
                 pruned=[other_classes], cache_root=tmp_path / "cache")
