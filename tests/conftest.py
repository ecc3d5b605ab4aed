"""Shared fixtures: the project's real test data lives in ../shared/data beside the repository."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

# ``backend="auto"`` on a model name measures the installed backends once per machine; the suite runs on torch,
# the reference, so results do not depend on which runtime measured fastest (tests/test_auto_backend.py
# covers the measurement itself).
os.environ.setdefault("YOLOPT_BACKEND_AUTO", "torch")

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


@contextlib.contextmanager
def _cwd(path: Path | None):
    old = os.getcwd()
    if path is not None:
        os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@dataclass
class CliResult:
    """What a ``yolopt`` command did: exit status and its two output streams (as ``subprocess.run`` names them)."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def cli() -> Callable[..., CliResult]:
    """``cli("predict", path, "--conf", "0.5")`` runs ``yolopt`` in this process with typer's runner.

    No fresh interpreter importing torch per call; an exception the command did not turn into an exit status
    is raised here with its traceback (a subprocess would show it as exit 1).
    """
    from typer.testing import CliRunner

    from yolopt.cli import app

    runner = CliRunner()

    def run(*args: object, cwd: Path | None = None) -> CliResult:
        with _cwd(cwd):
            res = runner.invoke(app, [str(a) for a in args])
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            raise res.exception
        return CliResult(res.exit_code, res.stdout, res.stderr)

    return run
