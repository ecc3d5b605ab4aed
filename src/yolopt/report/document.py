"""A report: a title, sections of blocks, and the machine's facts, written as one self-contained HTML file."""

from __future__ import annotations

import datetime as dt
import re
from html import escape
from pathlib import Path

from ..io.sinks import TextOut
from .blocks import Block
from .facts import machine_facts
from .style import CSS, SORT_JS


def _anchor(heading: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-") or "section"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    taken.add(name)
    return name


class Report:
    """An HTML report: ``Report(title).section(heading, *blocks)...write(path)``; machine facts come last."""

    def __init__(self, title: str, subtitle: str | None = None, machine: bool = True):
        self.title, self.subtitle, self.machine = title, subtitle, machine
        self.sections: list[tuple[str, list[Block]]] = []

    def section(self, heading: str, *blocks: Block) -> Report:
        """Add a section of ``blocks`` under ``heading``; returns the report so calls chain."""
        for b in blocks:
            if not callable(getattr(b, "html", None)):
                raise TypeError(f"section {heading!r}: {type(b).__name__} is not a report block (no .html())")
        self.sections.append((heading, list(blocks)))
        return self

    def html(self) -> str:
        """The whole document as one string (inline CSS, images and script; nothing fetched)."""
        from .. import __version__

        sections = self.sections + ([("Machine", [machine_facts()])] if self.machine else [])
        taken: set[str] = set()
        anchors = [_anchor(h, taken) for h, _ in sections]
        toc = " ".join(f'<a href="#{a}">{escape(h)}</a>' for a, (h, _) in zip(anchors, sections))
        body = "\n".join(f'<section id="{a}"><h2>{escape(h)}</h2>\n' + "\n".join(b.html() for b in blocks)
                         + "</section>" for a, (h, blocks) in zip(anchors, sections))
        sub = f'<p class="subtitle">{escape(self.subtitle)}</p>' if self.subtitle else ""
        when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{escape(self.title)}</title><style>{CSS}</style></head>\n<body>\n"
                f"<h1>{escape(self.title)}</h1>{sub}<nav class=\"toc\">{toc}</nav>\n{body}\n"
                f"<footer>Made by yolopt {escape(__version__)} on {when}.</footer>\n"
                f"<script>{SORT_JS}</script>\n</body></html>\n")

    def write(self, path: str | Path) -> Path:
        """Write the report to ``path`` atomically (a reader never sees half a file); returns the path."""
        out = TextOut(path, atomic=True)
        out.write(self.html())
        out.close()
        return Path(path)
