"""`yolopt optimize` on a tiny search (11 coco-val images, 2 backends, 2 input sizes): real measurements, real
files; the cache must skip measurement on a re-run, --max-drop 0 must pick an exact config, the recipe must
drive predict and serve, and bad inputs must end in one clear line."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="needs yolopt[onnx]")
pytest.importorskip("openvino", reason="needs yolopt[openvino]")

TINY = ("--backends", "onnxruntime,openvino", "--precisions", "fp32,int8", "--sizes", "640:608:32", "--sample", "4",
        "--screen-seconds", "0.2", "--final-seconds", "0.2", "--rounds", "1")


@pytest.fixture(scope="module")
def tiny(data_dir, tmp_path_factory) -> dict[str, Path]:
    """Every 20th coco-val image (11) with official annotations; 12 coco-val-extra images to calibrate on."""
    from test_quantize import _copy, _images, coco_val_subset

    root = tmp_path_factory.mktemp("optimize")
    val = coco_val_subset(data_dir, root / "val", 20)
    calib = _copy(_images(data_dir, "coco-val-extra", 12), root / "calib")
    return {"root": root, "val": val, "calib": calib, "cache": root / "cache"}


def _run(cli, tiny, out: str, *extra: str):
    return cli("optimize", "--model", "yolov8n", "--val", tiny["val"], "--calib", tiny["calib"], "--out",
               tiny["root"] / out, "--cache-dir", tiny["cache"], *TINY, *extra)


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "candidates.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def searched(cli, tiny):
    """The tiny search once (about a minute: two exports, two INT8 calibrations, every measurement)."""
    res = _run(cli, tiny, "deploy", "--max-drop", "0.05")
    assert res.returncode == 0, res.stderr
    return res, tiny["root"] / "deploy"


@pytest.mark.slow
def test_search_writes_winner_recipe_table_and_report(searched):
    res, out = searched
    recipe = json.loads((out / "deploy.json").read_text())
    assert res.stdout.strip() == str(out / "deploy.json")
    assert (out / recipe["model"]).is_file()
    rows = _rows(out)
    screened = [r for r in rows if r["stage"] == "screen"]
    # every backend x precision x size was considered: 2 backends x (fp32, int8) x 2 sizes
    assert {(r["backend"], r["precision"], r["imgsz"]) for r in screened} == {
        (b, p, s) for b in ("onnxruntime", "openvino") for p in ("fp32", "int8") for s in ("640", "608")}
    assert all(float(r["e2e_img_s"]) > 0 for r in screened)
    # the winner is within the budget and the fastest final config within it
    assert recipe["map50_95"] >= recipe["reference_map50_95"] - 0.05
    final = [r for r in rows if r["stage"] == "final" and r["within_budget"] == "True"]
    assert final and recipe["e2e_img_s"] == max(float(r["e2e_img_s"]) for r in final)
    win = next(r for r in final if float(r["e2e_img_s"]) == recipe["e2e_img_s"])
    assert (win["backend"], win["precision"], int(win["imgsz"]), int(win["batch"])) == (
        recipe["backend"], recipe["precision"], recipe["imgsz"], recipe["batch"])
    html = (out / "report.html").read_text()
    if (recipe["precision"], recipe["imgsz"]) != ("fp32", 640):  # what the budget bought, measured side by side
        base = [r for r in rows if r["stage"] == "baseline"]
        assert len(base) == 1 and base[0]["exact"] == "True" and "side by side" in html
    assert html.count("<tr") >= len(rows) + 1 and "Pareto" in html and "data:image/png;base64," in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html


@pytest.mark.slow
def test_rerun_takes_every_measurement_from_the_cache(cli, searched, tiny):
    res = _run(cli, tiny, "again", "--max-drop", "0.05")
    assert res.returncode == 0, res.stderr
    assert re.search(r"\(\d+ measurements from the cache, 0 new\)", res.stderr), res.stderr
    assert "quantizing" not in res.stderr  # the INT8 files are reused too
    measured = [r for r in _rows(tiny["root"] / "again") if r["e2e_img_s"]]
    assert measured and all(r["cached"] == "True" for r in measured)
    assert json.loads((tiny["root"] / "again" / "deploy.json").read_text()) == json.loads(
        (searched[1] / "deploy.json").read_text())


@pytest.mark.slow
def test_max_drop_0_picks_only_exact_configs(cli, searched, tiny):
    res = _run(cli, tiny, "exact", "--max-drop", "0")
    assert res.returncode == 0, res.stderr
    recipe = json.loads((tiny["root"] / "exact" / "deploy.json").read_text())
    assert recipe["precision"] == "fp32" and recipe["imgsz"] == 640
    assert recipe["map50_95"] == recipe["reference_map50_95"]
    ok = [r for r in _rows(tiny["root"] / "exact") if r["within_budget"] == "True"]
    assert ok and all(r["exact"] == "True" and r["precision"] == "fp32" and r["imgsz"] == "640" for r in ok)


@pytest.mark.slow
def test_predict_takes_the_recipe_and_flags_override_it(cli, searched, data_dir):
    from yolopt import Detector
    from yolopt.optimize.search import load_recipe

    _, out = searched
    img = data_dir / "samples" / "000000184324.jpg"
    r = load_recipe(out / "deploy.json")
    res = cli("predict", img, "--recipe", out / "deploy.json")
    assert res.returncode == 0, res.stderr
    assert f"on {r['backend']} (as asked)" in res.stderr
    got = json.loads(res.stdout.splitlines()[0])["detections"]
    det = Detector(r["model"], r["backend"], imgsz=r["imgsz"], conf=r["conf"], iou=r["iou"], max_det=r["max_det"])
    want = next(iter(det.predict([img])))
    assert len(got) == len(want) > 0
    np.testing.assert_allclose([d["box"] for d in got], want.boxes, atol=1e-2)
    res = cli("predict", img, "--recipe", out / "deploy.json", "--conf", "0.6")
    assert res.returncode == 0, res.stderr
    strong = json.loads(res.stdout.splitlines()[0])["detections"]
    assert 0 < len(strong) < len(got) and min(d["score"] for d in strong) >= 0.6


@pytest.mark.slow
def test_serve_takes_the_recipe_and_flags_override_it(searched, tmp_path):
    pytest.importorskip("starlette", reason="needs yolopt[serve]")
    from test_serve import Server, request

    _, out = searched
    recipe = json.loads((out / "deploy.json").read_text())
    srv = Server("--recipe", str(out / "deploy.json"), "--conf", "0.5", log=tmp_path / "serve.log")
    try:
        status, _, body, _ = request("GET", srv.port, "/v1/model")
    finally:
        srv.stop()
    info = json.loads(body)
    assert status == 200
    assert (info["backend"], info["imgsz"], info["batching"]["max_batch"]) == (
        recipe["backend"], recipe["imgsz"], recipe["batch"])
    assert info["defaults"]["conf"] == 0.5 and info["defaults"]["iou"] == recipe["iou"]


@pytest.mark.parametrize("args, says", [
    (("--max-drop", "1.5"), "--max-drop 1.5"),
    (("--objective", "fastest"), "--objective 'fastest'"),
    (("--backends", "nosuch"), "unknown backend 'nosuch'"),
    (("--precisions", "int4"), "--precisions: unknown int4"),
    (("--sizes", "640:300"), "input sizes 640..300"),
])
def test_bad_options_are_one_clear_error(cli, tiny, args, says):
    res = cli("optimize", "--val", tiny["val"], "--out", tiny["root"] / "bad", "--cache-dir", tiny["cache"], *args)
    assert res.returncode == 2 and says in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_missing_val_and_bad_recipe_name_the_input(cli, tmp_path):
    res = cli("optimize", "--val", tmp_path / "nowhere", "--out", tmp_path / "o", "--cache-dir", tmp_path / "c")
    assert res.returncode == 2 and str(tmp_path / "nowhere") in res.stderr, res.stderr
    bad = tmp_path / "deploy.json"
    bad.write_text('{"yolopt_recipe": 1, "model": "m.onnx", "imgsz": "big"}')
    res = cli("predict", "--recipe", bad)
    assert res.returncode == 2 and f"--recipe {bad}: field 'imgsz' is 'big', expected int" in res.stderr, res.stderr
    bad.write_text("not json")
    res = cli("serve", "--recipe", bad)
    assert res.returncode == 2 and f"--recipe {bad}: not a JSON recipe" in res.stderr, res.stderr


@pytest.mark.slow
def test_report_in_chromium_shows_every_candidate(searched, tmp_path):
    from browser import (
        chromium_or_skip,
        not_blank,
        page_checks,
        parse,
        render,
        table_with,
    )

    exe = chromium_or_skip()
    _, out = searched
    html = out / "report.html"
    facts = page_checks(html.read_text())
    assert facts.image_sizes and all(w > 100 and h > 100 for w, h in facts.image_sizes)  # the Pareto chart
    r = render(exe, html, tmp_path)
    not_blank(r.screenshot)
    dom = parse(r.dom)
    assert 'data-probe="done"' in r.dom, "the probe script did not run"
    widths = [int(im["data-natural-width"]) for im in dom.images]
    assert widths and min(widths) > 100, f"broken images in the browser: natural widths {widths}"
    rows = _rows(out)
    table = table_with(dom, "img/s")
    assert len(table["rows"]) == len(rows)  # every candidate is in the rendered table
    shown = {(t[1], t[2], t[3], t[4]) for t in table["rows"]}
    assert shown == {(c["backend"], c["precision"], c["imgsz"], c["batch"]) for c in rows}


@pytest.mark.slow
def test_latency_objective_picks_the_lowest_p50_at_batch_1(cli, searched, tiny):
    res = _run(cli, tiny, "latency", "--max-drop", "0.05", "--objective", "latency")
    assert res.returncode == 0, res.stderr
    recipe = json.loads((tiny["root"] / "latency" / "deploy.json").read_text())
    final = [r for r in _rows(tiny["root"] / "latency") if r["stage"] == "final" and r["within_budget"] == "True"]
    assert recipe["batch"] == 1 and all(r["batch"] == "1" for r in final)
    assert recipe["latency_p50_ms"] == min(float(r["latency_p50_ms"]) for r in final)


def test_spent_time_budget_measures_nothing_and_exits_1(cli, tiny, tmp_path):
    res = cli("optimize", "--val", tiny["val"], "--out", tmp_path / "o", "--cache-dir", tmp_path / "c",
              "--time-budget", "0.0001", "--backends", "onnxruntime", "--precisions", "fp32", "--sizes", "640:608")
    assert res.returncode == 1, res.stderr
    assert "error: No configuration" in res.stderr
    rows = _rows(tmp_path / "o")
    assert len(rows) == 2 and all(r["note"] == "not measured: time budget spent" for r in rows)
    assert not (tmp_path / "o" / "deploy.json").exists()
