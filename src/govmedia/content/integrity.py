r"""Nothing given is published short without a check problem saying so.

Renderers keep every piece of text they are given, or the check reports why
not. `body_problems` finds, without rendering the body:

- ``too_deep``: Markdown nested deeper than `~govmedia.content.markup.MAX_NESTING`
  levels. It is rendered as plain text from that line on (never cut, as
  markdown-it alone would), so the author should fix the structure;
- ``content_lost``: text inside ``<svg>`` or ``<math>`` in an HTML body: the
  sanitizer removes those elements whole (they can carry scripts), so their
  text would not be published.

`text_floor` is a cheap lower bound of the characters of text a body renders
to (Markdown: a block-level parse only, about a tenth of a full rendering;
HTML: one pass of the parser, no output): a platform whose limit is below it
can refuse the body without rendering it whole.

Example:
    >>> from govmedia.content.integrity import body_problems
    >>> [p.code for p in body_problems(">" * 40 + " 深处的一段话")]
    ['too_deep']
    >>> lost = body_problems('<p>图示<svg><text x="0">产量 1120 万吨</text></svg></p>', "html")
    >>> lost[0].code, lost[0].message[:50]
    ('content_lost', "the <svg> at line 1 holds text ('产量 1120 万吨') that")
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import attrs
from markdown_it.helpers import parseLinkDestination, parseLinkTitle
from markdown_it.rules_core import StateCore

from govmedia.content._cache import RENDERED
from govmedia.content.markup import MAX_NESTING, TOO_DEEP, markdown
from govmedia.model import Problem

__all__ = [
    "REMOVED",
    "SELF_CLOSING",
    "SHOWN_BUT_REMOVED",
    "VOID",
    "BodyFacts",
    "body_facts",
    "body_problems",
    "text_floor",
]

# Characters counted toward the floor: ASCII letters and digits, and any other
# character that is not a space. ASCII punctuation may be Markdown syntax.
_NOT_COUNTED = re.compile(r"[\s\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]")
_ENTITY = re.compile(r"&#?[0-9A-Za-z]+;")
_LABEL = re.compile(r"\]\[[^\]]*\]")  # the [label] of a [text][label] reference
_BLANK = re.compile(r"[\s\x00-\x1f\x7f]")
_SAMPLE = 40

#: Elements govmedia's renderers remove with everything inside them: what a
#: reader's browser never shows as text (scripts, styles, frames, players and
#: their fallbacks), and SVG and MathML, which the sanitizer removes whole.
REMOVED = frozenset({
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "noscript",
    "template", "svg", "math", "head", "title", "audio", "video", "canvas", "map", "datalist",
})
#: Of `REMOVED`, the elements whose text a reader would have seen: reported as lost.
SHOWN_BUT_REMOVED = frozenset({"svg", "math"})
#: Of `REMOVED`, the elements that ``<x/>`` closes (foreign elements; HTML ones stay open).
SELF_CLOSING = frozenset({"svg", "math"})
#: Elements that never have content.
VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "base", "source", "track",
                  "wbr", "area", "col", "param", "embed"})


@attrs.frozen
class BodyFacts:
    """What a body holds that its renderings depend on.

    Attributes:
        text_floor: the body renders to at least this many characters of text.
        too_deep_at: the first line (1-based) nested deeper than Markdown allows, or ``None``.
        removed: ``(tag, line, text)`` of each ``<svg>``/``<math>`` holding text.
    """

    text_floor: int = 0
    too_deep_at: int | None = None
    removed: tuple[tuple[str, int, str], ...] = ()


def _counted(text: str) -> int:
    return len(_NOT_COUNTED.sub("", text))


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\n":
        pos += 1
    return pos


def _destination_end(text: str, pos: int) -> int | None:
    """Where ``(destination "title")`` starting at *pos* ends, as markdown-it parses it."""
    pos = _skip_space(text, pos)
    found = parseLinkDestination(text, pos, len(text)) if pos < len(text) else None
    if found is None or not found.ok:
        return None  # not an inline link: the parenthesis is shown as text
    pos = after = found.pos
    pos = _skip_space(text, pos)
    title = parseLinkTitle(text, pos, len(text))
    if pos < len(text) and pos != after and title.ok:
        pos = _skip_space(text, title.pos)
    return pos + 1 if pos < len(text) and text[pos] == ")" else None


def _shown(content: str) -> str:
    """What of a paragraph's Markdown may be shown; never more than is."""
    image = content.find("![")
    if image >= 0:  # alt texts are not shown: give up the rest of the paragraph
        content = content[:image]
    parts, pos = [], 0
    while (bracket := content.find("](", pos)) >= 0:
        parts.append(content[pos:bracket])  # the link text is shown
        end = _destination_end(content, bracket + 2)
        pos = end if end is not None else bracket + 2
    parts.append(content[pos:])
    return _ENTITY.sub("", _LABEL.sub("", "".join(parts)))


