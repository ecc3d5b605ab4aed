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
