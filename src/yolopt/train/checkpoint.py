"""Training checkpoints: the model in yolopt's own format plus a non-pickle sidecar with everything to resume.

``weights/last.safetensors`` / ``best.safetensors`` are ordinary yolopt model files (the EMA weights), so
predict, val, export, quantize, serve and bench load them. ``weights/last.state.safetensors`` holds the raw
training weights, the EMA, the optimizer's tensors and, in its JSON header, the epoch, counters, scheduler
settings and RNG states. Every file is written to a temporary name and renamed, so a kill mid-save leaves
the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..model.io import YoloModel, save_yolopt

STATE_FORMAT = "yolopt.train-state.v1"


def save_model(model: YoloModel, path: Path) -> Path:
    """The EMA network as a yolopt model file (FP32, so what was validated is exactly what is saved)."""
    return save_yolopt(model, path, half=False)


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states, JSON-ready (torch's as a list of bytes)."""
    np_state = np.random.get_state()
    py = random.getstate()
    return {"python": [py[0], list(py[1]), py[2]],
            "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "torch": torch.get_rng_state().tolist()}


def set_rng_state(s: dict[str, Any]) -> None:
    py = s["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = s["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    torch.set_rng_state(torch.tensor(s["torch"], dtype=torch.uint8))


def save_state(path: Path, net: torch.nn.Module, ema_net: torch.nn.Module, opt: torch.optim.Optimizer,
               info: dict[str, Any]) -> Path:
    """Write the resume sidecar atomically: tensors in safetensors, the rest as JSON in its header."""
    tensors: dict[str, torch.Tensor] = {}
    for k, v in net.state_dict().items():
        tensors[f"model.{k}"] = v.detach().cpu().contiguous()
    for k, v in ema_net.state_dict().items():
        tensors[f"ema.{k}"] = v.detach().cpu().contiguous()
    sd = opt.state_dict()
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"optim.{pid}.{k}"] = v.detach().cpu().contiguous().clone()
    scalars = {str(pid): {k: v for k, v in st.items() if not isinstance(v, torch.Tensor)} for pid, st in sd["state"].items()}
    groups = [{k: v for k, v in g.items()} for g in sd["param_groups"]]
    meta = {"format": STATE_FORMAT, "info": json.dumps(info), "optim_groups": json.dumps(groups),
            "optim_scalars": json.dumps(scalars), "rng": json.dumps(rng_state())}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


def load_state(path: Path, net: torch.nn.Module, ema_net: torch.nn.Module, opt: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore what :func:`save_state` wrote into ``net``, ``ema_net`` and ``opt`` (and the RNGs); returns ``info``."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != STATE_FORMAT:
            raise ValueError(f"{path}: not a yolopt training state (format={meta.get('format')!r})")
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    net.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    ema_net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    state: dict[int, dict[str, Any]] = {}
    for pid, sc in json.loads(meta["optim_scalars"]).items():
        state[int(pid)] = dict(sc)
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": json.loads(meta["optim_groups"])})
    set_rng_state(json.loads(meta["rng"]))
    return json.loads(meta["info"])
