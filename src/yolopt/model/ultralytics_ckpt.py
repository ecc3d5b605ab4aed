"""Read Ultralytics ``.pt`` checkpoints without executing them.

The pickle is replayed by a restricted unpickler: module classes become inert records (their
``__dict__`` is kept, nothing of theirs runs), tensors are rebuilt from the zip's raw storages,
and any global outside a small allow-list raises :class:`UnsafeCheckpointError`. Resources are bounded
before anything is allocated: the pickle's size and memo indices (checked by walking its opcodes), how deep
module records nest, and each storage's size (its zip entry must hold exactly ``numel x itemsize`` bytes, not
inflate far beyond its compressed size, and all storages together stay under :data:`MAX_STORAGE_BYTES`). Classes are
matched by *name*, so checkpoints written by any Ultralytics release (``ultralytics.nn.modules.X``
or ``ultralytics.nn.modules.block.X``) load alike.
"""

from __future__ import annotations

import collections
import io
import pickle
import pickletools
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelError

#: Ultralytics module classes a YOLOv8 detection checkpoint holds, matched by class name.
ULTRALYTICS_CLASSES = frozenset(
    {"DetectionModel", "Conv", "C2f", "Bottleneck", "SPPF", "DFL", "Detect", "Concat", "IterableSimpleNamespace"}
)
#: torch.nn layers such a checkpoint holds.
TORCH_NN_CLASSES = frozenset(
    {"Sequential", "ModuleList", "Conv2d", "BatchNorm2d", "SiLU", "MaxPool2d", "Upsample", "Identity"}
)
_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "DoubleStorage": torch.float64,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}
#: Resource limits (a YOLOv8x training checkpoint holds ~0.6 GB of storages and a pickle of a few MB).
MAX_PICKLE_BYTES = 64 * 2**20
MAX_STORAGE_BYTES = 2 * 2**30  # all storages together
MAX_TENSOR_BYTES = 256 * 2**20  # one storage (YOLOv8x's largest weight is ~15 MB in FP32)
MAX_INFLATION = 20  # a storage may decompress to at most this many times its compressed size
MAX_DEPTH = 64  # module records nested deeper than this are not a YOLOv8 network
_MEMO_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}
_MEMO_GETS = {"GET", "BINGET", "LONG_BINGET"}
_SAFE_BUILTINS = {
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("builtins", "slice"): slice,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch", "Size"): torch.Size,
}


class UnsafeCheckpointError(ModelError, pickle.UnpicklingError):
    """The checkpoint references something outside the YOLOv8 allow-list; nothing was executed."""


class Record:
    """An inert stand-in for a pickled object: its class name and its attributes, nothing else."""

    def __init__(self, *args: Any, **kwargs: Any):  # pickle's REDUCE/NEWOBJ may pass constructor args
        self.state: dict[str, Any] = {}

    @property
    def cls(self) -> str:
        return type(self).__name__

    def __setstate__(self, state: Any) -> None:  # called by pickle's BUILD opcode
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slotstate)
            state = {**(state[0] or {}), **(state[1] or {})}
        self.state = dict(state) if isinstance(state, dict) else {"_state": state}

    def get(self, key: str, default: Any = None) -> Any:
        return self.state.get(key, default)


