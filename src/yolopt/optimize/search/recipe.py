"""``deploy.json``: the configuration ``yolopt optimize`` chose, which ``predict`` and ``serve`` take as defaults.

The model path is stored relative to the recipe's folder, so the folder can be moved or copied as a whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...errors import YoloptError

VERSION = 1
#: Recipe fields that are run options of predict/serve (the CLI's option names), in order.
OPTIONS = ("model", "backend", "precision", "imgsz", "conf", "iou", "max_det", "batch", "streams", "threads")
_TYPES: dict[str, tuple[type, ...]] = {"model": (str,), "backend": (str,), "precision": (str,), "imgsz": (int,),
                                       "conf": (int, float), "iou": (int, float), "max_det": (int,),
                                       "batch": (int,), "streams": (int,), "threads": (int,)}


class RecipeError(YoloptError, ValueError):
    """A deploy.json that cannot be used; the message names the file and the field."""


def write_recipe(path: Path, values: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    """Write ``values`` (the :data:`OPTIONS`; ``model`` relative to ``path``'s folder) and ``extra`` facts."""
    data = {"yolopt_recipe": VERSION, **{k: values.get(k) for k in OPTIONS}, **(extra or {})}
    from ...io.sinks import TextOut

    out = TextOut(path, atomic=True)
    out.write(json.dumps(data, indent=1) + "\n")
    out.close()
    return path


def load_recipe(path: str | Path) -> dict[str, Any]:
    """The run options of a deploy.json (model made absolute; INT8's precision left to the file): a clear
    :class:`RecipeError` for a missing file, bad JSON or a field of the wrong type."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RecipeError(f"--recipe {path}: no such file") from None
    except (OSError, ValueError) as e:
        raise RecipeError(f"--recipe {path}: not a JSON recipe ({e})") from None
    if not isinstance(data, dict) or "yolopt_recipe" not in data:
        raise RecipeError(f"--recipe {path}: not a yolopt deploy.json (no 'yolopt_recipe' field)")
    out: dict[str, Any] = {}
    for k in OPTIONS:
        v = data.get(k)
        if v is None:
            continue
        if not isinstance(v, _TYPES[k]) or isinstance(v, bool):
            raise RecipeError(f"--recipe {path}: field {k!r} is {v!r}, expected {_TYPES[k][0].__name__}")
        out[k] = v
    if "model" not in out:
        raise RecipeError(f"--recipe {path}: no 'model' field")
    model = Path(out["model"])
    if not model.is_absolute() and (path.parent / model).exists():
        out["model"] = str(path.parent / model)
    if out.get("precision") == "int8":
        del out["precision"]  # an INT8 file carries its precision
    return out
