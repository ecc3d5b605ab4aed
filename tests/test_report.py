"""The HTML report renderer: escaping, tables, images, atomic writes, machine facts; the confusion matrix."""

from __future__ import annotations

import os
import shlex

import numpy as np
import pytest
from browser import page_checks, table_with

from yolopt.errors import OutputError
from yolopt.eval.confusion import confusion_matrix
from yolopt.report import Code, Figure, KeyValues, Report, Table, Text, machine_facts
from yolopt.report.command import command_line

HOSTILE = '<script>alert("x")</script>&"\''


def test_user_data_is_escaped_everywhere():
    html = (Report(HOSTILE, subtitle=HOSTILE)
            .section(HOSTILE, Table([HOSTILE], [[HOSTILE]], caption=HOSTILE), KeyValues({HOSTILE: HOSTILE}),
                     Text(HOSTILE), Code(HOSTILE, caption=HOSTILE))).html()
    assert "<script>alert" not in html
    assert html.count("<script>") == 1  # the report's own sorting script
    table = table_with(page_checks(html).page, HOSTILE)
    assert table["rows"] == [[HOSTILE]]  # shown as the user's text, unchanged


def test_table_keeps_numbers_for_sorting_and_checks_its_shape():
    html = Table(["name", "mAP"], [["a", 0.39321], ["b", None], ["c", 12345.6]], highlight=0).html()
    assert 'data-v="0.39321"' in html and ">0.3932<" in html  # raw value sorts, 4 significant digits shown
    assert ">12346<" in html and 'data-v=""' in html
    assert 'class="highlight"' in html and "sortable" in html
    with pytest.raises(ValueError, match="row 1 has 1 cells, expected 2"):
        Table(["a", "b"], [[1, 2], [3]])
    with pytest.raises(ValueError, match="highlight=3"):
        Table(["a"], [[1]], highlight=3)
    assert "sortable" not in Table(["a"], [[1]], sortable=False).html()
    t = Table.from_records([{"x": 1, "y": 2}, {"y": 3, "z": 4}])
    assert t.columns == ["x", "y", "z"] and t.rows[1] == [None, 3, 4]


def test_text_markdown_subset():
    html = Text("Fast **and** `exact`, *really*.\n\n- one\n- two").html()
    assert html == ("<p>Fast <strong>and</strong> <code>exact</code>, <em>really</em>.</p>\n"
                    "<ul><li>one</li><li>two</li></ul>")


def test_figures_embed_decodable_images():
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(3, 2))
    fig.add_subplot().plot([0, 1], [1, 0])
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20"/></svg>'
    html = Report("figures").section("f", Figure.from_matplotlib(fig, "a line"), Figure.from_svg(svg, "a box")).html()
    facts = page_checks(html)
    assert facts.image_sizes[1] == (40, 20) and facts.image_sizes[0][0] > 100
    assert [im["alt"] for im in facts.page.images] == ["a line", "a box"]
    with pytest.raises(ValueError, match="not a PNG"):
        Figure.from_png(b"GIF89a....", "x")
    with pytest.raises(ValueError, match="no <svg>"):
        Figure.from_svg("<html></html>", "x")


def test_section_refuses_what_is_not_a_block():
    with pytest.raises(TypeError, match="'s': str is not a report block"):
        Report("t").section("s", "just a string")  # type: ignore[arg-type]


def test_write_is_atomic_and_names_an_unwritable_path(tmp_path):
    path = Report("t").section("s", Text("hello")).write(tmp_path / "sub" / "r.html")
    assert path.read_text().startswith("<!DOCTYPE html>") and os.listdir(path.parent) == ["r.html"]
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="file"):
        Report("t").write(tmp_path / "file" / "r.html")


def test_machine_facts_are_in_every_report():
    facts = dict(machine_facts().items)
    assert facts["Logical cores"] == os.cpu_count() and facts["torch"].startswith("2.")
    assert "CPU flags of interest" in facts
    html = Report("t").html()
    assert 'id="machine"' in html and Report("t", machine=False).html().count('id="machine"') == 0


def test_command_line_quotes_for_the_shell():
    cmd = command_line("val", "my data/x.json", model="m.pt", conf=0.001, html=None, all_classes=True,
                       model_list=["a", "b"])
    assert shlex.split(cmd) == ["yolopt", "val", "my data/x.json", "--model", "m.pt", "--conf", "0.001",
                                "--all-classes", "--model-list", "a", "--model-list", "b"]


def _gt(boxes: list[tuple[int, int, list[float]]]) -> dict:
    return {"images": [{"id": 1}, {"id": 2}], "categories": [{"id": 1, "name": "a"}, {"id": 3, "name": "b"}],
            "annotations": [{"id": i, "image_id": im, "category_id": c, "bbox": b, "iscrowd": 0}
                            for i, (im, c, b) in enumerate(boxes)]}


def test_confusion_matrix_counts_hits_confusions_misses_and_false_detections():
    gt = _gt([(1, 1, [0, 0, 10, 10]), (1, 3, [50, 50, 10, 10]), (2, 3, [0, 0, 20, 20]), (2, 1, [80, 80, 5, 5])])
    preds = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},     # a as a
             {"image_id": 1, "category_id": 1, "bbox": [0.5, 0, 10, 10], "score": 0.8},   # duplicate: false
             {"image_id": 1, "category_id": 1, "bbox": [50, 50, 10, 10], "score": 0.9},   # b as a
             {"image_id": 2, "category_id": 3, "bbox": [1, 1, 20, 20], "score": 0.5},     # b as b
             {"image_id": 2, "category_id": 3, "bbox": [200, 200, 9, 9], "score": 0.6},   # nothing there: false
             {"image_id": 2, "category_id": 1, "bbox": [80, 80, 5, 5], "score": 0.1}]    # below conf: a missed
    cm = confusion_matrix(gt, preds)
    assert cm.names == ["a", "b"] and cm.category_ids == [1, 3]
    np.testing.assert_array_equal(cm.counts, [[1, 0, 1],    # true a: as a, as b, missed
                                              [1, 1, 0],    # true b
                                              [1, 1, 0]])   # false detections as a, as b
    assert confusion_matrix(gt, preds, img_ids=[2]).counts.sum() == 3  # b as b, a missed, one false b


def test_confusion_matrix_of_the_ground_truth_itself_is_diagonal(gt_path):
    import json

    gt = json.loads(gt_path.read_text())
    preds = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
             for a in gt["annotations"] if not a["iscrowd"]]
    cm = confusion_matrix(gt, preds)
    k = len(cm.names)
    assert np.count_nonzero(cm.counts - np.diag(np.diag(cm.counts))) == 0
    per_class = np.bincount([cm.category_ids.index(p["category_id"]) for p in preds], minlength=k)
    np.testing.assert_array_equal(np.diag(cm.counts)[:k], per_class)
