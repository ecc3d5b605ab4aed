"""`yolopt optimize --pruned`: a pruned copy of the model is one more variant of the search, measured on its own
(speed and mAP, drop from the model's PyTorch FP32), never exact, shown in the table and the recipe; a file that
is not a pruned copy of --model is one clear error before any measurement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="needs yolopt[onnx]")
pytest.importorskip("torch_pruning", reason="needs yolopt[prune]")

from test_optimize_search import _rows, tiny  # noqa: F401 - the tiny search's data (a fixture)

# one backend, one precision, one size: the model and its pruned copies at 320
TINY = ("--backends", "onnxruntime", "--precisions", "fp32", "--sizes", "320:320", "--sample", "4",
        "--screen-seconds", "0.3", "--final-seconds", "0.2", "--rounds", "1")


@pytest.fixture(scope="module")
def pruned(tmp_path_factory) -> dict[float, Path]:
    """yolov8n with 5 % (still detects: about half its mAP) and 30 % (mAP 0 without fine-tuning, clearly faster)
    of every layer's channels removed, no fine-tuning."""
    from yolopt.model import save_yolopt
    from yolopt.optimize.prune import prune

    folder = tmp_path_factory.mktemp("pruned")
    return {r: save_yolopt(prune("yolov8n", ratio=r).model, folder / f"p{int(r * 100):02d}.safetensors")
            for r in (0.05, 0.3)}


@pytest.mark.slow
def test_pruned_models_are_searched_with_their_own_accuracy(cli, tiny, pruned):  # noqa: F811 - the fixture
    from yolopt.optimize.scoring import Scorer

    files = ",".join(map(str, pruned.values()))
    # a budget nothing meets: every variant is scored (none can be ruled out by a faster one within budget)
    out = tiny["root"] / "pruned-tight"
    res = cli("optimize", "--model", "yolov8n", "--val", tiny["val"], "--out", out, "--cache-dir", tiny["cache"],
              "--pruned", files, "--max-drop", "0.01", *TINY)
    assert res.returncode == 1 and "No configuration reached" in res.stderr, res.stderr
    rows = {r["source"]: r for r in _rows(out) if r["stage"] == "screen"}
    assert set(rows) == {"model", *map(str, pruned.values())}
    assert all(r["exact"] == "False" and float(r["e2e_img_s"]) > 0 and r["map50_95"] for r in rows.values())
    # each mAP is the file's own: yolopt val's pipeline on that file gives the same figure
    for source, model in [("model", "yolov8n"), *((str(p), str(p)) for p in pruned.values())]:
        m, _ = Scorer(tiny["val"], "onnxruntime", 320)(model, "fp32")
        assert float(rows[source]["map50_95"]) == pytest.approx(round(m, 4), abs=1e-4), source
    assert 0 < float(rows[str(pruned[0.05])]["map50_95"]) < float(rows["model"]["map50_95"])

    # --max-drop 0 keeps FP32 results: the pruned files are ruled out unscored (measurements from the cache)
    out = tiny["root"] / "pruned-exact"
    res = cli("optimize", "--model", "yolov8n", "--val", tiny["val"], "--out", out, "--cache-dir", tiny["cache"],
              "--pruned", files, "--max-drop", "0", *TINY)
    assert res.returncode == 1, res.stderr
    assert all(r["note"].startswith("not exact") and not r["map50_95"] for r in _rows(out) if r["source"] != "model")

    # a loose budget, measurements from the cache: the winner's row, recipe and model file agree on its model
    out = tiny["root"] / "pruned-loose"
    res = cli("optimize", "--model", "yolov8n", "--val", tiny["val"], "--out", out, "--cache-dir", tiny["cache"],
              "--pruned", files, "--max-drop", "0.9", *TINY)
    assert res.returncode == 0, res.stderr
    recipe = json.loads((out / "deploy.json").read_text())
    win = next(r for r in _rows(out) if r["stage"] == "final" and float(r["e2e_img_s"]) == recipe["e2e_img_s"])
    assert recipe["pruned_model"] == (None if win["source"] == "model" else win["source"])
    assert float(win["drop"]) == pytest.approx(recipe["reference_map50_95"] - float(win["map50_95"]), abs=2e-4)
    if recipe["pruned_model"]:
        import onnx

        def weights(path: Path) -> int:
            return sum(int(np.prod(t.dims)) for t in onnx.load(str(path)).graph.initializer)

        assert weights(out / recipe["model"]) < weights(_export("yolov8n"))  # the pruned file's export
        assert Path(recipe["pruned_model"]).name in (out / "report.html").read_text()


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
