"""govmedia's httpcore senders: `Client`'s own, and `AsyncClient`'s outside asyncio (trio).

httpx's transports are a thin layer over an httpcore connection pool; these
senders talk to the pool directly (httpcore's public API) so that three
things hold for every request, which httpx's transports cannot give:

* the pool's network backend resolves each host itself and connects only to
  the addresses `govmedia._netguard` allows (once per new connection, as a
  plain connect would resolve);
* each socket operation waits at most until the request's deadline, so the
  deadline holds from connect to the last byte (`govmedia._limits`);
* the body is read in chunks against the cap, and a body over it closes the
  connection unread.

What else the old ``httpx.HTTPTransport`` did is kept: the same TLS context,
connection limits and keep-alive, the ``trace`` and ``timeout`` request
extensions (rate-limit tickets ride on ``trace``), and httpcore's exceptions
mapped to httpx's.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import anyio
import httpcore
import httpx

from govmedia._http import build_response
from govmedia._limits import (
    DEADLINE,
    MAX_BODY,
    aread_capped,
    check_length,
    deadline_of,
    read_capped,
)
from govmedia._netguard import allowed_addresses, check_host

__all__ = ["AsyncPoolSender", "PoolSender"]

_OPENING = threading.Lock()  # guards the lazy opening of a sender's pool

# When the request being sent on this thread or task must be done (monotonic).
_END: contextvars.ContextVar[float | None] = contextvars.ContextVar("govmedia_end", default=None)

# httpcore's exceptions and httpx's twins, most specific first.
_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _mapped(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except httpx.TransportError as exc:  # ours: a refused address, a body over the cap
        exc.request = request
        raise
    except Exception as exc:
        for core, ours in _EXCEPTIONS:
            if isinstance(exc, core):
                text = str(exc) or type(exc).__name__
                end = _END.get()
                # A socket wait cut to the deadline ends about at it.
                late = end is not None and time.monotonic() >= end - 0.01
                if late and isinstance(exc, httpcore.TimeoutException):
                    text = f"no complete answer within the request's deadline ({text})"
                raise ours(text, request=request) from exc
        raise


def _bound(timeout: float | None, late: type[Exception]) -> float | None:
    """*timeout* for one socket operation, cut to what is left of the deadline."""
    end = _END.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise late("the request's deadline passed")
    return left if timeout is None or timeout > left else timeout


class _Stream(httpcore.NetworkStream):
    """A connection whose every wait ends at the current request's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bound(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bound(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._stream.start_tls(ssl_context, server_hostname,
                                              _bound(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.SyncBackend):
    """Connects only to allowed addresses, and within the deadline."""

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        check_host(host)  # a metadata name is refused before any DNS query
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        error: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in allowed_addresses(host, [str(info[4][0]) for info in found]):
            try:
                stream = super().connect_tcp(address, port, _bound(timeout, httpcore.ConnectTimeout),
                                             local_address, socket_options)
            except httpcore.ConnectError as exc:  # the next address, as create_connection does
                error = exc
                continue
            return _Stream(stream)
        raise error


