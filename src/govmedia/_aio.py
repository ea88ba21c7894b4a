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

Every request is bounded (`govmedia._limits`, `govmedia._netguard`): the
connector's resolver drops link-local and metadata addresses (aiohttp caches
what it returns, so the check costs nothing per request), its socket factory
refuses them too, literal addresses included, which never reach a resolver
(once per connection; an aiohttp before 3.12 has no socket factory, and the
literal host is checked per request instead), one timer keeps the deadlines
of all requests in flight (`_Deadlines`), and the body is read against the
cap. Only gzip and deflate are asked for: those are decoded with a bound.
"""

from __future__ import annotations

import asyncio
import functools
import re
import socket
import time
from typing import Any

import httpx

from govmedia._http import _FAST_OBJECTS, _FAST_URL, build_response
from govmedia._limits import (
    DEADLINE,
    DEFAULT_MAX_RESPONSE_BYTES,
    MAX_BODY,
    ResponseTooLarge,
    aread_capped,
    deadline_of,
)
from govmedia._netguard import BlockedAddress, allowed_addresses, blocked_reason, check_host
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
                 report_sent: bool = False, max_body: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        self._timeout = timeout
        self._deadline = deadline_of(timeout)
        self._max_body = max_body
        self._max_connections = max_connections
        # With rate limits on, each request's ticket is settled when aiohttp
        # has written its headers (a trace hook; it costs, so only then).
        self._report_sent = report_sent
        self._session: Any = None
        self._resolver: Any = None
        self._deadlines = _Deadlines()
        self._check_literals = True  # per request, where aiohttp cannot check at connect
        self._limits: dict[str, Any] | None = None  # the last timeouts seen, and theirs
        self._limits_deadline: float | None = None
        self._client_timeout: Any = None

    def open(self) -> Any:
        """Import aiohttp and open the session now (a first send does it otherwise)."""
        if self._session is not None:
            return self._session
        import aiohttp

        self._resolver = _guarded_resolver()()
        options: dict[str, Any] = {"limit": self._max_connections, "ttl_dns_cache": 300,
                                   "resolver": self._resolver}
        if _has_socket_factory():
            # Every address connected to is checked, literal ones included
            # (the resolver never sees those), once per connection.
            options["socket_factory"] = _guarded_socket
            self._check_literals = False
        connector = aiohttp.TCPConnector(**options)
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
            # Not br or zstd (aiohttp asks for them when their modules are
            # installed): only these two are decoded within the cap.
            headers={"Accept-Encoding": "gzip, deflate"},
        )
        return self._session

    async def send(self, request: httpx.Request) -> httpx.Response:  # noqa: C901, PLR0912, PLR0915 - one frame: hot path
        """Perform *request*; raise an `httpx.TransportError` on a network fault."""
        session = self._session or self.open()
        extensions = request.extensions
        deadline = extensions.get(DEADLINE, self._deadline)
        limits = extensions.get("timeout") or self._timeout.as_dict()
        if limits is self._limits and deadline == self._limits_deadline:
            timeout = self._client_timeout  # the pipeline shares one dict: worked out once
        else:
            timeout = self._client_timeout = _client_timeout(
                limits.get("connect"), limits.get("read"), limits.get("pool"), deadline)
            self._limits, self._limits_deadline = limits, deadline
        cap: int = extensions.get(MAX_BODY) or self._max_body
        # aiohttp writes its own Host header from the URL, and Content-Length
        # from the body (the same number).
        if _FAST_OBJECTS:
            try:
                headers = [(k.decode("latin-1"), v.decode()) for k, low, v in request.headers._list  # noqa: SLF001
                           if low not in _OWN_HEADERS]
            except UnicodeDecodeError:
                headers = _headers(request)
        else:
            headers = _headers(request)
        ticket = extensions.get(RATE_TICKET) if self._report_sent else None
        deadlines = self._deadlines
        watch = None
        if deadline is not None:  # deadlines.watch(), inlined: this runs for every request
            watch = (_monotonic() + deadline, _current_task())
            deadlines.add(watch)
            if watch[0] < deadlines.due:
                deadlines.arm(watch[0])
        try:
            if self._check_literals:  # an older aiohttp: no socket_factory
                check_host(request.url.host)
            async with session.request(
                request.method, _yarl_url(request.url), headers=headers,
                data=request.content or None, allow_redirects=False, timeout=timeout,
                compress=None, trace_request_ctx=ticket,
            ) as answer:
                length = answer.content_length
                if length is not None and length <= cap:
                    body = await answer.read()  # aiohttp reads exactly Content-Length bytes
                else:
                    body = await _read_capped(answer, cap, request.url, length)
                status, raw_headers = answer.status, answer.raw_headers
        except (BlockedAddress, ResponseTooLarge) as exc:
            exc.request = request
            raise
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                if watch is not None and deadlines.expired(watch):
                    # Possibly applied: it may also have passed before the
                    # request was written, and nothing tells.
                    raise httpx.ReadTimeout(f"no complete answer within the request's {deadline:g} s "
                                            "deadline", request=request) from None
                raise
            if isinstance(exc, TimeoutError | _aiohttp().ClientError):
                raise _translate(exc, request) from exc
            raise
        finally:
            if watch is not None:
                deadlines.discard(watch)
        return build_response(status, raw_headers, body, request, max_body=cap)

    async def aclose(self) -> None:
        """Close the session (and its connections) if one was opened."""
        self._deadlines.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None
            await self._resolver.close()  # the connector closes only a resolver it made


class _Deadlines(set[tuple[float, "asyncio.Task[Any] | None"]]):
    """The deadlines of the requests in flight, kept by one timer for them all.

    A timer per request (``asyncio.timeout``, aiohttp's ``total``) costs
    25-35k instructions a request here, most of it in the event loop's heap
    of cancelled timers; this costs a set entry: ``(end, task)``, where
    *end* is on `time.monotonic`'s clock. The one timer is due when the
    earliest deadline is, and cancels each request past its own; a request
    that ends first just leaves the set (``discard``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.due = float("inf")  # when the timer fires
        self._handle: asyncio.TimerHandle | None = None
        self._expired: set[tuple[float, asyncio.Task[Any] | None]] = set()

    def watch(self, seconds: float) -> tuple[float, asyncio.Task[Any] | None]:
        """Start watching the current task for *seconds* (`AiohttpSender.send` inlines this)."""
        watch = (_monotonic() + seconds, _current_task())
        self.add(watch)
        if watch[0] < self.due:
            self.arm(watch[0])
        return watch

    def expired(self, watch: tuple[float, asyncio.Task[Any] | None]) -> bool:
        """True when *watch*'s task was cancelled by its deadline, and by nothing else."""
        if watch not in self._expired:
            return False
        self._expired.discard(watch)
        # uncancel(): our cancel is taken back; another one (the caller's) stays.
        task = watch[1]
        return task is not None and task.uncancel() == 0

    def arm(self, when: float) -> None:
        """Fire the timer at *when* (`time.monotonic`), not later."""
        if self._handle is not None:
            self._handle.cancel()
        self.due = when
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(max(0.0, when - _monotonic()), self._sweep)

    def stop(self) -> None:
        """Cancel the timer (the sender is closing)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle, self.due = None, float("inf")

    def _sweep(self) -> None:
        self._handle, self.due = None, float("inf")
        now = _monotonic()
        due = float("inf")
        for watch in list(self):
            end, task = watch
            if end <= now:
                self.discard(watch)
                if task is not None:
                    self._expired.add(watch)
                    task.cancel()
            elif end < due:
                due = end
        if due != float("inf"):
            self.arm(due)


_monotonic = time.monotonic
_current_task = asyncio.current_task


def _text(value: bytes) -> str:
    # aiohttp writes header values as UTF-8: decode so that they come out
    # as they went in (Latin-1 only for bytes that are not UTF-8).
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


_OWN_HEADERS = frozenset({b"host", b"content-length"})  # aiohttp writes these itself


def _headers(request: httpx.Request) -> list[tuple[str, str]]:
    """*request*'s headers as aiohttp takes them, less those it writes itself."""
    return [(k.decode("latin-1"), _text(v)) for k, v in request.headers.raw
            if k.lower() not in _OWN_HEADERS]


# A path aiohttp's URL parser (yarl) leaves as it is: nothing to quote or unquote.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*,;=:@/]*", re.ASCII)


@functools.lru_cache(maxsize=256)
def _origin(scheme: str, authority: str) -> Any:
    import yarl  # aiohttp's own URL type

    return yarl.URL(f"{scheme}://{authority}")


def _yarl_url(url: httpx.URL) -> Any:
    """*url* as aiohttp would parse ``str(url)``, without parsing it again where that is sure.

    yarl parses each new URL in ~2.5 us; a plain path (no query, nothing
    to quote) is joined to its origin, parsed once per host, in a quarter
    of that. Anything else is handed over as text, as before.
    """
    if not _FAST_URL:
        return str(url)
    reference = url._uri_reference  # noqa: SLF001 - checked at import by govmedia._http
    path = reference.path
    if (reference.query is None and not reference.userinfo and reference.fragment is None
            and _PLAIN_PATH.fullmatch(path) and "/." not in path):
        return _origin(reference.scheme, reference.authority).with_path(path, encoded=True)
    return str(url)


def _aiohttp() -> Any:
    import aiohttp  # imported by open() already: a lookup in sys.modules

    return aiohttp


async def _headers_sent(_session: Any, context: Any, _params: Any) -> None:
    ticket = getattr(context, "trace_request_ctx", None)
    if ticket is not None:
        ticket.sent()


async def _read_capped(answer: Any, cap: int, url: httpx.URL, length: int | None) -> bytes:
    """A body that may be over *cap*: refused by its *length*, or counted as it comes."""
    if length is not None and answer.method == "HEAD":
        body: bytes = await answer.read()  # no body, whatever length it declares
        return body
    if length is None:  # chunked, or to the end of the connection
        try:
            return await aread_capped(answer.content.iter_any(), cap, url)
        except ResponseTooLarge:
            answer.close()  # unread: the connection goes with it
            raise
    answer.close()
    raise ResponseTooLarge(cap, url, declared=length)


def _guarded_socket(addr_info: Any) -> socket.socket:
    """The socket factory of the connector: refuse a blocked address, else make it as aiohttp would."""
    family, kind, proto, _, address = addr_info
    why = blocked_reason(address[0])
    if why is not None:
        raise BlockedAddress(address[0], address[0], why)
    return socket.socket(family=family, type=kind, proto=proto)


@functools.cache
def _has_socket_factory() -> bool:
    import inspect

    import aiohttp

    return "socket_factory" in inspect.signature(aiohttp.TCPConnector).parameters


@functools.cache
def _guarded_resolver() -> Any:
    """The default aiohttp resolver, keeping only the addresses `govmedia._netguard` allows."""
    import aiohttp
    from aiohttp.abc import AbstractResolver, ResolveResult

    class GuardedResolver(AbstractResolver):
        def __init__(self) -> None:
            self._inner = aiohttp.DefaultResolver()

        async def resolve(self, host: str, port: int = 0,
                          family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
            check_host(host)  # a metadata name is refused before any DNS query
            found = await self._inner.resolve(host, port, family)
            kept = allowed_addresses(host, [r["host"] for r in found])
            return [r for r in found if r["host"] in kept]

        async def close(self) -> None:
            await self._inner.close()

    return GuardedResolver


@functools.lru_cache(maxsize=64)
def _client_timeout(connect: float | None, read: float | None, pool: float | None,
                    deadline: float | None) -> Any:
    """The aiohttp timeouts for httpx's, leaving out those the request's deadline makes moot.

    A read timeout or a wait for a pooled connection as long as the deadline
    could only fire after it (both start later), and each costs aiohttp a
    timer per request (several, for a read timeout: it restarts on every
    chunk). The connect timeout stays: it bounds each new connection.
    """
    import aiohttp

    if deadline is not None:
        read = None if read is not None and read >= deadline else read
        pool = None if pool is not None and pool >= deadline else pool
    return aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read, connect=pool)


def _translate(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    import aiohttp

    if isinstance(exc.__cause__, BlockedAddress):  # a resolver error aiohttp wrapped
        exc.__cause__.request = request
        return exc.__cause__
    text = f"{type(exc).__name__}: {exc}"
    # Order matters: ConnectionTimeoutError is both a connect failure and a
    # ServerTimeoutError; ClientConnectorError is a ClientOSError.
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(text, request=request)
    if isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.InvalidURL)):
        return httpx.ConnectError(text, request=request)
    if isinstance(exc, asyncio.TimeoutError):
        return httpx.ReadTimeout(text, request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(text, request=request)
    return httpx.ReadError(text, request=request)
