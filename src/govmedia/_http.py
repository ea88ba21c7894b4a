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

These (and `with_content`, `copy_request`) touch httpx's private state (a
URL's parse result, a response's ``_content``, the attributes
`httpx.Request`, `httpx.Response` and `httpx.Headers` set in their
constructors). Each shortcut is checked once at import against httpx's own
constructors; if a later httpx differs, it steps aside and httpx builds
everything, only slower. tests/client/test_lean_http.py holds them equal to
httpx on generated input.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

import httpx

__all__ = ["build_request", "build_response", "copy_request", "parse_url", "with_content"]

# Scheme, authority, then a path and a query made only of characters httpx
# leaves alone ('%' is left out: httpx re-encodes a stray one). Anything else
# does not match, and goes to httpx.
_SPLIT = re.compile(r"((?i:https?))://([^/?#]+)(/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*)?"
                    r"(?:\?([A-Za-z0-9\-._~!$&'()*+,;=:@/?]*))?", re.ASCII)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@functools.lru_cache(maxsize=512)
def _origin(scheme_authority: str) -> httpx.URL:
    return httpx.URL(scheme_authority)


def _fast_url(text: str) -> httpx.URL | None:
    """The URL of *text* built without httpx's parser, or None when it is not plain."""
    match = _SPLIT.fullmatch(text)
    if match is None:
        return None  # percent signs, anything httpx would rewrite
    scheme, authority, path, query = match.groups()
    if path and "/." in path:
        return None  # dot segments
    origin = _origin(f"{scheme}://{authority}")  # httpx checks the host and port
    reference = origin._uri_reference  # noqa: SLF001 - checked at import, see _works()
    if reference.userinfo:
        return None
    url = httpx.URL.__new__(httpx.URL)
    # The origin's parse result with this path and query, made directly:
    # namedtuple's _replace costs more than the rest of this function.
    url._uri_reference = type(reference)(  # noqa: SLF001
        reference.scheme, reference.userinfo, reference.host, reference.port,
        path or reference.path, query, None)
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


def _headers(items: list[tuple[bytes, bytes, bytes]]) -> httpx.Headers:
    """``httpx.Headers`` holding *items*: ``(key, lowercase key, value)`` byte triples."""
    headers = _new_headers(httpx.Headers)
    headers._list = items  # noqa: SLF001
    headers._encoding = None  # noqa: SLF001 - worked out on first use, as httpx does
    return headers


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
    if not _FAST_OBJECTS:
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
    # The same headers, as httpx keeps them: (key, lowercase key, value).
    items = [(b"Host", b"host", url.netloc)]
    if not content and method in _BODY_METHODS:
        items.append((b"Content-Length", b"content-length", b"0"))
    for key, value in headers:
        raw_key = key.encode("ascii")  # httpx's encoding (and its error on other text)
        items.append((raw_key, raw_key.lower(), value.encode("ascii")))
    if content:
        items.append((b"Content-Length", b"content-length", str(len(content)).encode()))
    request = _new_request(httpx.Request)
    # What httpx.Request(method, url, headers=..., stream=ByteStream(content))
    # and read() leave behind; checked at import (see _works()).
    request.method = method
    request.url = url
    request.headers = _headers(items)
    request.extensions = {}
    request.stream = httpx.ByteStream(content)
    request._content = content  # noqa: SLF001
    return request


def copy_request(request: httpx.Request) -> httpx.Request:
    """A shallow copy of a read *request* with headers and extensions of its own.

    What one attempt changes (credentials, a signature, a timestamp) never
    reaches the next one, and the body is not encoded again.

    Example:
        >>> import httpx
        >>> from govmedia._http import copy_request
        >>> original = httpx.Request("POST", "https://example.org/h", content=b"{}")
        >>> attempt = copy_request(original)
        >>> attempt.headers["Authorization"] = "Bearer x"
        >>> "authorization" in original.headers, attempt.content
        (False, b'{}')
    """
    copy = _new_request(httpx.Request)  # copy.copy() would go through pickling
    copy.__dict__.update(request.__dict__)
    if _FAST_OBJECTS:
        headers = _new_headers(httpx.Headers)
        headers._list = list(request.headers._list)  # noqa: SLF001
        headers._encoding = request.headers._encoding  # noqa: SLF001
        copy.headers = headers
    else:
        copy.headers = httpx.Headers(request.headers)  # .copy() re-detects the encoding
    copy.extensions = {**request.extensions}
    return copy


