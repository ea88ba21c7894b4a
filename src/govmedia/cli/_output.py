r"""Rows for an operator: aligned tables (wide CJK text too), CSV and JSON; nothing cut off.

A table pads every column but the last to its widest cell, measured in
terminal cells (a Chinese character takes two), so long account names line up.
The last column is where the useful end is (``Cannot connect to host …``, a
429's ``retry after 3600 s``): it is never cut. On a terminal it wraps under
itself; elsewhere (a pipe, a file) it runs as long as it is.

Every cell is one line of printable text: newlines become spaces and control
characters (an escape sequence in a platform's error message) are shown as
``\x1b``, never passed to the terminal.

Example:
    >>> print(render_table(["state", "account", "detail"],
    ...                    [["published", "国资小新", "https://example.org/1"],
    ...                     ["failed", "cnpc", "429: retry after 3600 s"]]))
    state      account   detail
    published  国资小新  https://example.org/1
    failed     cnpc      429: retry after 3600 s
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

__all__ = ["FORMATS", "cell", "clean", "render_table", "terminal_width", "width", "write_rows"]

FORMATS = ("table", "csv", "json")

# C0 and C1 controls and DEL; tabs and newlines are folded to spaces first.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SPACE = re.compile(r"[\t\n\r\v\f\u2028\u2029]+")
_GAP = "  "


def clean(text: str) -> str:
    r"""*text* on one line with every control character made visible.

    Example:
        >>> clean("bad\ngateway \x1b[2J")
        'bad gateway \\x1b[2J'
    """
    text = _SPACE.sub(" ", text)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def cell(value: Any) -> str:
    """A value as a table cell: ``-`` for nothing, one clean line otherwise."""
    if value is None or value == "":
        return "-"
    return clean(str(value))


def _char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0  # accents, zero-width joiners and marks sit on the character before
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def width(text: str) -> int:
    """Terminal cells *text* takes: two for wide (CJK) characters, none for marks.

    Example:
        >>> width("gh_国资小新"), width("e\u0301")
        (11, 1)
    """
    if text.isascii():
        return len(text)
    return sum(_char_width(c) for c in text)


def _pad(text: str, cells: int) -> str:
    return text + " " * max(0, cells - width(text))


def _wrap(text: str, cells: int) -> list[str]:
    """*text* in lines of at most *cells* cells, broken at spaces only.

    A word longer than a line (a URL, an id) runs past the edge whole: a
    broken URL cannot be copied.
    """
    lines: list[str] = []
    while width(text) > cells:
        used, space = 0, -1
        for i, char in enumerate(text):
            used += _char_width(char)
            if used > cells:
                break
            if char == " ":
                space = i
        if space <= 0:
            space = text.find(" ", 1)
            if space < 0:
                break
        lines.append(text[:space].rstrip())
        text = text[space:].lstrip()
    lines.append(text)
    return lines


def terminal_width(stream: TextIO) -> int | None:
    """The width of the terminal *stream* writes to, or ``None`` when it is no terminal."""
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    return shutil.get_terminal_size((100, 24)).columns


def render_table(header: Sequence[str], rows: Sequence[Sequence[Any]], *,
                 wrap_at: int | None = None) -> str:
    """Rows as an aligned table; the last column wraps at *wrap_at* cells, or runs long without."""
    cells = [[cell(v) for v in row] for row in rows]
    head = [clean(h) for h in header]
    sizes = [max([width(h), *(width(r[i]) for r in cells)]) for i, h in enumerate(head[:-1])]
    indent = sum(sizes) + len(_GAP) * len(sizes)
    room = None if wrap_at is None else wrap_at - indent
    out = []
    for row in [head, *cells]:
        start = _GAP.join(_pad(v, n) for v, n in zip(row[:-1], sizes, strict=True))
        start = start + _GAP if sizes else start
        last = row[-1]
        if room is None or room < 20:  # too narrow to wrap usefully: let it run
            out.append((start + last).rstrip())
            continue
        pieces = _wrap(last, room)
        out.append((start + pieces[0]).rstrip())
        out.extend(" " * indent + piece for piece in pieces[1:])
    return "\n".join(out)


def write_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], fmt: str,
               out: TextIO | None = None, *, header: Sequence[str] | None = None) -> None:
    """*rows* (dicts) in *fmt*: ``table`` (aligned, *header* names the columns), ``csv`` or ``json``.

    CSV and JSON keep every value as it is (no ``-`` for nothing, no wrapping),
    one object per row in JSON, for a spreadsheet or ``jq``.
    """
    out = out if out is not None else sys.stdout
    if fmt == "json":
        json.dump([{c: r.get(c) for c in columns} for r in rows], out, ensure_ascii=False, indent=2,
                  default=str)
        out.write("\n")
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
        out.write(buffer.getvalue())
    else:
        table = render_table(header or columns, [[r.get(c) for c in columns] for r in rows],
                             wrap_at=terminal_width(out))
        out.write(table + "\n")
    out.flush()
