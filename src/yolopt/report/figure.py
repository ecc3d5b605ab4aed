"""An image embedded in the report itself (a data: URI), so the file needs no network and no side files."""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def new_figure(width: float, height: float, what: str = "the report's charts") -> Any:
    """A matplotlib Figure outside pyplot (no global figure registry; nothing to close)."""
    from ..optional import require

    return require("matplotlib.figure", "yolopt[eval]", what).Figure(figsize=(width, height))


class Figure:
    """A picture with alt text and an optional caption; build it with one of the ``from_*`` constructors."""

    def __init__(self, data_uri: str, alt: str, caption: str | None = None):
        if not data_uri.startswith("data:image/"):
            raise ValueError("Figure needs a data:image/ URI (the report embeds its images)")
        self.data_uri, self.alt, self.caption = data_uri, alt, caption

    @classmethod
    def from_png(cls, data: bytes, alt: str, caption: str | None = None) -> Figure:
        """A figure from PNG bytes."""
        if not data.startswith(PNG_SIGNATURE):
            raise ValueError(f"Figure.from_png: data is not a PNG (starts {data[:8]!r})")
        return cls("data:image/png;base64," + base64.b64encode(data).decode("ascii"), alt, caption)

    @classmethod
    def from_svg(cls, svg: str, alt: str, caption: str | None = None) -> Figure:
        """A figure from SVG text, embedded as an image (so any script in it never runs)."""
        if "<svg" not in svg[:4096]:
            raise ValueError("Figure.from_svg: text has no <svg> element")
        return cls("data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii"), alt, caption)

    @classmethod
    def from_matplotlib(cls, fig: Any, alt: str, caption: str | None = None, dpi: int = 100) -> Figure:
        """A figure from a matplotlib Figure, rendered to PNG (the figure is left open: the caller owns it)."""
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        return cls.from_png(buf.getvalue(), alt, caption)

    def html(self) -> str:
        cap = f"<figcaption>{escape(self.caption)}</figcaption>" if self.caption else ""
        return f'<figure><img src="{escape(self.data_uri)}" alt="{escape(self.alt)}">{cap}</figure>'
