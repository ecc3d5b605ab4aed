"""Shared fixtures: the project's real test data lives in ../shared/data beside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"shared test data not found at {DATA}")
    return DATA


@pytest.fixture(scope="session")
def yolov8n_pt(data_dir: Path) -> Path:
    return data_dir / "weights" / "yolov8n.pt"


@pytest.fixture(scope="session")
def gt_path(data_dir: Path) -> Path:
    """Official COCO val2017 annotations of the 206 coco-val images."""
    return data_dir / "coco-val" / "annotations" / "instances_val2017_subset.json"


@pytest.fixture(scope="session")
def ref_path(data_dir: Path) -> Path:
    """The peer implementation's coco-val detections at conf 0.001 (scores 0.3932 mAP50-95)."""
    return data_dir / "reference" / "coco-val_yolov8n_ultralytics_conf0.001.json.gz"
