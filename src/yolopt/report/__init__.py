"""One HTML report renderer for every command: typed blocks in sections, written as one self-contained file."""

from .blocks import Block, Code, KeyValues, Table, Text
from .document import Report
from .facts import machine_facts
from .figure import Figure

__all__ = ["Block", "Code", "Figure", "KeyValues", "Report", "Table", "Text", "machine_facts"]