# ASYNC109 (a timeout argument) below: httpcore's interface passes them so.
class _AsyncStream(httpcore.AsyncNetworkStream):
    """`_Stream` for httpcore's async connections."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._stream.read(max_bytes, _bound(timeout, httpcore.ReadTimeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._stream.write(buffer, _bound(timeout, httpcore.WriteTimeout))

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None,  # noqa: ASYNC109
                        ) -> httpcore.AsyncNetworkStream:
        return _AsyncStream(await self._stream.start_tls(
            ssl_context, server_hostname, _bound(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _AsyncBackend(httpcore.AnyIOBackend):
    """`_Backend` for anyio (asyncio or trio)."""

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        check_host(host)
        try:
            with anyio.fail_after(_bound(timeout, httpcore.ConnectTimeout)):
                found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"looking up {host} took too long") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        error: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in allowed_addresses(host, [str(info[4][0]) for info in found]):
            try:
                stream = await super().connect_tcp(
                    address, port, _bound(timeout, httpcore.ConnectTimeout), local_address,
                    socket_options)
            except httpcore.ConnectError as exc:
                error = exc
                continue
            return _AsyncStream(stream)
        raise error


def _core_request(request: httpx.Request) -> httpcore.Request:
    url = request.url
    return httpcore.Request(
        method=request.method,
        url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port,
                         target=url.raw_path),
        headers=request.headers.raw, content=request.stream, extensions=request.extensions,
    )


class _Limits:
    """The cap and deadline shared by both senders."""

    def __init__(self, timeout: httpx.Timeout, max_body: int) -> None:
        self._deadline = deadline_of(timeout)
        self._max_body = max_body

    def _bounds(self, request: httpx.Request) -> tuple[int, float | None]:
        extensions = request.extensions
        cap: int = extensions.get(MAX_BODY) or self._max_body
        deadline: float | None = extensions.get(DEADLINE, self._deadline)
        if deadline is not None and DEADLINE in extensions:
            # A deadline shorter than the pool timeout must bound the wait for a connection too.
            timeouts = dict(extensions.get("timeout") or {})
            pool = timeouts.get("pool")
            timeouts["pool"] = deadline if pool is None else min(pool, deadline)
            extensions["timeout"] = timeouts
        return cap, None if deadline is None else time.monotonic() + deadline


class PoolSender(_Limits):
    """`Client`'s own sender: guarded addresses, capped bodies, a deadline per request.

    Example:
        >>> import httpx
        >>> from govmedia._pool import PoolSender
        >>> sender = PoolSender(httpx.Timeout(5.0), max_body=1024)
        >>> sender.close()  # nothing was opened: nothing to close
    """

    def __init__(self, timeout: httpx.Timeout, *, max_body: int, max_connections: int = 100) -> None:
        super().__init__(timeout, max_body)
        self._max_connections = max_connections
        self._pool: httpcore.ConnectionPool | None = None

    def send(self, request: httpx.Request) -> httpx.Response:
        """Perform *request*, read whole; raise an `httpx.TransportError` on a fault."""
        if self._pool is None:  # the TLS context costs ~20 ms: only once something is sent
            with _OPENING:  # threads sending at once (metrics, retract) share one pool
                self._pool = self._pool or httpcore.ConnectionPool(
                    ssl_context=httpx.create_ssl_context(), max_connections=self._max_connections,
                    keepalive_expiry=5.0, network_backend=_Backend(),
                )
        cap, end = self._bounds(request)
        token = _END.set(end)
        try:
            with _mapped(request):
                answer = self._pool.handle_request(_core_request(request))
                try:
                    check_length(answer.headers, cap, request.url, request.method)
                    body = read_capped(answer.iter_stream(), cap, request.url)
                finally:
                    answer.close()  # unread: httpcore closes the connection
        finally:
            _END.reset(token)
        response = build_response(answer.status, answer.headers, body, request, max_body=cap)
        response.extensions = dict(answer.extensions)  # the reason phrase, the HTTP version
        return response

    def close(self) -> None:
        """Close the pool and its connections, if one was opened."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None


class AsyncPoolSender(_Limits):
    """`PoolSender` for `AsyncClient` where aiohttp cannot run (trio).

    Example:
        >>> import anyio, httpx
        >>> from govmedia._pool import AsyncPoolSender
        >>> anyio.run(AsyncPoolSender(httpx.Timeout(5.0), max_body=1024).aclose)
    """

    def __init__(self, timeout: httpx.Timeout, *, max_body: int, max_connections: int = 200) -> None:
        super().__init__(timeout, max_body)
        self._max_connections = max_connections
        self._pool: httpcore.AsyncConnectionPool | None = None

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Perform *request*, read whole; raise an `httpx.TransportError` on a fault."""
        if self._pool is None:
            self._pool = httpcore.AsyncConnectionPool(
                ssl_context=httpx.create_ssl_context(), max_connections=self._max_connections,
                keepalive_expiry=5.0, network_backend=_AsyncBackend(),
            )
        cap, end = self._bounds(request)
        token = _END.set(end)
        try:
            with _mapped(request):
                answer = await self._pool.handle_async_request(_core_request(request))
                try:
                    check_length(answer.headers, cap, request.url, request.method)
                    body = await aread_capped(_chunks(answer), cap, request.url)
                finally:
                    await answer.aclose()
        finally:
            _END.reset(token)
        response = build_response(answer.status, answer.headers, body, request, max_body=cap)
        response.extensions = dict(answer.extensions)  # the reason phrase, the HTTP version
        return response

    async def aclose(self) -> None:
        """Close the pool and its connections, if one was opened."""
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None


async def _chunks(answer: httpcore.Response) -> AsyncIterator[bytes]:
    async for chunk in answer.aiter_stream():
        yield chunk
