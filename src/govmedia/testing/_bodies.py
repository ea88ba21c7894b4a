r"""Request body parsers for fakes, strict the way real servers are.

Each parser raises `Refuse` with the platform's own answer when a body cannot
be read. It names the reason and a *refuse* hook turns it into that answer:

- ``charset``: the body (or a text field) is not UTF-8;
- ``escape``: a JSON body has a ``\uXXXX`` escape where the platform wants
  raw UTF-8 (WeChat refuses them with 40033);
- ``syntax``: not JSON, or a form that does not parse;
- ``not_object``: JSON, but not an object;
- ``multipart``: a multipart/form-data body without its boundaries or a
  part without a name.

Form fields, multipart text fields and query parameters are read the way
Rails, Rack and PHP read them: a name ending in ``[]`` collects a list, any
other name keeps its last value.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

import attrs
import httpx

from govmedia.testing._refuse import Refusal, Refuse

__all__ = [
    "REASONS", "Multipart", "Part", "default_refusal", "parse_form", "parse_json", "parse_multipart",
    "parse_params", "parse_query",
]

REASONS = {
    "charset": "body is not UTF-8",
    "escape": "body has \\u escapes",
    "syntax": "body does not parse",
    "not_object": "body is not a JSON object",
    "multipart": "malformed multipart body",
}
_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u[0-9a-fA-F]{4}")
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_NAME = re.compile(r'(?:^|;)\s*name="([^"]*)"')
_FILENAME = re.compile(r'(?:^|;)\s*filename="([^"]*)"')


def default_refusal(reason: str) -> httpx.Response:
    """A 400 with ``{"error": ...}``: the answer when a fake gives no hook of its own.

    Example:
        >>> from govmedia.testing import default_refusal
        >>> default_refusal("syntax").json()
        {'error': 'body does not parse'}
    """
    return httpx.Response(400, json={"error": REASONS.get(reason, reason)})


def _text(data: bytes, refuse: Refusal) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise Refuse(refuse("charset")) from None


def _fold(pairs: Any) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in pairs:
        if key.endswith("[]"):
            params.setdefault(key[:-2], []).append(value)
        else:
            params[key] = value
    return params


def media_type(request: httpx.Request) -> str:
    """The request's content type without parameters, lower case."""
    value: str = request.headers.get("content-type", "")
    return value.split(";", maxsplit=1)[0].strip().lower()


def parse_json(
    request: httpx.Request, *, refuse: Refusal = default_refusal, escapes: bool = True,
) -> dict[str, Any]:
    r"""The JSON object in *request*'s body: UTF-8, an object, or refused.

    The content type is not checked (several platforms read any body as JSON).

    Args:
        request: the request.
        refuse: the platform's answer per reason (see the module docs).
        escapes: False refuses ``\uXXXX`` escapes (reason ``escape``).

    Example:
        >>> import httpx
        >>> from govmedia.testing import Refuse, parse_json
        >>> parse_json(httpx.Request("POST", "https://x.test/", content='{"title": "标题"}'.encode()))
        {'title': '标题'}
        >>> try:
        ...     parse_json(httpx.Request("POST", "https://x.test/", content=b"[1]"))
        ... except Refuse as refusal:
        ...     refusal.response.json()
        {'error': 'body is not a JSON object'}
    """
    text = _text(request.read(), refuse)
    if not escapes and _ESCAPE.search(text):
        raise Refuse(refuse("escape"))
    try:
        data = json.loads(text)
    except ValueError:
        raise Refuse(refuse("syntax")) from None
    if not isinstance(data, dict):
        raise Refuse(refuse("not_object"))
    return data


