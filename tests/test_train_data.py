"""Training data pipeline: letterboxed batches, augmentation that keeps boxes on their objects, seeding, bad input."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("albumentations")

from yolopt.data.decode import read_image  # noqa: E402
from yolopt.data.letterbox import letterbox  # noqa: E402
from yolopt.train.augment import Hyp  # noqa: E402
from yolopt.train.dataset import DatasetError, TrainDataset, load_records  # noqa: E402
from yolopt.train.loader import TrainLoader, build_train_loader  # noqa: E402

COCO128 = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco128"
if not COCO128.exists():
    COCO128 = Path("/work/shared/data/coco128")
COLOURS = np.array([[40, 40, 230], [40, 210, 40], [230, 60, 40]], np.uint8)  # BGR: class 0 red, 1 green, 2 blue


def make_yolo(root: Path, n: int = 6, seed: int = 0) -> Path:
    """A YOLO dataset: gray images with red/green/blue rectangles, each labelled with its colour's class."""
    rng = np.random.default_rng(seed)
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    for i in range(n):
        h, w = int(rng.integers(90, 140)), int(rng.integers(90, 140))
        img = np.full((h, w, 3), 114, np.uint8)
        lines = []
        for c in range(3):
            bw, bh = int(rng.integers(15, w // 3)), int(rng.integers(15, h // 3))
            x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            if (img[y0 : y0 + bh, x0 : x0 + bw] != 114).any():
                continue  # keep rectangles apart, so each box holds one colour
            img[y0 : y0 + bh, x0 : x0 + bw] = COLOURS[c]
            lines.append(f"{c} {(x0 + bw / 2) / w} {(y0 + bh / 2) / h} {bw / w} {bh / h}")
        cv2.imwrite(str(root / "images" / "train" / f"{i}.png"), img)
        (root / "labels" / "train" / f"{i}.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/train\n"
                                    "names: [red, green, blue]\n")
    return root / "data.yaml"


def batches(loader, epochs=(0,)):
    out = []
    for e in epochs:
        loader.set_epoch(e)
        out += [(b.img.clone(), b.targets.clone(), b.paths) for b in loader]
    return out


def test_no_augmentation_is_the_inference_letterbox_with_boxes_moved_along():
    loader = build_train_loader(COCO128, 320, 4, workers=0, augment=False, shuffle=False)
    assert loader.dataset.nc == 80 and loader.dataset.names[0] == "person" and len(loader) == 32
    b = next(iter(loader))
    assert b.img.dtype == torch.uint8 and tuple(b.img.shape) == (4, 3, 320, 320)
    import json

    gt = json.loads(next((COCO128 / "annotations").glob("*.json")).read_text())
    img0 = next(im for im in gt["images"] if im["file_name"] == Path(b.paths[0]).name)
    ref, info = letterbox(read_image(b.paths[0]), 320, rect=False)
    assert torch.equal(b.img[0], torch.from_numpy(ref[..., ::-1].transpose(2, 0, 1).copy()))
    boxes = np.array([a["bbox"] for a in gt["annotations"] if a["image_id"] == img0["id"] and not a["iscrowd"]])
    xyxy = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], 1) * info.gain + np.tile(info.pad, 2)
    t = b.targets[b.targets[:, 0] == 0, 2:].numpy() * 320
    got = np.concatenate([t[:, :2] - t[:, 2:] / 2, t[:, :2] + t[:, 2:] / 2], 1)
    np.testing.assert_allclose(np.sort(got, 0), np.sort(xyxy, 0), atol=0.05)


