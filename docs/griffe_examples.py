"""Griffe extension: read ``Example:`` sections as examples, not as admonitions.

govmedia's docstrings follow STYLE.md and Google's guide in titling the
section ``Example:``. griffe's Google parser only knows the plural; the
singular becomes an "example" admonition whose ``>>>`` lines render as nested
block quotes (and whose ``[...]`` output is read as Markdown links). This
renames the title before griffe parses the docstring, so each ``>>>`` session
renders as a code block.

Example:
    In mkdocs.yml, under the python handler's options:
    ``extensions: [docs/griffe_examples.py:ExampleSections]``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_TITLE = re.compile(r"^(?P<indent>[ \t]*)Example:[ \t]*$", re.MULTILINE)


def _walk(obj: griffe.Object, seen: set[str]) -> None:
    if obj.path in seen:
        return
    seen.add(obj.path)
    if obj.docstring is not None:
        obj.docstring.value = _TITLE.sub(r"\g<indent>Examples:", obj.docstring.value)
    for member in obj.members.values():
        if not member.is_alias:
            _walk(member, seen)  # type: ignore[arg-type]


class ExampleSections(griffe.Extension):
    """Retitle ``Example:`` sections of every docstring in a loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:  # noqa: ARG002
        """Walk the package once it is loaded."""
        _walk(pkg, set())