class _StorageType:
    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only allow-listed globals; tensor storages are read from the checkpoint's zip."""

    def __init__(self, file: Any, zf: zipfile.ZipFile, prefix: str, source: str):
        super().__init__(file)
        self._zf, self._prefix, self._source = zf, prefix, source
        self._storages: dict[str, torch.UntypedStorage] = {}
        self._records: dict[str, type] = {}
        self._storage_bytes = 0

    def find_class(self, module: str, name: str) -> Any:
        if module == "__builtin__":  # protocol-2 pickles name Python 2's module
            module = "builtins"
        if (module, name) in _SAFE_BUILTINS:
            return _SAFE_BUILTINS[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        allowed = (module.startswith("ultralytics.") and name in ULTRALYTICS_CLASSES) or (
            module.startswith("torch.nn.modules.") and name in TORCH_NN_CLASSES
        )
        if not allowed:
            raise UnsafeCheckpointError(
                f"{self._source}: refusing to load global '{module}.{name}' — it is not part of a YOLOv8 "
                "detection checkpoint, and loading it could execute code. Nothing was executed."
            )
        if name not in self._records:
            self._records[name] = type(name, (Record,), {})
        return self._records[name]

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise UnsafeCheckpointError(f"{self._source}: unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        dtype = storage_type.dtype if isinstance(storage_type, _StorageType) else storage_type
        if not isinstance(dtype, torch.dtype):
            raise UnsafeCheckpointError(f"{self._source}: bad storage type {storage_type!r}")
        if key not in self._storages:
            name = f"{self._prefix}data/{key}"
            self._check_storage(name, numel, dtype)
            raw = bytearray(self._zf.read(name))
            self._storages[key] = torch.frombuffer(raw, dtype=torch.uint8).untyped_storage() if raw else torch.UntypedStorage(0)
        return torch.storage.TypedStorage(wrap_storage=self._storages[key], dtype=dtype, _internal=True)

    def _check_storage(self, name: str, numel: Any, dtype: torch.dtype) -> None:
        """Refuse a storage whose zip entry is missing, of the wrong size, a zip bomb, or over the total budget."""
        try:
            info = self._zf.getinfo(name)
        except KeyError:
            raise ModelError(f"{self._source}: storage {name} is missing from the archive") from None
        itemsize = torch.empty((), dtype=dtype).element_size()
        if not isinstance(numel, int) or numel < 0 or info.file_size != numel * itemsize:
            raise ModelError(f"{self._source}: storage {name} holds {info.file_size} bytes, but its tensor needs "
                             f"{numel} x {itemsize}")
        if info.compress_type != zipfile.ZIP_STORED and info.file_size > MAX_INFLATION * max(info.compress_size, 1024):
            raise ModelError(f"{self._source}: storage {name} inflates from {info.compress_size} to {info.file_size} "
                             "bytes (a zip bomb?): refused")
        if info.file_size > MAX_TENSOR_BYTES:
            raise ModelError(f"{self._source}: storage {name} holds {info.file_size / 2**20:.0f} MiB, more than any "
                             "YOLOv8 weight: refused")
        self._storage_bytes += info.file_size
        if self._storage_bytes > MAX_STORAGE_BYTES:
            raise ModelError(f"{self._source}: storages exceed {MAX_STORAGE_BYTES / 2**30:g} GiB, more than any "
                             "YOLOv8 checkpoint holds: refused")


def check_pickle(data: bytes, source: str) -> None:
    """Walk the pickle's opcodes (nothing is built) and refuse memo indices no real pickle of this size uses.

    The C unpickler sizes its memo table to the largest index it sees, so a 260-byte pickle that stores at
    index 2**31 would allocate gigabytes; a real pickle's indices are below its number of opcodes.
    """
    ops = 0
    try:
        for op, arg, _pos in pickletools.genops(data):
            ops += 1
            if op.name in _MEMO_PUTS or op.name in _MEMO_GETS:
                if not isinstance(arg, int) or arg < 0 or arg > ops:
                    raise ModelError(f"{source}: pickle memo index {arg} out of range: refused")
    except ModelError:
        raise
    except Exception as e:  # malformed opcodes: the same data would fail to unpickle
        raise ModelError(f"{source}: corrupt pickle ({e})") from e


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Unpickle a torch zip checkpoint with the restricted unpickler; module objects come back as :class:`Record`."""
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise ModelError(f"{path}: not a PyTorch zip checkpoint ({e}); legacy non-zip .pt files are not supported") from e
    with zf:
        pkl = [n for n in zf.namelist() if n.endswith("data.pkl")]
        if len(pkl) != 1:
            raise ModelError(f"{path}: expected exactly one data.pkl in the checkpoint, found {len(pkl)}")
        prefix = pkl[0][: -len("data.pkl")]
        size = zf.getinfo(pkl[0]).file_size
        if size > MAX_PICKLE_BYTES:
            raise ModelError(f"{path}: data.pkl is {size / 2**20:.0f} MiB, more than any YOLOv8 checkpoint: refused")
        data = zf.read(pkl[0])
        check_pickle(data, str(path))
        obj = RestrictedUnpickler(io.BytesIO(data), zf, prefix, str(path)).load()
    if not isinstance(obj, dict):
        raise ModelError(f"{path}: checkpoint top level is {type(obj).__name__}, expected a dict")
    return obj


def module_state_dict(rec: Record, prefix: str = "", depth: int = 0) -> dict[str, torch.Tensor]:
    """Flatten a tree of module records into a ``state_dict`` (parameters and persistent buffers)."""
    if depth > MAX_DEPTH:
        raise ModelError(f"module records nested more than {MAX_DEPTH} deep (at {prefix[:60]}...): not a YOLOv8 network")
    out: dict[str, torch.Tensor] = {}
    non_persistent = rec.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        for k, v in (rec.get(group) or {}).items():
            if v is not None and not (group == "_buffers" and k in non_persistent):
                out[prefix + k] = v.detach() if isinstance(v, torch.Tensor) else v
    for k, child in (rec.get("_modules") or {}).items():
        if isinstance(child, Record):
            out.update(module_state_dict(child, f"{prefix}{k}.", depth + 1))
    return out


@dataclass
class UltralyticsCheckpoint:
    """What yolopt takes from an Ultralytics checkpoint."""

    state_dict: dict[str, torch.Tensor]
    names: dict[int, str]
    scale: str
    nc: int
    train_args: dict[str, Any]
    meta: dict[str, Any]


def _infer_scale(yaml: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> str:
    """The YOLOv8 scale (n/s/m/l/x): the yaml's ``scale``, else its file name (yolov8s.yaml), else the widths."""
    from .yolo import SCALES

    scale = yaml.get("scale")
    if isinstance(scale, str) and scale in SCALES:
        return scale
    stem = Path(str(yaml.get("yaml_file", ""))).stem  # e.g. yolov8s.yaml
    if stem.startswith("yolov8") and stem[6:7] in SCALES:
        return stem[6]
    # Fall back to the first conv's width: 16/32/48/64/80 for n/s/m/l/x.
    width = state_dict["model.0.conv.weight"].shape[0]
    by_width = {16: "n", 32: "s", 48: "m", 64: "l", 80: "x"}
    if width not in by_width:
        raise ValueError(f"cannot tell the YOLOv8 scale from a first-layer width of {width}")
    return by_width[width]


def load_ultralytics(path: str | Path) -> UltralyticsCheckpoint:
    """Load an Ultralytics YOLOv8 detection checkpoint's weights and metadata, executing nothing."""
    ckpt = read_checkpoint(path)
    model = ckpt.get("ema") or ckpt.get("model")
    if not isinstance(model, Record):
        raise ModelError(f"{path}: no 'model' or 'ema' network in the checkpoint")
    if model.cls != "DetectionModel":
        raise ModelError(f"{path}: holds a {model.cls}, but only YOLOv8 DetectionModel checkpoints are supported")
    try:
        state_dict = {k: v.float() if v.is_floating_point() else v for k, v in module_state_dict(model).items()}
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from e
    yaml = model.get("yaml") or {}
    names = model.get("names") or {}
    if isinstance(names, (list, tuple)):
        names = dict(enumerate(names))
    nc = int(yaml.get("nc") or len(names))
    if not names:
        names = {i: f"class{i}" for i in range(nc)}
    train_args = ckpt.get("train_args") or {}
    if isinstance(train_args, Record):
        train_args = dict(train_args.state)
    meta = {k: ckpt[k] for k in ("date", "version", "license", "docs") if isinstance(ckpt.get(k), str)}
    return UltralyticsCheckpoint(
        state_dict=state_dict,
        names={int(k): str(v) for k, v in names.items()},
        scale=_infer_scale(yaml, state_dict),
        nc=nc,
        train_args=dict(train_args),
        meta=meta,
    )
