"""The model file each variant runs: the model itself (torch), a cached export, or an INT8 file made once.

A variant's ``source`` picks the model: "" the one given, else a pruned model file (``--pruned``, or one that
``--prune`` made, :mod:`.levels`); each is loaded once, checked against the model given (same class names) and
keyed by its own weights digest.

INT8 files are calibrated once at the model's own input size (the exported graphs take any size) and kept in
``cache_dir()/optimize/int8/`` under a digest of the weights, the calibration images and the toolchain, so a
re-run does not quantize again.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ...backends import registry
from .cache import digest, files_digest, machine_id
from .space import SearchError, Variant

if TYPE_CHECKING:
    from ...model import YoloModel


class Artifacts:
    """Model files for the variants of one model; INT8 ones calibrated on ``calib`` (at most ``calib_images``)."""

    def __init__(self, model: str | Path, calib: str | Path | None, root: Path, calib_images: int = 300,
                 say: Callable[[str], None] = lambda s: None, pruned: Iterable[str | Path] = ()):
        from ...export.cache import weights_digest
        from ...model import load_model

        self.model_arg = str(model)
        self.model = load_model(model)
        self.digest = weights_digest(self.model)
        self.calib, self.calib_images, self.root, self.say = calib, calib_images, Path(root), say
        self._models: dict[str, tuple[str, YoloModel, str]] = {"": (self.model_arg, self.model, self.digest)}
        self._pruning: dict[str, dict[str, Any]] = {}
        for p in pruned:
            self.add(p)

    def add(self, path: str | Path, pruning: dict[str, Any] | None = None) -> None:
        """Search the pruned model file ``path`` too; ``pruning``: how it was made (else what its metadata says)."""
        from ...export.cache import weights_digest

        m = load_pruned(path, self.model)
        self._models[str(path)] = (str(path), m, weights_digest(m))
        made = (m.meta.get("pruned") or {}).get("macs_fraction")
        self._pruning[str(path)] = pruning or ({"macs_kept": made} if made else {})

    def pruning_of(self, v: Variant) -> dict[str, Any] | None:
        """How ``v``'s pruned model was made (level, recovery budget), or None for the model given."""
        return self._pruning.get(v.source) if v.source else None

    def arg(self, v: Variant) -> str:
        """The model name or file ``v`` runs (the model given, or its pruned file)."""
        return self._models[v.source][0]

    def model_of(self, v: Variant) -> YoloModel:
        return self._models[v.source][1]

    def digest_of(self, v: Variant) -> str:
        """The weights digest of ``v``'s model: what every cached measurement and INT8 file of it is keyed by."""
        return self._models[v.source][2]

    def run_precision(self, v: Variant) -> str | None:
        """The ``precision`` option the backend is built with: runtime-set precisions only (INT8 is in the file)."""
        return v.precision if registry.get(v.backend).precision_option and v.precision != "int8" else None

    def file(self, v: Variant, imgsz: int) -> str:
        """The model (name or file) to build ``v`` from, made now if needed."""
        spec = registry.get(v.backend)
        if v.precision == "int8":
            return str(self._int8(v))
        if spec.exporter is None:
            return self.arg(v)
        from ...export.cache import cached_export

        half = v.precision == "fp16" and not spec.precision_option
        return str(cached_export(self.model_of(v), spec.export_format, half=half,  # type: ignore[arg-type]
                                 imgsz=imgsz if spec.sizes_engine else None))

    def calib_paths(self) -> list[Path]:
        from ..calibration import image_list, spread

        if self.calib is None:
            raise SearchError("INT8 needs calibration images (--calib), or leave int8 out of --precisions")
        return spread(image_list(self.calib), self.calib_images)

    def _int8(self, v: Variant) -> Path:
        from ..calibration import calibration_inputs
        from ..produce import produce
        from ..quantize import _baseline

        backend, model = v.backend, self.model_of(v)
        spec = registry.get(backend)
        paths = self.calib_paths()
        key = digest(f"{self.digest_of(v)}/{backend}/{files_digest(paths)}/{model.imgsz}/{machine_id()}")
        folder = self.root / "int8" / f"yolov8{model.spec.scale}-{backend}-{key}"
        path = folder / f"model_int8{spec.suffix}"
        if path.exists():
            return path
        calib, _ = calibration_inputs(paths, model.imgsz, None)
        self.say(f"quantizing for {backend} INT8 on {len(calib)} calibration images (once; kept in {folder}) ...")
        from ...export.cache import building

        with building(folder) as tmp:
            produce(_baseline(self.arg(v), backend), tmp / path.name, backend, "int8", calib, None, None, None,
                    0, 0, self.say)
        return path

    def copy(self, v: Variant, imgsz: int, out: Path) -> Path:
        """Write the winner's model file into folder ``out``; returns its path there."""
        out.mkdir(parents=True, exist_ok=True)
        if registry.get(v.backend).exporter is None:
            from ...model import save_yolopt

            return save_yolopt(self.model_of(v), out / "model.safetensors", half=False)  # keeps a pruned channel map
        from ...export.files import model_files

        src = Path(self.file(v, imgsz))
        dst = out / f"model_{v.precision}{src.suffix}"
        for f in model_files(src):
            shutil.copyfile(f, dst.with_suffix(f.suffix))
        return dst


def load_pruned(path: str | Path, model: YoloModel) -> YoloModel:
    """A pruned model file of ``model``: a clear :class:`SearchError` naming it when it is not a yolopt/YOLOv8
    model or detects other classes."""
    from ...model import load_model

    if not Path(path).is_file():
        raise SearchError(f"--pruned {path}: no such file")
    try:
        pruned = load_model(path)
    except Exception as e:  # noqa: BLE001 - load_model names the file and the reason in every failure
        raise SearchError(f"--pruned {path}: not a yolopt/YOLOv8 model ({e})") from None
    if pruned.names != model.names:
        raise SearchError(f"--pruned {path}: its {len(pruned.names)} class names differ from the model's "
                          f"({len(model.names)}): not a pruned copy of it")
    return pruned


def describe(v: Variant) -> dict[str, Any]:
    """What a variant is, in the words of the candidates table."""
    return {"backend": v.backend, "precision": v.precision, "exact": v.exact, "source": v.source or "model"}
