"""Lean construction of httpx URLs, requests and responses on the hot path.

httpx's constructors check and normalise everything in pure Python: parsing a
URL costs ~15 us, a `Request` with a body ~17 us and a `Response` that reads
its body ~18 us here, a sixth of govmedia's own CPU per delivery in a fan-out
(benchmarks/, docs/performance.md). The helpers below give the same objects
for the common, plain cases and hand anything unusual to httpx itself:

* `parse_url` parses scheme and authority with httpx (cached: a fan-out has
  few hosts) and takes a plain path and query as they are, which is what
  httpx's normalisation leaves of them;
* `build_request` sets ``Host`` and ``Content-Length`` itself and hands the
  body over as a stream, so httpx skips its content encoding;
* `build_response` keeps a body that needs no decoding as it came.

Two of these (and `with_content`) touch httpx's private state (a URL's parse result, a response's
``_content``). Both are checked once at import against httpx's own
constructors; if a later httpx differs, they step aside and httpx builds
everything, only slower. tests/client/test_lean_http.py holds them equal to httpx
on generated input.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

import httpx

__all__ = ["build_request", "build_response", "parse_url", "with_content"]

_SPLIT = re.compile(r"((?i:https?))://([^/?#]+)(/[^?#]*)?(?:\?([^#]*))?", re.ASCII)
# Characters httpx leaves alone in a path and a query ('%' is left out:
# httpx re-encodes a stray one).
_PATH = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/]*", re.ASCII)
_QUERY = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*", re.ASCII)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@functools.lru_cache(maxsize=512)
def _origin(scheme_authority: str) -> httpx.URL:
    return httpx.URL(scheme_authority)


def _fast_url(text: str) -> httpx.URL | None:
    """The URL of *text* built without httpx's parser, or None when it is not plain."""
    match = _SPLIT.fullmatch(text)
    if match is None:
        return None
    scheme, authority, path, query = match.groups()
    path = path or ""
    if ("/." in path or not _PATH.fullmatch(path)
            or (query is not None and not _QUERY.fullmatch(query))):
        return None  # dot segments, percent signs, anything httpx would rewrite
    origin = _origin(f"{scheme}://{authority}")  # httpx checks the host and port
    reference = origin._uri_reference  # noqa: SLF001 - checked at import, see _works()
    if reference.userinfo:
        return None
    url = httpx.URL.__new__(httpx.URL)
    url._uri_reference = reference._replace(path=path or reference.path, query=query)  # noqa: SLF001
    return url


@functools.lru_cache(maxsize=4096)
def parse_url(text: str) -> httpx.URL:
    """*text* as an `httpx.URL`, equal to ``httpx.URL(text)``.

    Example:
        >>> from govmedia._http import parse_url
        >>> parse_url("https://Example.org/hooks/7?x=1")
        URL('https://example.org/hooks/7?x=1')
    """
    if _FAST_URL:
        url = _fast_url(text)
        if url is not None:
            return url
    return httpx.URL(text)


def build_request(
    method: str, url: httpx.URL | str, *, content: bytes = b"",
    headers: Iterable[tuple[str, str]] = (),
) -> httpx.Request:
    """``httpx.Request(method, url, content=content, headers=headers)``, built faster.

    *headers* must not set ``Host`` or ``Content-Length``: they are set here.

    Example:
        >>> from govmedia._http import build_request
        >>> r = build_request("POST", "https://example.org/h", content=b"{}",
        ...                   headers=[("Content-Type", "application/json")])
        >>> r.headers["content-length"], r.content
        ('2', b'{}')
    """
    if not isinstance(url, httpx.URL):
        url = parse_url(url)
    method = method.upper()
    # The order httpx gives: Host, an empty body's length, the caller's
    # headers, a body's length.
    raw: list[Any] = [(b"Host", url.netloc)]
    if not content and method in _BODY_METHODS:
        raw.append((b"Content-Length", b"0"))
    raw.extend(headers)
    if content:
        raw.append((b"Content-Length", str(len(content)).encode()))
    request = httpx.Request(method, url, headers=raw, stream=httpx.ByteStream(content))
    request.read()
    return request


