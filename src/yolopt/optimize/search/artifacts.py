"""The model file each variant runs: the model itself (torch), a cached export, or an INT8 file made once.

INT8 files are calibrated once at the model's own input size (the exported graphs take any size) and kept in
``cache_dir()/optimize/int8/`` under a digest of the weights, the calibration images and the toolchain, so a
re-run does not quantize again.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

from ...backends import registry
from .cache import digest, files_digest, machine_id
from .space import SearchError, Variant


class Artifacts:
    """Model files for the variants of one model; INT8 ones calibrated on ``calib`` (at most ``calib_images``)."""

    def __init__(self, model: str | Path, calib: str | Path | None, root: Path, calib_images: int = 300,
                 say: Callable[[str], None] = lambda s: None):
        from ...export.cache import weights_digest
        from ...model import load_model

        self.model_arg = str(model)
        self.model = load_model(model)
        self.digest = weights_digest(self.model)
        self.calib, self.calib_images, self.root, self.say = calib, calib_images, Path(root), say

    def run_precision(self, v: Variant) -> str | None:
        """The ``precision`` option the backend is built with: runtime-set precisions only (INT8 is in the file)."""
        return v.precision if registry.get(v.backend).precision_option and v.precision != "int8" else None

    def file(self, v: Variant, imgsz: int) -> str:
        """The model (name or file) to build ``v`` from, made now if needed."""
        if v.source:
            return v.source  # a pruned model file (the pruning axis) runs as given
        spec = registry.get(v.backend)
        if v.precision == "int8":
            return str(self._int8(v.backend))
        if spec.exporter is None:
            return self.model_arg
        from ...export.cache import cached_export

        half = v.precision == "fp16" and not spec.precision_option
        return str(cached_export(self.model, spec.export_format, half=half,  # type: ignore[arg-type]
                                 imgsz=imgsz if spec.sizes_engine else None))

    def calib_paths(self) -> list[Path]:
        from ..calibration import image_list, spread

        if self.calib is None:
            raise SearchError("INT8 needs calibration images (--calib), or leave int8 out of --precisions")
        return spread(image_list(self.calib), self.calib_images)

    def _int8(self, backend: str) -> Path:
        from ..calibration import calibration_inputs
        from ..produce import produce
        from ..quantize import _baseline

        spec = registry.get(backend)
        paths = self.calib_paths()
        key = digest(f"{self.digest}/{backend}/{files_digest(paths)}/{self.model.imgsz}/{machine_id()}")
        folder = self.root / "int8" / f"yolov8{self.model.spec.scale}-{backend}-{key}"
        path = folder / f"model_int8{spec.suffix}"
        if path.exists():
            return path
        calib, _ = calibration_inputs(paths, self.model.imgsz, None)
        self.say(f"quantizing for {backend} INT8 on {len(calib)} calibration images (once; kept in {folder}) ...")
        from ...export.cache import building

        with building(folder) as tmp:
            produce(_baseline(self.model_arg, backend), tmp / path.name, backend, "int8", calib, None, None, None,
                    0, 0, self.say)
        return path

    def copy(self, v: Variant, imgsz: int, out: Path) -> Path:
        """Write the winner's model file into folder ``out``; returns its path there."""
        out.mkdir(parents=True, exist_ok=True)
        if registry.get(v.backend).exporter is None and not v.source:
            from ...model import save_yolopt

            return save_yolopt(self.model, out / "model.safetensors", half=False)
        src = Path(self.file(v, imgsz))
        dst = out / f"model_{v.precision}{src.suffix}"
        shutil.copyfile(src, dst)
        if src.suffix == ".xml":
            shutil.copyfile(src.with_suffix(".bin"), dst.with_suffix(".bin"))
        return dst


def describe(v: Variant) -> dict[str, Any]:
    """What a variant is, in the words of the candidates table."""
    return {"backend": v.backend, "precision": v.precision, "exact": v.exact, "source": v.source or "model"}