def test_augmented_boxes_stay_on_their_coloured_objects(tmp_path):
    loader = build_train_loader(make_yolo(tmp_path, 8), 160, 4, workers=0, seed=3)
    n_boxes = 0
    for epoch in (0, 1):
        loader.set_epoch(epoch)
        for b in loader:
            img = b.img.numpy().transpose(0, 2, 3, 1).astype(np.int16)  # RGB
            dom = img.argmax(-1)  # 0 R, 1 G, 2 B
            vivid = (img.max(-1) - img.min(-1)) > 15  # the gray background has none; HSV jitter may dull colours a lot
            covered = np.zeros(vivid.shape, bool)
            for k, c, cx, cy, w, h in b.targets.numpy():
                x0, x1 = int(round((cx - w / 2) * 160)), int(round((cx + w / 2) * 160))
                y0, y1 = int(round((cy - h / 2) * 160)), int(round((cy + h / 2) * 160))
                inner = (slice(y0 + 1, y1 - 1), slice(x0 + 1, x1 - 1))  # edges blur under interpolation
                k = int(k)
                own = (vivid[k][inner] & (dom[k][inner] == int(c))).mean()
                assert own > 0.8, f"box of class {int(c)} covers only {own:.0%} of its colour"
                covered[k, max(y0 - 1, 0) : y1 + 1, max(x0 - 1, 0) : x1 + 1] = True
                n_boxes += 1
            assert (vivid & ~covered).sum() < 0.01 * vivid.size  # no coloured object is left without its box
            t = b.targets[:, 2:].numpy()
            assert (t[:, :2] - t[:, 2:] / 2 >= -1e-6).all() and (t[:, :2] + t[:, 2:] / 2 <= 1 + 1e-6).all()  # clipped
            assert (t[:, 2:] * 160 >= 2 - 1e-3).all()  # slivers dropped
    assert n_boxes > 20


def test_degenerate_boxes_are_dropped(tmp_path):
    data = make_yolo(tmp_path, 4)
    for lab in (tmp_path / "labels" / "train").glob("*.txt"):  # a sub-pixel box in every image
        lab.write_text(lab.read_text() + "0 0.5 0.5 0.004 0.004\n")
    loader = build_train_loader(data, 160, 4, workers=0, seed=0, mosaic=False)
    t = next(iter(loader)).targets
    assert len(t) and (t[:, 4:] * 160 >= 2 - 1e-3).all()


def test_same_seed_same_batches_whatever_the_worker_count(tmp_path):
    data = make_yolo(tmp_path, 6)
    a = batches(build_train_loader(data, 160, 4, workers=0, seed=7), (0, 1))
    b = batches(build_train_loader(data, 160, 4, workers=2, seed=7), (0, 1))
    c = batches(build_train_loader(data, 160, 4, workers=1, seed=8), (0,))
    for (ia, ta, pa), (ib, tb, pb) in zip(a, b):
        assert pa == pb and torch.equal(ia, ib) and torch.equal(ta, tb)
    assert not torch.equal(a[0][0], a[2][0])  # epoch 1 differs from epoch 0
    assert not torch.equal(a[0][0], c[0][0])  # another seed differs


def test_cache_ram_gives_the_same_batches(tmp_path):
    data = make_yolo(tmp_path, 5)
    plain = batches(build_train_loader(data, 160, 2, workers=0, seed=1))
    cached = build_train_loader(data, 160, 2, workers=0, seed=1, cache="ram")
    assert cached.dataset._cache is not None and all(c is not None for c in cached.dataset._cache)
    for (ia, ta, _), (ib, tb, _) in zip(plain, batches(cached)):
        assert torch.equal(ia, ib) and torch.equal(ta, tb)


def test_close_mosaic_switches_to_single_images(tmp_path):
    data = make_yolo(tmp_path, 6)
    closed = build_train_loader(data, 160, 3, workers=1, seed=2)
    first = batches(closed)
    closed.close_mosaic()
    assert not closed.mosaic
    no_mosaic = batches(build_train_loader(data, 160, 3, workers=1, seed=2, mosaic=False))
    for (ia, ta, _), (ib, tb, _) in zip(batches(closed), no_mosaic):
        assert torch.equal(ia, ib) and torch.equal(ta, tb)
    assert not torch.equal(first[0][0], no_mosaic[0][0])


