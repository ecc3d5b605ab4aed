"""The report's content blocks: tables, key-value lists, text, code. Each renders itself as escaped HTML."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, Protocol


class Block(Protocol):
    """Anything a report section holds: it renders itself to an HTML fragment."""

    def html(self) -> str: ...


def format_value(v: Any) -> str:
    """A cell's text: floats to 4 significant digits (1000 and above: whole), None as empty, the rest as str."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    return str(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _cell(v: Any) -> str:
    """A <td> whose data-v carries the raw value, so sorting is numeric where the column is."""
    raw = repr(float(v)) if _is_number(v) and not math.isnan(v) else format_value(v)
    cls = ' class="num"' if _is_number(v) else ""
    return f'<td{cls} data-v="{escape(raw)}">{escape(format_value(v))}</td>'


class Table:
    """A table of ``rows`` under ``columns``; ``highlight`` marks one row (e.g. the chosen candidate)."""

    def __init__(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], sortable: bool = True,
                 highlight: int | None = None, caption: str | None = None):
        self.columns = [str(c) for c in columns]
        self.rows = [list(r) for r in rows]
        for i, r in enumerate(self.rows):
            if len(r) != len(self.columns):
                raise ValueError(f"table row {i} has {len(r)} cells, expected {len(self.columns)} ({self.columns})")
        if highlight is not None and not 0 <= highlight < len(self.rows):
            raise ValueError(f"highlight={highlight} is not a row index (table has {len(self.rows)} rows)")
        self.sortable, self.highlight, self.caption = sortable, highlight, caption

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
                     **kwargs: Any) -> Table:
        """A table from dicts (e.g. JSON rows); ``columns`` defaults to every key, in first-seen order."""
        if columns is None:
            columns = list(dict.fromkeys(k for r in records for k in r))
        return cls(columns, [[r.get(c) for c in columns] for r in records], **kwargs)

    def html(self) -> str:
        cls = ' class="sortable"' if self.sortable else ""
        head = "".join(f"<th>{escape(c)}</th>" for c in self.columns)
        hi = ' class="highlight"'
        body = "\n".join(f'<tr{hi if i == self.highlight else ""}>{"".join(_cell(v) for v in r)}</tr>'
                         for i, r in enumerate(self.rows))
        cap = f"<caption>{escape(self.caption)}</caption>" if self.caption else ""
        return (f'<div class="table-wrap"><table{cls}>{cap}<thead><tr>{head}</tr></thead>\n'
                f"<tbody>\n{body}\n</tbody></table></div>")


class KeyValues:
    """A two-column list of facts (``mapping`` keys and values, in order)."""

    def __init__(self, mapping: Mapping[str, Any], caption: str | None = None):
        self.items = [(str(k), v) for k, v in mapping.items()]
        self.caption = caption

    def html(self) -> str:
        rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(format_value(v))}</td></tr>" for k, v in self.items)
        cap = f"<caption>{escape(self.caption)}</caption>" if self.caption else ""
        return f'<div class="table-wrap"><table class="kv">{cap}<tbody>{rows}</tbody></table></div>'


_INLINE = [(re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
           (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
           (re.compile(r"(?<![\w*])\*([^*\s][^*]*)\*(?!\w)"), r"<em>\1</em>")]


def _inline(text: str) -> str:
    out = escape(text, quote=False)
    for pattern, repl in _INLINE:
        out = pattern.sub(repl, out)
    return out


class Text:
    """Prose: plain text or a small Markdown subset (paragraphs, ``- `` lists, `code`, **bold**, *italic*)."""

    def __init__(self, text: str):
        self.text = text

    def html(self) -> str:
        parts = []
        for para in re.split(r"\n\s*\n", self.text.strip()):
            lines = para.splitlines()
            if lines and all(line.lstrip().startswith(("- ", "* ")) for line in lines):
                items = "".join(f"<li>{_inline(line.lstrip()[2:])}</li>" for line in lines)
                parts.append(f"<ul>{items}</ul>")
            elif para.strip():
                parts.append(f"<p>{_inline(' '.join(line.strip() for line in lines))}</p>")
        return "\n".join(parts)


class Code:
    """Verbatim text in a monospace box, e.g. the commands that reproduce a result."""

    def __init__(self, text: str, caption: str | None = None):
        self.text, self.caption = text, caption

    def html(self) -> str:
        cap = f"<p>{_inline(self.caption)}</p>" if self.caption else ""
        return f"{cap}<pre><code>{escape(self.text.rstrip())}</code></pre>"
