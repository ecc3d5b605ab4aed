"""``backend="auto"`` for a model name or checkpoint: the fastest installed backend that is exact at FP32 here.

Each candidate (a registry entry with ``auto=True`` whose runtime is installed) is built for the model and its
network timed on one synthetic input, with as many calls in flight as the engine makes, in alternating rounds
(the best of each kept). The
winner is remembered in ``cache_dir()/auto_backend.json`` under the CPU model, core count, model scale and the
versions of yolopt and every candidate runtime, so the measurement runs once per machine and toolchain.
``$YOLOPT_BACKEND_AUTO`` names a backend to use instead (no measurement), e.g. for reproducible tests.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import registry
from .base import concurrency

ENV = "YOLOPT_BACKEND_AUTO"
#: Options every auto candidate understands; anything else (a device, OpenVINO's shapes, ...) means torch.
COMMON_OPTIONS = frozenset({"threads", "streams", "precision"})
FALLBACK = "torch"
ROUNDS = 2  # each candidate is timed this many times, alternating with the others


@dataclass(frozen=True)
class Choice:
    """The backend ``auto`` resolved to and why, for the summary line."""

    name: str
    reason: str
    img_s: dict[str, float] = field(default_factory=dict)  # measured network img/s per candidate, when measured


def cache_file() -> Path:
    from ..model.hub import cache_dir

    return cache_dir() / "auto_backend.json"


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return "?"


def machine_key(model: Any, candidates: list[registry.BackendSpec], imgsz: int) -> str:
    """What the ranking depends on: CPU, cores, model scale, input size and every candidate's runtime version."""
    from .. import __version__
    from ..machine import cpu_name

    runtimes = sorted({m for s in candidates for m in s.requires})
    versions = ",".join(f"{m}={_version(m)}" for m in runtimes)
    return f"{cpu_name()}|{os.cpu_count()} cpus|yolov8{model.spec.scale}/{imgsz}|yolopt={__version__},{versions}"


def measure(backend: Any, imgsz: int, seconds: float) -> float:
    """img/s of ``backend.infer`` on one (1, 3, 3/4 imgsz, imgsz) input, ``backend.concurrency`` calls at once."""
    h = max(32, (imgsz * 3 // 4) // 32 * 32)
    x = np.random.default_rng(0).integers(0, 256, (1, 3, h, imgsz), dtype=np.uint8)
    n = concurrency(backend)
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(backend.infer, [x] * n))  # warm-up: first calls compile and allocate
        calls, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds or calls < 2 * n:
            list(pool.map(backend.infer, [x] * n))
            calls += n
        return calls / (time.perf_counter() - t0)


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(path: Path, data: dict) -> None:
    """Replace the cache file atomically (two processes measuring at once both end with a valid file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".auto-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def resolve(model: Any, imgsz: int | None = None, options: dict[str, Any] | None = None, *,
            seconds: float = 1.0, cache: Path | None = None,
            log: Callable[[str], None] = lambda s: None) -> Choice:
    """The backend ``auto`` means for ``model`` with these backend ``options`` (see the module docstring).

    An exported file runs on its own runtime; a non-FP32 precision or a backend-specific option keeps torch.
    """
    from .factory import model_suffix

    options = options or {}
    own = registry.for_suffix(model_suffix(model))
    if own is not None:
        return Choice(own.name, f"the runtime of {model_suffix(model)} files")
    forced = os.environ.get(ENV)
    if forced:
        registry.get(forced)  # a clear error for an unknown name
        return Choice(forced, f"${ENV}")
    if options.get("precision", "fp32") != "fp32" or set(options) - COMMON_OPTIONS:
        return Choice(FALLBACK, "options only torch takes" if options.get("precision", "fp32") == "fp32"
                      else f"{options['precision']} is not an exact precision")
    candidates = [s for s in map(registry.get, registry.backend_names()) if s.auto and s.installed()]
    if len(candidates) < 2:
        return Choice(candidates[0].name if candidates else FALLBACK, "the only installed exact backend")
    from ..model import load_model

    model = load_model(model)
    imgsz = imgsz or model.imgsz
    path = cache or cache_file()
    key = machine_key(model, candidates, imgsz)
    known = _read(path).get(key)
    if isinstance(known, dict) and known.get("backend") in registry.backend_names():
        return Choice(known["backend"], f"fastest exact FP32 backend here, measured {known.get('when', '')}".strip(),
                      known.get("img_s", {}))
    from .factory import make_backend

    built = {}
    for spec in candidates:
        try:
            built[spec.name] = make_backend(model, spec.name, imgsz, **options)
        except Exception as e:  # noqa: BLE001 - a runtime that cannot build here is simply not a candidate
            log(f"auto: {spec.name} skipped ({type(e).__name__}: {e})")
    rates: dict[str, float] = {}
    for _ in range(ROUNDS):  # alternating rounds, best kept: a burst of other load does not decide alone
        for name, be in built.items():
            rates[name] = max(rates.get(name, 0.0), round(measure(be, imgsz, seconds / ROUNDS), 2))
    for name, rate in rates.items():
        log(f"auto: {name} {rate} img/s")
    if not rates:
        return Choice(FALLBACK, "no candidate could be measured")
    best = max(rates, key=rates.__getitem__)
    when = time.strftime("%Y-%m-%d")
    data = _read(path)
    data[key] = {"backend": best, "img_s": rates, "when": when}
    try:
        _write(path, data)
    except OSError as e:  # a read-only cache still gets the right answer, measured again next time
        log(f"auto: could not remember the choice in {path} ({e})")
    return Choice(best, f"fastest exact FP32 backend here, measured {when}", rates)