def test_ranks_split_the_epoch_between_them():
    ranks = [build_train_loader(COCO128, 160, 8, workers=0, augment=False, seed=0, rank=r, world_size=2)
             for r in (0, 1)]
    one = build_train_loader(COCO128, 160, 8, workers=0, augment=False, seed=0)
    assert len(ranks[0]) == len(ranks[1]) == 8 and len(one) == 16
    paths = [p for r in ranks for b in r for p in b.paths]
    assert sorted(paths) == sorted(p for b in one for p in b.paths)


def test_rect_batches_follow_the_image_shapes():
    loader = build_train_loader(COCO128, 320, 16, workers=0, rect=True, shuffle=False)
    shapes = [tuple(b.img.shape[2:]) for b in loader]
    assert all(max(s) == 320 and min(s) % 32 == 0 for s in shapes)
    assert len(set(shapes)) > 1 and min(min(s) for s in shapes) < 320


def test_bad_images_and_label_lines_are_skipped_with_warnings(tmp_path, caplog):
    data = make_yolo(tmp_path, 4)
    (tmp_path / "images" / "train" / "broken.jpg").write_bytes(b"not an image at all")
    (tmp_path / "labels" / "train" / "broken.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    lab = tmp_path / "labels" / "train" / "0.txt"
    lab.write_text(lab.read_text() + "1 0.5 oops 0.1 0.1\n2 0.5 0.5\n")
    with caplog.at_level(logging.WARNING, "yolopt.train"):
        rec = load_records(data)
    text = caplog.text
    assert len(rec.paths) == 4 and "broken.jpg" in text
    assert f"{lab}:4" in text and f"{lab}:5" in text
    assert "skipped 1 unreadable images and 2 malformed label lines" in text


def test_truncated_image_is_replaced_and_counted(tmp_path, caplog):
    data = make_yolo(tmp_path, 4)
    cv2.imwrite(str(tmp_path / "images" / "train" / "cut.jpg"), np.full((50, 60, 3), 90, np.uint8))
    raw = (tmp_path / "images" / "train" / "cut.jpg").read_bytes()
    (tmp_path / "images" / "train" / "cut.jpg").write_bytes(raw[:-2])  # header and data intact, end-of-image marker cut
    (tmp_path / "labels" / "train" / "cut.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    loader = build_train_loader(data, 160, 5, workers=0, augment=False)
    with caplog.at_level(logging.WARNING, "yolopt.train"):
        b = next(iter(loader))
        list(loader)
    assert b.img.shape[0] == 5 and "cut.jpg" in caplog.text and "1 images could not be decoded" in caplog.text


@pytest.mark.parametrize("case", ["class_beyond_nc", "empty", "no_labels"])
def test_unusable_datasets_fail_before_training(tmp_path, case):
    data = make_yolo(tmp_path, 3)
    if case == "class_beyond_nc":
        (tmp_path / "labels" / "train" / "1.txt").write_text("3 0.5 0.5 0.2 0.2\n")
        match = r"1\.txt:1: class 3 is beyond the dataset's 3 classes"
    elif case == "empty":
        for p in (tmp_path / "images" / "train").iterdir():
            p.unlink()
        match = "no images"
    else:
        for p in (tmp_path / "labels" / "train").iterdir():
            p.write_text("")
        match = "has a label"
    with pytest.raises(DatasetError, match=match):
        build_train_loader(data, 160, 2, workers=0)


def test_dataset_error_is_a_yolopt_error():
    from yolopt.errors import YoloptError

    assert issubclass(DatasetError, YoloptError)
    with pytest.raises(DatasetError, match="cache"):
        TrainDataset(load_records(COCO128), 160, cache="disk")
    assert isinstance(TrainLoader, type) and Hyp().fliplr == 0.5


def test_a_yolo_folder_with_any_yaml_name_reads_leniently(tmp_path):
    make_yolo(tmp_path, 3).rename(tmp_path / "mine.yaml")
    lab = tmp_path / "labels" / "train" / "0.txt"
    lab.write_text(lab.read_text() + "oops\n")  # would stop the strict evaluation loader
    rec = load_records(tmp_path)
    assert len(rec.paths) == 3 and rec.names == ["red", "green", "blue"] and len(rec.skipped_lines) == 1