def _encoding(raw_headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    for key, value in raw_headers:
        if key.lower() == b"content-encoding":
            return value
    return None


def build_response(
    status: int, raw_headers: Sequence[tuple[bytes, bytes]], body: bytes, request: httpx.Request,
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
    if _FAST_OBJECTS:
        # httpx's (key, lowercase key, value) items, and the encoding, in one pass
        items = []
        encoding = None
        for key, value in raw_headers:
            low = key.lower()
            if low == b"content-encoding" and encoding is None:
                encoding = value
            items.append((key, low, value))
    else:
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
    if _FAST_BODY and _FAST_OBJECTS and (encoding is None or decoded):
        # What httpx.Response(status, headers=raw_headers, stream=..., request=request)
        # and read() leave behind, without the header normalising, chunking and
        # decoder machinery; checked at import (see _works()).
        response = _new_response(httpx.Response)
        response.status_code = status
        response.headers = _headers(items)
        response._request = request  # noqa: SLF001
        response.next_request = None
        response.extensions = {}
        response.history = []
        response.is_closed = True
        response.is_stream_consumed = True
        response.default_encoding = "utf-8"
        response.stream = httpx.ByteStream(body)
        response._num_bytes_downloaded = 0  # noqa: SLF001
        response._content = content  # noqa: SLF001
        return response
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


def _same(fast: Any, slow: Any) -> bool:
    """True when *fast* holds the same state as *slow* (headers and streams by content)."""
    mine, theirs = vars(fast), vars(slow)
    if mine.keys() != theirs.keys():
        return False
    for name, value in mine.items():
        other = theirs[name]
        if isinstance(value, httpx.Headers):
            if vars(value) != vars(other):
                return False
        elif isinstance(value, httpx.ByteStream):
            if type(other) is not httpx.ByteStream or list(value) != list(other):
                return False
        elif name == "_request":
            if value is not other:
                return False
        elif value != other:
            return False
    return True


def _objects_check() -> bool:
    global _FAST_OBJECTS  # noqa: PLW0603 - the check builds both ways
    url = httpx.URL("https://example.org:8443/h?x=1")
    headers = [("Content-Type", "application/json"), ("webhook-id", "gm-1")]
    raw = [(b"Host", url.netloc), *((k.encode(), v.encode()) for k, v in headers),
           (b"Content-Length", b"2")]
    slow_request = httpx.Request("POST", url, headers=raw, stream=httpx.ByteStream(b"{}"))
    slow_request.read()
    _FAST_OBJECTS = True
    fast_request = build_request("POST", url, content=b"{}", headers=headers)
    copied = copy_request(fast_request)
    answer = [(b"Content-Type", b"application/json"), (b"Content-Length", b"2")]
    slow = httpx.Response(200, headers=answer, stream=httpx.ByteStream(b"{}"), request=slow_request)
    slow._content = b"{}"  # noqa: SLF001 - as build_response does without the shortcut
    slow.is_stream_consumed = slow.is_closed = True
    fast = build_response(200, answer, b"{}", slow_request)
    return (_same(fast_request, slow_request) and _same(copied, slow_request)
            and copied.headers is not fast_request.headers and _same(fast, slow)
            and fast.json() == {} and fast_request.content == b"{}")


_new_request = httpx.Request.__new__
_new_response = httpx.Response.__new__
_new_headers = httpx.Headers.__new__
_FAST_URL = _works(_url_check)
_FAST_BODY = _works(_body_check)
_FAST_OBJECTS = False
_FAST_OBJECTS = _FAST_BODY and _works(_objects_check)
