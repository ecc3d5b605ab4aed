"""The command line that reproduces a report, quoted for a POSIX shell."""

from __future__ import annotations

import shlex
from typing import Any


def command_line(*words: Any, **options: Any) -> str:
    """``yolopt`` + ``words`` + ``--option value`` for each option that is not None (``_`` becomes ``-``;
    True: a bare flag; a list: the option repeated)."""
    out = ["yolopt", *map(str, words)]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            out.append(flag)
            continue
        for v in value if isinstance(value, (list, tuple)) else [value]:
            out += [flag, f"{v:g}" if isinstance(v, float) else str(v)]
    return " ".join(shlex.quote(w) for w in out)
