"""The lean httpx constructors give exactly what httpx's own would."""

from __future__ import annotations

import gzip

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from govmedia import _http
from govmedia._http import build_request, build_response, parse_url

_SEGMENT = st.text(
    alphabet=st.sampled_from("abcXYZ019-._~!$&'()*+,;=:@%/ é?#"), max_size=12
)
_HOST = st.sampled_from(
    ["example.org", "EXAMPLE.org", "127.0.0.1", "hooks.example.gov.cn", "[::1]", "localhost",
     "xn--fiqs8s.example", "user:pw@example.org", "例子.中国"]
)
_PORT = st.sampled_from(["", ":80", ":443", ":8080", ":65535"])


@given(scheme=st.sampled_from(["http", "https", "HTTPS"]), host=_HOST, port=_PORT,
       path=_SEGMENT, query=st.none() | _SEGMENT)
def test_parse_url_equals_httpx(scheme: str, host: str, port: str, path: str, query: str | None) -> None:
    text = f"{scheme}://{host}{port}" + (f"/{path}" if path else "") + (f"?{query}" if query is not None else "")
    try:
        expected = httpx.URL(text)
    except httpx.InvalidURL:
        with pytest.raises(httpx.InvalidURL):
            parse_url(text)
        return
    got = parse_url(text)
    assert got == expected
    assert str(got) == str(expected)
    assert got.raw_path == expected.raw_path
    assert got.netloc == expected.netloc
    assert (got.scheme, got.host, got.port, got.path, got.query) == (
        expected.scheme, expected.host, expected.port, expected.path, expected.query)


def test_parse_url_takes_the_fast_path_for_plain_urls() -> None:
    assert _http._FAST_URL  # httpx as pinned: the import-time check passed
    assert _http._fast_url("https://hooks.example.org/member/17?sig=abc") is not None
    # Anything httpx would rewrite goes to httpx itself.
    assert _http._fast_url("https://example.org/a/../b") is None
    assert _http._fast_url("https://example.org/%7Euser") is None
    assert _http._fast_url("https://u:p@example.org/") is None


@given(method=st.sampled_from(["POST", "put", "GET", "DELETE"]),
       body=st.binary(max_size=64),
       headers=st.lists(st.tuples(st.sampled_from(["Content-Type", "webhook-id", "X-Trace"]),
                                  st.text(alphabet="abc123-_", min_size=1, max_size=8)), max_size=3))
def test_build_request_equals_httpx(method: str, body: bytes, headers: list[tuple[str, str]]) -> None:
    url = "https://hooks.example.org:8443/h/1?x=2"
    got = build_request(method, url, content=body, headers=headers)
    expected = httpx.Request(method, url, content=body, headers=headers)
    assert got.method == expected.method
    assert got.url == expected.url
    assert got.headers.raw == expected.headers.raw
    assert got.content == expected.content
    assert list(got.stream) == [body] if body else True


def test_build_response_reads_plain_and_encoded_bodies() -> None:
    request = httpx.Request("POST", "https://example.org/h")
    plain = build_response(200, [(b"Content-Type", b"application/json")], b'{"id":"7"}', request)
    assert plain.json() == {"id": "7"}
    assert plain.is_closed and plain.is_stream_consumed
    assert plain.request is request
    body = gzip.compress('{"text":"发布"}'.encode())
    packed = build_response(201, [(b"Content-Encoding", b"gzip")], body, request)
    assert packed.json() == {"text": "发布"}
    assert packed.status_code == 201


def test_fallbacks_build_the_same_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_http, "_FAST_URL", False)
    monkeypatch.setattr(_http, "_FAST_BODY", False)
    parse_url.cache_clear()
    try:
        assert parse_url("https://Example.org/x") == httpx.URL("https://example.org/x")
        request = httpx.Request("GET", "https://example.org/")
        assert build_response(200, [], b"ok", request).text == "ok"
    finally:
        parse_url.cache_clear()


@given(scheme=st.sampled_from(["http", "https", "HTTPS"]), host=_HOST, port=_PORT,
       path=_SEGMENT, query=st.none() | _SEGMENT)
def test_aiohttp_gets_the_url_it_would_parse_itself(scheme: str, host: str, port: str, path: str,
                                                    query: str | None) -> None:
    yarl = pytest.importorskip("yarl")
    from govmedia._aio import _yarl_url

    text = f"{scheme}://{host}{port}" + (f"/{path}" if path else "") + (f"?{query}" if query is not None else "")
    try:
        url = parse_url(text)
    except httpx.InvalidURL:
        return
    expected = yarl.URL(str(url))  # what aiohttp makes of the text it was given before
    got = yarl.URL(_yarl_url(url))
    assert got == expected
    assert str(got) == str(expected)
    assert (got.raw_path, got.raw_query_string, got.host, got.port) == (
        expected.raw_path, expected.raw_query_string, expected.host, expected.port)


@pytest.mark.parametrize(("text", "shortcut"), [
    ("http://127.0.0.1:8080/fast/hook/17", True),
    ("https://Hooks.Example.org/a/b;c=d/e@f:g!$&'()*,=", True),
    ("https://[::1]:8443/h", True),
    ("https://xn--fiqs8s.example:443/x", True),
    ("https://example.org/a//b/", True),
    ("https://例子.中国/接收", False),  # a path to quote
    ("http://example.org", False),  # no path: yarl adds one
    ("https://example.org/a?b=c", False),  # a query
    ("https://example.org/.well-known/x", False),  # what looks like a dot segment
])
def test_aiohttp_url_shortcut_on_plain_paths(text: str, shortcut: bool) -> None:
    yarl = pytest.importorskip("yarl")
    from govmedia._aio import _yarl_url

    url = parse_url(text)
    made = _yarl_url(url)
    got, expected = yarl.URL(made), yarl.URL(str(url))
    assert got == expected
    assert str(got) == str(expected)
    assert isinstance(made, str) is not shortcut
