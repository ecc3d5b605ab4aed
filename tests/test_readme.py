"""Every README example runs as written from the repository root: the cheap ones are run, the others are
checked to name only files that exist (or that an earlier example writes)."""

from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
# (command prefix, why it is not run here): long-running, or minutes of CPU; their paths are still checked
NOT_RUN = {
    ("pip",): "installs packages", ("python", "-m", "pytest"): "the suite itself",
    ("python", "benchmarks"): "benchmarks take minutes", ("yolopt", "quantize"): "minutes of calibration",
    ("yolopt", "serve"): "runs until stopped", ("curl",): "needs the server", ("yolopt", "bench"): "minutes",
    ("yolopt", "profile"): "minutes", ("yolopt", "val"): "scores 206 images", ("python", "-m", "yolopt.serve"): "Ray",
    ("yolopt", "export", "--model", "../shared"): "OpenVINO export",
    ("yolopt", "export", "-m", "yolov8n", "-f"): "mobile exports, a minute each (tests/test_mobile_export.py runs them)",
    ("yolopt", "predict", "../shared/data/coco-val"): "206 images",
    ("yolopt", "prune"): "minutes of pruning and measuring (tests/test_prune*.py run it)",
    ("yolopt", "train"): "minutes of training (tests/test_train_run.py runs it)",
    ("yolopt", "optimize"): "a 20-minute search (tests/test_optimize_search.py runs a tiny one)",
    ("yolopt", "predict", "--recipe"): "needs the optimize example's deploy.json",
}
SLOW_OPTIONS = {"openvino": "exports the model into the cache first"}
OUTPUT_OPTIONS = {"--out", "-o", "--save-images", "--save-dir", "--html"}


def commands() -> list[list[str]]:
    """Each bash example of the README as an argument list, continuation lines joined, comments dropped."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip():
                out.append(shlex.split(line, comments=True))
    return out


def skipped(argv: list[str]) -> bool:
    """Whether ``argv`` starts with a NOT_RUN prefix (its last word may be the start of the argument)."""
    return any(len(argv) >= len(p) and list(argv[: len(p) - 1]) == list(p[:-1]) and argv[len(p) - 1].startswith(p[-1])
               for p in NOT_RUN)


def named_inputs(argv: list[str]) -> list[str]:
    """The file arguments of a command that must already exist (outputs and URLs left out)."""
    names = []
    for prev, arg in zip(["", *argv], argv):
        if prev in OUTPUT_OPTIONS or arg.startswith(("-", "http")):
            continue
        arg = arg.split("=@", 1)[-1].lstrip("@")
        if "/" in arg or re.search(r"\.(pt|onnx|xml|json|yaml|jpg|safetensors)$", arg):
            names.append(arg)
    return names


@pytest.fixture(scope="module")
def clone(tmp_path_factory, data_dir) -> Path:
    """A directory laid out like a fresh clone's root (src/ and ../shared/data), where outputs can go."""
    base = tmp_path_factory.mktemp("readme")
    (base / "shared").symlink_to(data_dir.parent)
    root = base / "yolopt"
    root.mkdir()
    (root / "src").symlink_to(ROOT / "src")
    (root / "benchmarks").symlink_to(ROOT / "benchmarks")
    return root


@pytest.mark.slow
def test_readme_examples_run_as_written(clone, tmp_path, monkeypatch, cli):
    """The ``yolopt`` commands run in-process (the same entry point as the installed script, one torch import)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "YOLOPT_CACHE": str(tmp_path / "cache")}
    monkeypatch.setenv("YOLOPT_CACHE", env["YOLOPT_CACHE"])
    ran = 0
    for argv in commands():
        for name in named_inputs(argv):
            if name.endswith((".onnx", ".xml")) and (argv[:2] == ["yolopt", "val"] or "int8" in name):
                continue  # written by the quantize example, which is not run here
            if name.startswith(("runs/", "deploy/")) and skipped(argv):
                continue  # written by an example that is not run here (train, prune, optimize)
            assert glob.glob(str(clone / name)) or (clone / name).exists(), f"{shlex.join(argv)}: {name} not found"
        if skipped(argv) or argv[0] != "yolopt" or any(v in argv for v in SLOW_OPTIONS):
            continue
        res = cli(*argv[1:], cwd=clone)
        assert res.returncode == 0, f"{shlex.join(argv)}\n{res.stderr[-2000:]}"
        ran += 1
    assert ran >= 10
    code = re.findall(r"```python\n(.*?)```", README, re.S)[0]
    res = subprocess.run([sys.executable, "-c", code], cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert [line.split()[0] for line in res.stdout.splitlines() if line.startswith("src/")] == [
        f"src/yolopt/assets/samples/{p.name}" for p in sorted((ROOT / "src/yolopt/assets/samples").glob("*.jpg"))]
