"""The default async sender: aiohttp directly, behind httpx's request/response types.

Platforms build `httpx.Request` objects and read `httpx.Response` objects; this
sender performs them with an `aiohttp.ClientSession`. Against nginx on this
kind of machine, httpx's own async transport manages ~120 deliveries/s at
concurrency 64, httpx with the httpx-aiohttp transport ~1,100, and aiohttp
alone ~3,500 (benchmarks/, docs/performance.md): going through httpx's client
layer costs most of the difference, so govmedia's own client skips it.

aiohttp's errors are translated to httpx's with what matters most kept: a
failure to connect (nothing was sent) is an `httpx.ConnectError` or
`ConnectTimeout`; anything after the request may have left (a reset, a server
that hung up, a read timeout) is a read error, so the pipeline never resends a
write that may have been applied.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import httpx

from govmedia._http import build_response
from govmedia._pipeline import RATE_TICKET

__all__ = ["AiohttpSender"]


class AiohttpSender:
    """Send `httpx.Request` objects through one lazily opened aiohttp session.

    Example:
        >>> import anyio, httpx
        >>> from govmedia._aio import AiohttpSender
        >>> async def main():
        ...     sender = AiohttpSender(httpx.Timeout(5.0))
        ...     await sender.aclose()  # nothing was opened: nothing to close
        >>> anyio.run(main)
    """

    def __init__(self, timeout: httpx.Timeout, *, max_connections: int = 200,
                 report_sent: bool = False) -> None:
        self._timeout = timeout
        self._max_connections = max_connections
        # With rate limits on, each request's ticket is settled when aiohttp
        # has written its headers (a trace hook; it costs, so only then).
        self._report_sent = report_sent
        self._session: Any = None

    def open(self) -> Any:
        """Import aiohttp and open the session now (a first send does it otherwise)."""
        if self._session is not None:
            return self._session
        import aiohttp

        connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300)
        # Bodies are handed over as they arrived: httpx.Response decodes them
        # by their Content-Encoding (decoding here too would decode twice).
        traces = []
        if self._report_sent:
            trace = aiohttp.TraceConfig()
            trace.on_request_headers_sent.append(_headers_sent)
            traces.append(trace)
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
            trace_configs=traces or None,
        )
        return self._session

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Perform *request*; raise an `httpx.TransportError` on a network fault."""
        import aiohttp

        session = self._session or self.open()
        limits = request.extensions.get("timeout") or self._timeout.as_dict()
        timeout = _client_timeout(limits.get("connect"), limits.get("read"), limits.get("pool"))
        # aiohttp writes its own Host header from the URL.
        headers = [(k.decode("latin-1"), _text(v)) for k, v in request.headers.raw
                   if k.lower() != b"host"]
        extra = {}
        ticket = request.extensions.get(RATE_TICKET)
        if ticket is not None and self._report_sent:
            extra["trace_request_ctx"] = ticket
        try:
            async with session.request(
                request.method, str(request.url), headers=headers,
                data=request.content or None, allow_redirects=False, timeout=timeout,
                compress=None, **extra,
            ) as answer:
                body = await answer.read()
                status, raw_headers = answer.status, answer.raw_headers
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _translate(exc, request) from exc
        return build_response(status, list(raw_headers), body, request)

    async def aclose(self) -> None:
        """Close the session (and its connections) if one was opened."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _text(value: bytes) -> str:
    # aiohttp writes header values as UTF-8: decode so that they come out
    # as they went in (Latin-1 only for bytes that are not UTF-8).
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


async def _headers_sent(_session: Any, context: Any, _params: Any) -> None:
    ticket = getattr(context, "trace_request_ctx", None)
    if ticket is not None:
        ticket.sent()


@functools.lru_cache(maxsize=64)
def _client_timeout(connect: float | None, read: float | None, pool: float | None) -> Any:
    import aiohttp

    return aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read, connect=pool)


def _translate(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    import aiohttp

    text = f"{type(exc).__name__}: {exc}"
    # Order matters: ConnectionTimeoutError is both a connect failure and a
    # ServerTimeoutError; ClientConnectorError is a ClientOSError.
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(text, request=request)
    if isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.InvalidURL)):
        return httpx.ConnectError(text, request=request)
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return httpx.ReadTimeout(text, request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(text, request=request)
    return httpx.ReadError(text, request=request)
