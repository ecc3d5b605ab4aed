"""``yolopt val --html`` on 8 coco-val images at imgsz 320, checked from its HTML and in headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from browser import chromium_or_skip, not_blank, page_checks, parse, render, table_with


@pytest.fixture(scope="module")
def val_html(cli, data_dir: Path, yolov8n_pt: Path, tmp_path_factory) -> tuple[Path, dict]:
    """The report and metrics.json of a real val run (8 images, one of them with a hostile file name)."""
    tmp = tmp_path_factory.mktemp("val-html")
    gt = json.loads((data_dir / "coco-val" / "annotations" / "instances_val2017_subset.json").read_text())
    images = gt["images"][:8]
    ids = {im["id"] for im in images}
    sub = {**gt, "images": images, "annotations": [a for a in gt["annotations"] if a["image_id"] in ids],
           "categories": [{**c, "name": "<b>cat</b>" if c["name"] == "cat" else c["name"]} for c in gt["categories"]]}
    ann = tmp / "instances_8.json"
    ann.write_text(json.dumps(sub))
    html = tmp / "report" / "val.html"
    p = cli("val", ann, "--images", data_dir / "coco-val" / "images", "--model", yolov8n_pt, "--imgsz", "320",
            "--backend", "torch", "--save-dir", tmp / "val", "--html", html)
    assert p.returncode == 0, p.stderr
    return html, json.loads((tmp / "val" / "metrics.json").read_text())


def test_unwritable_html_path_is_named_and_exits_2(cli, val_html, tmp_path):
    """The scoring still ran and its files are written; the report's path is named in the error."""
    (tmp_path / "a_file").write_text("")
    metrics = val_html[0].parents[1] / "val" / "metrics.json"
    p = cli("val", val_html[0].parents[1] / "instances_8.json", "--predictions", metrics.with_name("predictions.json"),
            "--save-dir", tmp_path / "val", "--html", tmp_path / "a_file" / "r.html")
    assert p.returncode == 2 and "a_file/r.html" in p.stderr, p.stderr
    assert (tmp_path / "val" / "metrics.json").is_file()


def test_val_html_has_every_class_row_and_decodable_images(val_html):
    html, metrics = val_html
    text = html.read_text()
    facts = page_checks(text)
    shown = [c for c in metrics["per_class"] if c["images"]]
    table = table_with(facts.page, "AP50-95")
    assert [r[0] for r in table["rows"]] == [c["name"] for c in shown]
    for row, c in zip(table["rows"], shown):
        assert float(row[-1]) == pytest.approx(c["ap50_95"], abs=5e-4)
    assert len(facts.image_sizes) == 2 and all(w > 100 and h > 100 for w, h in facts.image_sizes)  # PR, confusion
    assert f"{metrics['map50_95']:.4g}" in text
    assert "<b>cat</b>" not in text  # names from user data are escaped
    assert "AMD" in text or "CPU" in text  # machine facts


def test_val_html_in_chromium(val_html, tmp_path):
    exe = chromium_or_skip()
    html, metrics = val_html
    r = render(exe, html, tmp_path)
    not_blank(r.screenshot)
    assert r.screenshot.shape[:2] == (1600, 1200)
    dom = parse(r.dom)
    assert 'data-probe="done"' in r.dom, "the probe script did not run"
    widths = [int(im["data-natural-width"]) for im in dom.images]
    assert len(widths) == 2 and min(widths) > 100, f"broken images in the browser: natural widths {widths}"
    table = table_with(dom, "AP50-95")
    shown = [c for c in metrics["per_class"] if c["images"]]
    assert len(table["rows"]) == len(shown)  # every class row is in the rendered page
    assert table["attrs"].get("data-probe-sorted") == "descending"
    ap = [float(row[-1]) for row in table["rows"]]
    assert ap == sorted(ap, reverse=True), "clicking the AP50-95 header twice did not sort descending"
