"""One error path for every command: one line naming the file and reason, exit 2 could-not-start, 1 some inputs failed."""

from __future__ import annotations

import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "yolopt" / "assets" / "samples"


def one_error_line(res) -> str:
    """The command's stderr is exactly one ``error: ...`` line (no traceback)."""
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert "Traceback" not in res.stderr, res.stderr
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, res.stderr
    return errors[0]


class Evil:
    def __reduce__(self):
        return (__import__("os").system, ("echo pwned",))


def torch_zip(path: Path, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", payload)
    return path


def test_help_does_not_import_torch_and_version_flag(cli):
    code = "import sys; from yolopt.cli import main; sys.argv=['yolopt','--help']\n" \
           "try:\n main()\nexcept SystemExit:\n pass\nassert 'torch' not in sys.modules, 'torch imported'"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    res = cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == __import__("yolopt").__version__


@pytest.mark.parametrize("kind", ["unsafe", "eof", "empty-pkl", "badzip", "nozip-key", "deep", "safetensors"])
def test_broken_model_files_end_in_one_line_exit_2(tmp_path, kind, cli):
    if kind == "unsafe":
        path = torch_zip(tmp_path / "m.pt", pickle.dumps({"model": Evil()}, protocol=2))
    elif kind == "eof":
        path = torch_zip(tmp_path / "m.pt", pickle.dumps({"model": 1})[:-3])
    elif kind == "empty-pkl":  # unpickling raises EOFError, which click would print as just "Aborted!"
        path = torch_zip(tmp_path / "m.pt", b"")
    elif kind == "badzip":
        path = tmp_path / "m.pt"
        path.write_bytes(b"PK\x03\x04" + b"\0" * 40)
    elif kind == "nozip-key":
        path = torch_zip(tmp_path / "m.pt", pickle.dumps({"epoch": 3}))
    elif kind == "deep":
        path = torch_zip(tmp_path / "m.pt", b"\x80\x02" + b"]" * 5000 + b"e" * 0 + b"." )
    else:
        path = tmp_path / "m.safetensors"
        path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    img = Path(__file__).resolve().parents[1] / "src" / "yolopt" / "assets" / "samples"
    res = cli("predict", img, "--model", path)
    assert res.returncode == 2, (res.returncode, res.stderr)
    line = one_error_line(res)
    assert str(path) in line
    assert "pwned" not in res.stdout


def test_convert_and_profile_failures_are_one_line(tmp_path, cli):
    res = cli("convert", tmp_path / "missing.pt", "--out", tmp_path / "m.safetensors")
    assert res.returncode == 2 and "missing.pt" in one_error_line(res)
    save = tmp_path / "prof"
    res = cli("profile", tmp_path / "nope", "--save-dir", save)
    assert res.returncode == 2 and "nope" in one_error_line(res)
    assert not save.exists()  # nothing created for a job that could not start
    res = cli("profile", SAMPLES, "--imgsz", "641", "--save-dir", save)
    assert res.returncode == 2 and "641" in one_error_line(res)


def test_profile_runs_exported_files_like_every_other_command(tmp_path, cli):
    (tmp_path / "a.jpg").write_bytes((SAMPLES / "000000184324.jpg").read_bytes())
    res = cli("profile", tmp_path, "--model", tmp_path / "m.onnx", "--save-dir", tmp_path / "p")
    assert res.returncode == 2
    line = one_error_line(res)
    assert "not torch" not in line and "m.onnx" in line


def test_unwritable_outputs_exit_2_not_ok(tmp_path, cli):
    samples = Path(__file__).resolve().parents[1] / "src" / "yolopt" / "assets" / "samples"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = cli("predict", samples, "--save-images", blocker / "drawn")
    assert res.returncode == 2 and "drawn" in one_error_line(res)
    res = cli("predict", samples, "--out", "/dev/full")
    assert res.returncode == 2 and "/dev/full" in one_error_line(res)
    assert "disk full" in res.stderr


def test_profile_output_is_clean(tmp_path):
    """No native profiler lines, no h2d_copy row on CPU, each saved file named once, advice fits the command."""
    res = subprocess.run([sys.executable, "-m", "yolopt.cli", "profile", str(SAMPLES), "--limit", "2", "--imgsz", "128",
                          "--save-dir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "USDT" not in res.stderr and "h2d_copy" not in res.stdout
    saved = next(line for line in res.stderr.splitlines() if line.startswith("saved "))[6:].split(", ")
    assert len(saved) == len(set(saved)) == 3
    assert "--precision " not in res.stdout


def test_bench_limit_and_a_folder_of_broken_images(tmp_path, cli):
    import json

    good = tmp_path / "imgs"
    good.mkdir()
    for i in range(3):
        (good / f"{i}.jpg").write_bytes((SAMPLES / "000000184324.jpg").read_bytes())
    res = cli("bench", good, "--limit", "2", "--batches", "1", "--imgsz", "64", "--save-dir", tmp_path / "b")
    assert res.returncode == 0, res.stderr
    assert [r["images"] for r in json.loads((tmp_path / "b" / "bench.json").read_text())["results"]] == [2]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.jpg").write_bytes(b"not an image")
    res = cli("bench", bad, "--batches", "1", "--imgsz", "64", "--save-dir", tmp_path / "c")
    assert res.returncode == 2 and "no decodable images" in one_error_line(res)
    assert "img/s" not in res.stderr and not (tmp_path / "c").exists()


def test_predict_where_every_input_failed_prints_no_rates(tmp_path, cli):
    (tmp_path / "x.jpg").write_bytes(b"not an image")
    res = cli("predict", tmp_path / "x.jpg", tmp_path / "missing.jpg")
    assert res.returncode == 1
    assert "all 2 failed" in res.stderr and "img/s" not in res.stderr and "per image" not in res.stderr


def test_val_with_other_class_names_says_the_names_differ(tmp_path, gt_path, cli):
    from yolopt.model import load_model, save_yolopt

    m = load_model("yolov8n")
    m.names = {k: f"thing{k}" for k in m.names}
    path = save_yolopt(m, tmp_path / "renamed.safetensors")
    res = cli("val", gt_path, "--model", path, "--save-dir", tmp_path / "v", "--no-plots")
    assert res.returncode == 2
    line = one_error_line(res)
    assert "class names differ" in line and "'person'" in line and "'thing0'" in line


@pytest.mark.slow
def test_quantize_stdout_is_only_the_result(data_dir, tmp_path):
    pytest.importorskip("nncf")
    calib = tmp_path / "calib"
    calib.mkdir()
    for p in sorted((data_dir / "coco-val-extra" / "images").glob("*.jpg"))[:12]:
        (calib / p.name).write_bytes(p.read_bytes())
    out = tmp_path / "int8.xml"
    res = subprocess.run([sys.executable, "-m", "yolopt.cli", "quantize", "--data", str(calib), "--out", str(out),
                          "--no-bench", "--imgsz", "64"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [str(out)]  # NNCF's log lines and progress go to stderr
    assert "nncf" in res.stderr.lower()


def test_failed_model_download_is_one_line(tmp_path, monkeypatch, cli):
    from yolopt.model import hub

    monkeypatch.setenv("YOLOPT_CACHE", str(tmp_path))
    monkeypatch.setattr(hub, "RELEASE_URL", "http://127.0.0.1:9/{name}.pt")  # nothing listens there: offline
    res = cli("predict", SAMPLES, "--model", "yolov8s")
    assert res.returncode == 2
    line = one_error_line(res)
    assert "could not download yolov8s" in line and "--model" in line
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob(".*part"))


def test_profile_advice_fits_the_backend_and_the_command():
    from yolopt.profile.diagnose import diagnose

    serial = {"read": 1.0, "decode": 2.0, "letterbox": 1.0, "inference": 90.0, "postprocess": 1.0, "write": 0.1}
    pipeline = {"wall_s": 1.0, "queues": [{"name": n, "full_s": 0.0, "empty_s": 0.0} for n in
                                          ("decoded", "batches", "outputs")]}
    for backend in ("openvino", "onnxruntime", "torch"):
        advice = next(f.advice for f in diagnose(serial, pipeline, {}, 1, 2, backend, 0.25, 300)
                      if f.kind == "inference-bound")
        assert backend not in advice  # never "use openvino" while on openvino
        assert "--precision " not in advice  # profile has no such option