def _encoding(raw_headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    for key, value in raw_headers:
        if key.lower() == b"content-encoding":
            return value
    return None


def build_response(
    status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes, request: httpx.Request,
    *, max_body: int | None = None,
) -> httpx.Response:
    """A read `httpx.Response` for a body received whole, as it came off the wire.

    A ``Content-Encoding`` (gzip, say) is decoded by httpx as usual, or, with
    *max_body*, by `govmedia._limits.decode_capped`, which stops a gzip bomb
    at that many bytes.

    Example:
        >>> import httpx
        >>> from govmedia._http import build_response
        >>> r = build_response(200, [(b"Content-Type", b"application/json")], b'{"ok":true}',
        ...                    httpx.Request("GET", "https://example.org/"))
        >>> r.json()
        {'ok': True}
    """
    encoding = _encoding(raw_headers)
    content = body
    decoded = False
    if encoding is not None and max_body is not None:
        from govmedia._limits import decode_capped

        decoded = True
        content = decode_capped(body, encoding.decode("latin-1"), max_body, request.url)
        if not _FAST_BODY:  # httpx would decode it again: hand it over as plain content
            plain = [(k, v) for k, v in raw_headers if k.lower() != b"content-encoding"]
            return httpx.Response(status, headers=plain, content=content, request=request)
    response = httpx.Response(status, headers=raw_headers, stream=httpx.ByteStream(body),
                              request=request)
    if _FAST_BODY and (encoding is None or decoded):
        # What read() leaves behind, without its chunking and decoder machinery.
        response._content = content  # noqa: SLF001 - checked at import, see _works()
        response.is_stream_consumed = True
        response.is_closed = True
    else:
        response.read()
    return response


def with_content(response: httpx.Response, content: bytes) -> httpx.Response:
    """*response*, streamed and closed, holding *content*: its body read (and decoded) elsewhere.

    Example:
        >>> import httpx
        >>> from govmedia._http import with_content
        >>> r = httpx.Response(200, headers={"Content-Encoding": "gzip"},
        ...                    stream=httpx.ByteStream(b"(gzip bytes)"))
        >>> r.close()
        >>> with_content(r, b'{"a":1}').json()
        {'a': 1}
    """
    if _FAST_BODY:
        response._content = content  # noqa: SLF001 - checked at import, see _works()
        response.is_stream_consumed = response.is_closed = True
        return response
    # httpx changed: a new response, its content already decoded.
    plain = [(k, v) for k, v in response.headers.raw if k.lower() != b"content-encoding"]
    return httpx.Response(response.status_code, headers=plain, content=content,
                          request=response.request, extensions=response.extensions)


def _works(check: Any) -> bool:
    try:
        return bool(check())
    except Exception:  # noqa: BLE001 - any surprise means: let httpx do it
        return False


def _url_check() -> bool:
    for text in ("http://127.0.0.1:8080/a/b?c=d", "HTTPS://Ex-ample.ORG:443", "https://x.org/p;q=1?"):
        fast = _fast_url(text)
        slow = httpx.URL(text)
        if fast is None or fast != slow or str(fast) != str(slow) or fast.raw_path != slow.raw_path:
            return False
    return True


def _body_check() -> bool:
    request = httpx.Request("GET", "https://example.org/")
    response = httpx.Response(200, stream=httpx.ByteStream(b'{"a":1}'), request=request)
    response._content = b'{"a":1}'  # noqa: SLF001
    response.is_stream_consumed = response.is_closed = True
    return response.content == b'{"a":1}' and response.json() == {"a": 1} and response.text == '{"a":1}'


_FAST_URL = _works(_url_check)
_FAST_BODY = _works(_body_check)