def parse_form(request: httpx.Request, *, refuse: Refusal = default_refusal) -> dict[str, Any]:
    """The fields of an ``application/x-www-form-urlencoded`` body.

    Example:
        >>> import httpx
        >>> from govmedia.testing import parse_form
        >>> body = b"status=%E4%BD%A0%E5%A5%BD&media_ids[]=1&media_ids[]=2"
        >>> parse_form(httpx.Request("POST", "https://x.test/", content=body))
        {'status': '你好', 'media_ids': ['1', '2']}
    """
    try:
        pairs = parse_qsl(_text(request.read(), refuse), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:  # a percent-encoded byte that is not UTF-8
        raise Refuse(refuse("charset")) from None
    return _fold(pairs)


def parse_query(request: httpx.Request) -> dict[str, Any]:
    """The query parameters of *request*, folded like form fields.

    Example:
        >>> import httpx
        >>> from govmedia.testing import parse_query
        >>> parse_query(httpx.Request("GET", "https://x.test/?appid=wx1&ids[]=1&ids[]=2"))
        {'appid': 'wx1', 'ids': ['1', '2']}
    """
    return _fold(request.url.params.multi_items())


@attrs.frozen
class Part:
    """One part of a multipart/form-data body.

    Attributes:
        name: the form field's name.
        filename: the file name sent, ``None`` for a plain field.
        content_type: the part's ``Content-Type``, ``None`` when absent.
        data: the raw bytes.

    Example:
        >>> from govmedia.testing import Part
        >>> Part("file", "chart.png", "image/png", b"...").is_file
        True
    """

    name: str
    filename: str | None
    content_type: str | None
    data: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")

    @property
    def is_file(self) -> bool:
        """True for a file upload (it has a file name)."""
        return self.filename is not None


@attrs.frozen
class Multipart:
    """The parts of a multipart/form-data body, in order.

    Example:
        >>> import httpx
        >>> from govmedia.testing import parse_multipart
        >>> request = httpx.Request("POST", "https://x.test/", data={"description": "图"},
        ...                         files={"file": ("a.png", b"PNG", "image/png")})
        >>> form = parse_multipart(request)
        >>> form.fields, form["file"].filename, form.get("thumbnail")
        ({'description': '图'}, 'a.png', None)
    """

    parts: tuple[Part, ...] = ()
    fields: dict[str, Any] = attrs.field(factory=dict)
    """The text fields (parts without a file name), folded like form fields."""

    def get(self, name: str) -> Part | None:
        """The part called *name* (the last one, as Rack and PHP read them), or ``None``."""
        found = [p for p in self.parts if p.name == name]
        return found[-1] if found else None

    def getall(self, name: str) -> list[Part]:
        """Every part called *name*, in order."""
        return [p for p in self.parts if p.name == name]

    def __getitem__(self, name: str) -> Part:
        part = self.get(name)
        if part is None:
            raise KeyError(name)
        return part

    def __contains__(self, name: object) -> bool:
        return any(p.name == name for p in self.parts)


def parse_multipart(request: httpx.Request, *, refuse: Refusal = default_refusal) -> Multipart:
    """The parts of a multipart/form-data body; no parts for another content type.

    Strict: the closing boundary must be there, each part needs a
    ``Content-Disposition: form-data`` with a name (reason ``multipart``),
    and text fields must be UTF-8 (reason ``charset``).

    Example:
        >>> import httpx
        >>> from govmedia.testing import parse_multipart
        >>> request = httpx.Request("POST", "https://x.test/", files={
        ...     "cover": ("cover.jpg", b"JPEG", "image/jpeg"), "media": ("a.mp4", b"MP4", "video/mp4")})
        >>> [(p.name, p.filename, p.content_type, p.data) for p in parse_multipart(request).parts]
        [('cover', 'cover.jpg', 'image/jpeg', b'JPEG'), ('media', 'a.mp4', 'video/mp4', b'MP4')]
    """
    found = _BOUNDARY.search(request.headers.get("content-type", ""))
    if media_type(request) != "multipart/form-data":
        return Multipart()
    if not found:
        raise Refuse(refuse("multipart"))
    delimiter = b"--" + found.group(1).encode("latin-1")
    chunks = request.read().split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise Refuse(refuse("multipart"))
    parts = []
    for chunk in chunks[1:-1]:
        head, sep, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = _NAME.search(disposition)
        if not sep or not disposition.lower().startswith("form-data") or not name:
            raise Refuse(refuse("multipart"))
        filename = _FILENAME.search(disposition)
        parts.append(Part(name.group(1), filename.group(1) if filename else None,
                          headers.get("content-type"), data.removesuffix(b"\r\n")))
    fields = _fold((p.name, _text(p.data, refuse)) for p in parts if not p.is_file)
    return Multipart(tuple(parts), fields)


def parse_params(request: httpx.Request, *, refuse: Refusal = default_refusal) -> dict[str, Any]:
    """Parameters from a JSON, multipart or form body, chosen by content type, as Rails reads them.

    An empty body has none.

    Example:
        >>> import httpx
        >>> from govmedia.testing import parse_params
        >>> parse_params(httpx.Request("POST", "https://x.test/", json={"status": "你好"}))
        {'status': '你好'}
        >>> parse_params(httpx.Request("POST", "https://x.test/", data={"status": "你好"}))
        {'status': '你好'}
    """
    if not request.read():
        return {}
    kind = media_type(request)
    if kind == "application/json":
        return parse_json(request, refuse=refuse)
    if kind == "multipart/form-data":
        return parse_multipart(request, refuse=refuse).fields
    return parse_form(request, refuse=refuse)
