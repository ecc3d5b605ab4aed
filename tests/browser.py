"""Render a report in headless Chromium: a screenshot, the DOM after scripts ran, and checks on both.

Tests call :func:`chromium_or_skip` first: without Chromium they are skipped with the reason (``.ci/run``
installs Debian's ``chromium``). :func:`page_checks` needs no browser: it parses the HTML itself.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Appended to a copy of the page: after load, every <img> gets its decoded width, and the first sortable
# table is sorted by clicking its last header twice (descending), so the dumped DOM shows both.
PROBE = """<script>
window.addEventListener('load', function () {
  document.querySelectorAll('img').forEach(function (im) {
    im.setAttribute('data-natural-width', String(im.complete ? im.naturalWidth : -1));
  });
  var t = document.querySelector('table.sortable');
  if (t) {
    var hs = t.querySelectorAll('thead th'), last = hs[hs.length - 1];
    last.click(); last.click();
    t.setAttribute('data-probe-sorted', last.getAttribute('aria-sort') || '');
  }
  document.body.setAttribute('data-probe', 'done');
});
</script>"""


def chromium_or_skip() -> str:
    """The Chromium executable (``$YOLOPT_CHROMIUM`` or on PATH), or skip the test saying why."""
    exe = os.environ.get("YOLOPT_CHROMIUM") or next((p for p in map(shutil.which, NAMES) if p), None)
    if not exe:
        pytest.skip("headless Chromium not found (Debian: apt-get install chromium; .ci/run installs it): "
                    "the report was not checked in a real browser")
    return exe


def _run(exe: str, args: list[str], timeout: float = 90) -> subprocess.CompletedProcess:
    flags = ["--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--disable-extensions",
             "--mute-audio", *(["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])]
    return subprocess.run([exe, *flags, *args], capture_output=True, text=True, timeout=timeout, check=True)


@dataclass
class Rendered:
    """What Chromium made of a page: the screenshot as an (H, W, 3) array and the DOM after scripts ran."""

    screenshot: np.ndarray
    dom: str


def render(exe: str, html: Path, out_dir: Path, size: tuple[int, int] = (1200, 1600)) -> Rendered:
    """Screenshot ``html`` and dump its DOM (from a copy with :data:`PROBE` appended) in headless Chromium."""
    from PIL import Image

    probed = out_dir / f"{html.stem}.probe.html"
    probed.write_text(html.read_text().replace("</body>", PROBE + "</body>"))
    shot = out_dir / f"{html.stem}.png"
    _run(exe, [f"--screenshot={shot}", f"--window-size={size[0]},{size[1]}", html.resolve().as_uri()])
    dom = _run(exe, ["--virtual-time-budget=5000", "--dump-dom", probed.resolve().as_uri()]).stdout
    return Rendered(np.asarray(Image.open(shot).convert("RGB")), dom)


class _Page(HTMLParser):
    """Tables (cell texts per row, by table) and images (attributes) of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.images: list[dict[str, str]] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._open: list[dict] = []
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: v or "" for k, v in attrs}
        self._in_head = True if tag == "thead" else False if tag == "tbody" else self._in_head
        if tag == "table":
            self._open.append({"attrs": a, "head": [], "rows": []})
        elif tag == "tr" and self._open:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "img":
            self.images.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._open:
            t = self._open[-1]
            if self._in_head:
                t["head"] = self._row
            else:
                t["rows"].append(self._row)
            self._row = None
        elif tag == "table" and self._open:
            self.tables.append(self._open.pop())
            self._in_head = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> _Page:
    p = _Page()
    p.feed(html)
    return p


def table_with(page: _Page, column: str) -> dict:
    """The first table with a header cell ``column``."""
    return next(t for t in page.tables if column in t["head"])


def decode_image(src: str) -> tuple[int, int]:
    """(width, height) of a data: URI image, decoded here (PNG through Pillow, SVG parsed as XML)."""
    from PIL import Image

    m = re.fullmatch(r"data:(image/[\w+.-]+);base64,([A-Za-z0-9+/=]+)", src)
    assert m, f"image src is not a base64 data: URI: {src[:60]!r}"
    raw = base64.b64decode(m.group(2), validate=True)
    if m.group(1) == "image/svg+xml":
        root = ET.fromstring(raw)
        assert root.tag.endswith("svg"), root.tag
        return int(float(root.get("width", "1").rstrip("pt px"))), int(float(root.get("height", "1").rstrip("pt px")))
    im = Image.open(io.BytesIO(raw))
    im.load()
    return im.size


@dataclass
class PageFacts:
    """Checks every report must pass, from its HTML alone."""

    page: _Page
    image_sizes: list[tuple[int, int]] = field(default_factory=list)


def page_checks(html: str) -> PageFacts:
    """Parse a report: self-contained (no http(s) references), every image a decodable data: URI."""
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "the report refers to the network"
    page = parse(html)
    return PageFacts(page, [decode_image(im.get("src", "")) for im in page.images])


def not_blank(img: np.ndarray) -> None:
    """A screenshot with content: pixel variance, and a few percent of pixels away from the background."""
    grey = img.astype(np.float64).mean(2)
    assert grey.std() > 10, f"screenshot looks blank (grey std {grey.std():.1f})"
    assert (np.abs(grey - np.median(grey)) > 40).mean() > 0.01, "screenshot has almost nothing on it"
