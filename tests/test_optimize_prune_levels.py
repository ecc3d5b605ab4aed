"""`yolopt optimize --prune LEVELS`: the model pruned to each MACs level (sensitivity allocation), recovered for a
bounded budget and searched like a --pruned file; made once and kept in the cache (a re-run neither prunes nor
trains); bad pruning input is one clear error before any work. Tiny: torch only, 160 px, 4 images to prune and
fine-tune on (label-free, the unpruned model as teacher), 11 coco-val images to score on."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytest.importorskip("torch_pruning", reason="needs yolopt[prune]")

TINY = ("--backends", "torch", "--precisions", "fp32", "--sizes", "160:160", "--sample", "4", "--screen-seconds",
        "0.2", "--final-seconds", "0.2", "--rounds", "1", "--max-drop", "0.9", "--prune-batch", "4",
        "--prune-workers", "0")


@pytest.fixture(scope="module")
def tiny(data_dir, tmp_path_factory) -> dict[str, Path]:
    """Every 20th coco-val image (11, official annotations) to score on; 4 unlabelled coco-val-extra images to
    prune and fine-tune on."""
    from test_quantize import _copy, _images, coco_val_subset

    root = tmp_path_factory.mktemp("prune-levels")
    return {"root": root, "val": coco_val_subset(data_dir, root / "val", 20), "cache": root / "cache",
            "free": _copy(_images(data_dir, "coco-val-extra", 4), root / "free")}


def _run(cli, tiny, out: str, *extra: object):
    return cli("optimize", "--model", "yolov8n", "--val", tiny["val"], "--out", tiny["root"] / out, "--cache-dir",
               tiny["cache"], *TINY, *extra)


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "candidates.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_level_is_pruned_recovered_searched_then_reused_from_the_cache(cli, tiny):
    from yolopt.model import load_model
    from yolopt.optimize.scoring import Scorer

    level = ("--prune", "0.8", "--prune-data", tiny["free"], "--prune-epochs", "1")
    res = _run(cli, tiny, "first", *level)
    assert res.returncode == 0, res.stderr
    assert "pruning to 0.8 of the MACs (sensitivity allocation on 4 images" in res.stderr
    assert "fine-tuning 'macs0.8': 1 epochs on" in res.stderr
    out = tiny["root"] / "first"
    screened = {r["source"]: r for r in _rows(out) if r["stage"] == "screen"}
    assert len(screened) == 2 and "model" in screened
    source = next(s for s in screened if s != "model")
    path = Path(source)
    assert path.is_file() and (tiny["cache"] / "pruned") in path.parents

    # the file is yolopt prune's sensitivity allocation at that level, then fine-tuned label-free by the teacher
    made = load_model(path)
    assert made.meta["pruned"]["scope"] == "sensitivity" and made.meta["pruned"]["target_macs"] == 0.8
    assert made.meta["pruned"]["macs_fraction"] <= 0.81
    assert made.meta["train"]["teacher"] == "yolov8n" and made.meta["train"]["data"] == str(tiny["free"])
    # searched like a --pruned file, never exact: its own mAP (yolopt val's pipeline on that file) when scored;
    # at 160 px on 4 images the two screen at about the same speed, and when the pruned one screened slower than
    # the model (within the budget) it could not win, so the search skipped its scoring and says so
    row = screened[source]
    assert row["exact"] == "False"
    if row["map50_95"]:
        m, _ = Scorer(tiny["val"], "torch", 160)(str(path), "fp32")
        assert float(row["map50_95"]) == pytest.approx(round(m, 4), abs=1e-4)
    else:
        from yolopt.optimize.search.strategy import MARGIN

        assert row["note"] == "not scored: slower than a config within the budget"
        assert float(row["e2e_img_s"]) <= MARGIN * float(screened["model"]["e2e_img_s"]) * 1.001  # csv rounding
    # which level and recovery budget made it: in every row of it, the report, and the recipe when it won
    said = "MACs 0.8 (kept "
    assert all(said in r["pruning"] and "1 epoch of fine-tuning" in r["pruning"] and "label-free" in r["pruning"]
               for r in _rows(out) if r["source"] == source)
    assert all(r["pruning"] == "" for r in _rows(out) if r["source"] == "model")
    assert said in (out / "report.html").read_text() and "--prune 0.8" in (out / "report.html").read_text()
    recipe = json.loads((out / "deploy.json").read_text())
    if recipe["pruned_model"]:
        assert recipe["pruned_model"] == source
        assert recipe["pruning"]["level"] == 0.8 and recipe["pruning"]["epochs"] == 1
    else:
        assert recipe["pruning"] is None

    # a re-run finds the pruned model in the cache: no pruning, no training, the same file, measurements cached
    stamp = path.stat().st_mtime_ns
    again = _run(cli, tiny, "second", *level)
    assert again.returncode == 0, again.stderr
    assert "sensitivity allocation on" not in again.stderr and "fine-tuning 'macs" not in again.stderr
    assert f"from the cache ({path})" in again.stderr
    rows = [r for r in _rows(tiny["root"] / "second") if r["stage"] == "screen"]
    assert {r["source"] for r in rows} == set(screened) and path.stat().st_mtime_ns == stamp
    assert all(r["cached"] == "True" for r in rows)


def test_cache_key_follows_every_setting_that_changes_the_model(tiny, data_dir):
    from yolopt.optimize.search.levels import PruneLevels

    base = PruneLevels((0.8,), str(tiny["free"]), 1, "auto", 160, 4)
    key = base.key("w", 0.8, "yolov8n")
    assert key == PruneLevels((0.8, 0.7), str(tiny["free"]), 1, "auto", 160, 4, workers=0).key("w", 0.8, "yolov8n")
    others = [base.key("v", 0.8, "yolov8n"), base.key("w", 0.7, "yolov8n"),
              PruneLevels((0.8,), str(tiny["free"]), 2, "auto", 160, 4).key("w", 0.8, "yolov8n"),
              PruneLevels((0.8,), str(tiny["free"]), 0, "auto", 160, 4).key("w", 0.8, "yolov8n"),
              PruneLevels((0.8,), str(tiny["free"]), 1, None, 160, 4).key("w", 0.8, "yolov8n"),
              PruneLevels((0.8,), str(tiny["free"]), 1, "auto", 192, 4).key("w", 0.8, "yolov8n"),
              PruneLevels((0.8,), str(tiny["free"]), 1, "auto", 160, 8).key("w", 0.8, "yolov8n"),
              PruneLevels((0.8,), str(tiny["val"]), 1, "auto", 160, 4).key("w", 0.8, "yolov8n")]
    assert len({key, *others}) == len(others) + 1


@pytest.fixture()
def other_classes(tmp_path) -> Path:
    """yolov8n under other class names: a YOLOv8 detector, but no teacher for it."""
    from yolopt.model import load_model, save_yolopt

    m = load_model("yolov8n")
    m.names = {k: f"thing{k}" for k in m.names}
    return save_yolopt(m, tmp_path / "other.safetensors")


@pytest.mark.parametrize("args, says", [
    (("--prune", "1.2"), "must be a fraction of the MACs in (0, 1)"),
    (("--prune", "0"), "must be a fraction of the MACs in (0, 1)"),
    (("--prune", "0.8,x"), "--prune '0.8,x': expected comma-separated fractions"),
    (("--prune", "0.8"), "--prune needs --prune-data"),
    (("--prune", "0.8", "--prune-data", "{root}/absent"), "--prune-data {root}/absent: no such file or folder"),
    (("--prune-data", "{free}"), "--prune-data is for --prune LEVELS"),
    (("--prune", "0.8", "--prune-data", "{free}", "--prune-teacher", "none"),
     "is a folder of unlabelled images: fine-tuning on it needs a teacher"),
    (("--prune", "0.8", "--prune-data", "{val}"), "of its images are --val images"),
    (("--prune", "0.8", "--prune-data", "{free}", "--prune-teacher", "{other}"),
     "--prune-teacher {other}: it predicts 80 classes, --model has 80; class 0 is 'thing0'"),
    (("--prune", "0.8", "--prune-data", "{free}", "--prune-epochs", "-1"), "--prune-epochs -1: expected 0"),
])
def test_bad_pruning_input_is_one_clear_error_before_any_work(cli, tiny, tmp_path, other_classes, args, says):
    fill = {"root": tmp_path, "free": tiny["free"], "val": tiny["val"], "other": other_classes}
    out = tmp_path / "out"
    res = cli("optimize", "--model", "yolov8n", "--val", tiny["val"], "--out", out, "--cache-dir",
              tmp_path / "cache", *TINY, *(a.format(**fill) for a in args))
    assert res.returncode == 2 and says.format(**fill) in res.stderr, res.stderr
    assert "pruning to" not in res.stderr and "reference PyTorch" not in res.stderr  # nothing pruned or measured
    assert not out.exists() and not (tmp_path / "cache" / "pruned").exists()


def test_level_not_started_when_the_time_budget_is_spent(cli, tiny, tmp_path):
    res = cli("optimize", "--model", "yolov8n", "--val", tiny["val"], "--out", tmp_path / "out", "--cache-dir",
              tmp_path / "cache", *TINY, "--prune", "0.7", "--prune-data", tiny["free"], "--time-budget", "0.0001")
    assert res.returncode == 1, res.stderr
    assert "pruning to 0.7 of the MACs: not started, time budget spent" in res.stderr
    assert not (tmp_path / "cache" / "pruned").exists()


def test_python_api_checks_levels(tiny, tmp_path):
    from yolopt.optimize.search import SearchError, optimize
    from yolopt.optimize.search.levels import PruneLevels

    with pytest.raises(SearchError, match=r"--prune 1.5: every level must be a fraction of the MACs in \(0, 1\)"):
        optimize("yolov8n", tiny["val"], None, tmp_path / "out", backends=["torch"], precisions=["fp32"],
                 prune=PruneLevels((1.5,), str(tiny["free"])), cache_root=tmp_path / "cache")
    assert not (tmp_path / "out").exists()