def _markdown_facts(body: str) -> BodyFacts:
    md = markdown()
    env: dict[str, object] = {}
    state = StateCore(body, md, env)
    for rule in md.core.ruler.getRules(""):
        if rule.__name__ == "inline":  # the costly part, and not needed here
            break
        rule(state)
    floor = 0
    for token in state.tokens:
        if token.type == "inline":
            floor += _counted(_shown(token.content))
        elif token.type in ("fence", "code_block"):
            floor += _counted(token.content)
    deep = env.get(TOO_DEEP)
    return BodyFacts(text_floor=floor, too_deep_at=deep if isinstance(deep, int) else None)


class _Scan(HTMLParser):
    """Counts the text outside removed elements; collects the text of SVG/MathML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.region: tuple[str, int] = ("", 0)
        self.text: list[str] = []
        self.floor = 0
        self.found: list[tuple[str, int, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: ARG002
        if tag in REMOVED and tag not in VOID:
            if not self.skip:
                self.region, self.text = (tag, self.getpos()[0]), []
            self.skip += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in SELF_CLOSING:  # <script/> or <iframe/> stay open, as in a browser
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self.skip and tag in REMOVED and tag not in VOID:
            self.skip -= 1
            if not self.skip:
                self.done()

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.floor += len(_BLANK.sub("", data))
        elif self.region[0] in SHOWN_BUT_REMOVED:
            self.text.append(data)

    def done(self) -> None:
        text = " ".join("".join(self.text).split())
        tag, line = self.region
        if text and tag in SHOWN_BUT_REMOVED:
            sample = text if len(text) <= _SAMPLE else text[:_SAMPLE] + "…"
            self.found.append((tag, line, sample))
        self.text = []


def _html_facts(body: str) -> BodyFacts:
    scanner = _Scan()
    scanner.feed(body)
    scanner.close()
    if scanner.skip:
        scanner.done()  # never closed: removed to the end
    return BodyFacts(text_floor=scanner.floor, removed=tuple(scanner.found))


def _text_facts(body: str) -> BodyFacts:
    return BodyFacts(text_floor=len(re.sub(r"[\s\x00-\x1f\x7f]", "", body)))


_FACTS = {"markdown": _markdown_facts, "html": _html_facts, "text": _text_facts}


def body_facts(body: str, body_format: str = "markdown") -> BodyFacts:
    r"""The `BodyFacts` of *body* (kept in a small cache: every member asks the same).

    Example:
        >>> body_facts("# 标题\n\n正文 **粗体** [链接](https://example.org/很长的地址) 完").text_floor
        9
    """
    make = _FACTS.get(body_format)
    if make is None:
        return BodyFacts()
    return RENDERED.get(("facts", body_format, body), lambda: make(body), lambda _: len(body))


# With *enough* given, a long body is first judged by its head: this many
# characters of source per character of text wanted.
_HEAD_FACTOR = 8


def _head(body: str, body_format: str, size: int) -> str:
    if body_format == "markdown":
        # Cut at a blank line: no paragraph, heading or link is split, and a
        # fence cut open is code in the whole body too.
        return body[:max(body.rfind("\n\n", 0, size), 0)]
    return body[:size]


def _head_floor(head: str, body_format: str) -> int:
    """The floor of a body's head: never more than the whole body's."""
    if body_format == "html":
        scanner = _Scan()
        scanner.feed(head)  # not closed: an incomplete tag at the end counts nothing
        return scanner.floor
    return _FACTS[body_format](head).text_floor


def text_floor(body: str, body_format: str = "markdown", *, enough: int | None = None) -> int:
    r"""At least how many characters of text *body* renders to (a WeChat article shows them all).

    With *enough*, a body much longer than that is first judged by its head,
    so refusing a 10 MB body costs what reading its first pages costs; the
    answer is then only known to be at least *enough*.

    Example:
        >>> text_floor("国" * 30_000) >= 20_000
        True
        >>> text_floor("国资委召开会议。\n\n" * 1_000_000, enough=20_000) >= 20_000
        True
    """
    if enough is not None and len(body) > _HEAD_FACTOR * enough and body_format in _FACTS:
        head = _head(body, body_format, _HEAD_FACTOR * enough)
        floor: int = RENDERED.get(("head", body_format, head),
                                  lambda: _head_floor(head, body_format), lambda _: len(head))
        if floor >= enough:
            return floor
    return body_facts(body, body_format).text_floor


def body_problems(body: str | None, body_format: str = "markdown", *,
                  field: str = "body") -> list[Problem]:
    """``too_deep`` and ``content_lost`` problems of *body*, each saying where.

    Example:
        >>> body_problems("# 正常的正文") == []
        True
    """
    if not body:
        return []
    facts = body_facts(body, body_format)
    problems = []
    if facts.too_deep_at is not None:
        problems.append(Problem(
            code="too_deep", field=field,
            message=f"the Markdown at line {facts.too_deep_at} is nested more than "
                    f"{MAX_NESTING} levels deep (quotes in quotes, lists in lists); from there "
                    "it would be published as plain text with its markup showing",
        ))
    for tag, line, sample in facts.removed:
        problems.append(Problem(
            code="content_lost", field=field,
            message=f"the <{tag}> at line {line} holds text ({sample!r}) that would not be "
                    "published: SVG and MathML are removed whole; write that text outside it",
        ))
    return problems
