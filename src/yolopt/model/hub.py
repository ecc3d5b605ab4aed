"""Resolve a model name to a local file: the bundled default, or an official release download.

Downloads go to a cache directory (``$YOLOPT_CACHE`` or ``~/.cache/yolopt``) through a temporary
file that is verified and then atomically renamed, so a partial or corrupt download is never used.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from ..errors import ModelError

ASSETS = Path(__file__).resolve().parent.parent / "assets"
BUNDLED = {"yolov8n": ASSETS / "yolov8n.safetensors"}
RELEASE_URL = "https://github.com/ultralytics/assets/releases/download/v8.2.0/{name}.pt"
#: Known-good git blob ids of official release files (README of shared data); others are checked structurally.
KNOWN_BLOBS = {
    "yolov8n": {"d61ef50d3a524afa8d7a9f6e577bc329dbe9ac26", "0db4ca4b4d25d68a4497220353592645ca4f71bf"},
}
OFFICIAL = ("yolov8n", "yolov8s", "yolov8m", "yolov8l", "yolov8x")


def cache_dir() -> Path:
    return Path(os.environ.get("YOLOPT_CACHE", Path.home() / ".cache" / "yolopt"))


def git_blob_sha1(path: Path) -> str:
    """``git hash-object`` of a file: how public repositories identify the official weights."""
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_download(path: Path, name: str) -> None:
    """Reject a download that is not an intact checkpoint of the expected model."""
    if name in KNOWN_BLOBS and git_blob_sha1(path) not in KNOWN_BLOBS[name]:
        raise ValueError(f"{name}: downloaded file does not match the official release (git blob id mismatch)")
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except zipfile.BadZipFile as e:
        raise ValueError(f"{name}: downloaded file is not a checkpoint archive ({e})") from e
    if bad is not None:
        raise ValueError(f"{name}: downloaded file is corrupt (CRC error in {bad})")
    from .ultralytics_ckpt import load_ultralytics

    ckpt = load_ultralytics(path)  # restricted unpickler: executes nothing
    if f"yolov8{ckpt.scale}" != name:
        raise ValueError(f"{name}: downloaded checkpoint is YOLOv8{ckpt.scale}, not {name}")


def download(name: str, url: str | None = None, timeout: float = 60.0) -> Path:
    """Fetch an official checkpoint into the cache (once) and return its path."""
    if name not in OFFICIAL:
        raise ValueError(f"unknown model name {name!r}; known: {', '.join(OFFICIAL)}")
    dest = cache_dir() / f"{name}.pt"
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    url = url or RELEASE_URL.format(name=name)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out, 1 << 20)
        verify_download(tmp, name)
        tmp.replace(dest)  # atomic on one filesystem
    except Exception as e:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"could not download {name} from {url}: {e} (offline? download it elsewhere and pass "
                         f"the .pt file with --model)") from e
    return dest
