"""Sending through a user's own ``http=`` client, with the bounds govmedia can keep there.

The client is the user's: its DNS, proxies and connection pool are theirs, so
govmedia checks what it can without reaching into them (and never lets it
follow a redirect, which would skip the checks: govmedia's own senders do not
follow redirects either):

* the URL's host as written (`govmedia._netguard.check_host`: link-local and
  metadata addresses, metadata host names), with no DNS query of our own: a
  name that the user's resolver maps onto a metadata address is not caught;
* the body, streamed and read against the cap, gzip and deflate decoded with
  a bound as they come (`govmedia._limits.Decoder`); other codings the user's
  client asked for (br, zstd) are decoded by httpx, whose decoded size is
  checked chunk by chunk only;
* the deadline: async, a cancel scope around the whole request; sync, checked
  between body chunks, so a body that drips is cut at the deadline plus one
  read timeout (the headers are bounded only by the client's own timeouts).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio
import httpx

from govmedia._http import with_content
from govmedia._limits import (
    DEADLINE,
    MAX_BODY,
    Decoder,
    ResponseTooLarge,
    UndecodableBody,
    aread_capped,
    check_length,
    decodable,
    read_capped,
)
from govmedia._netguard import BlockedAddress, check_host

__all__ = ["send_async", "send_sync"]


def _checked(request: httpx.Request, max_body: int,
             deadline: float | None) -> tuple[int, float | None]:
    try:
        check_host(request.url.host)
    except BlockedAddress as exc:
        exc.request = request
        raise
    extensions = request.extensions
    return extensions.get(MAX_BODY) or max_body, extensions.get(DEADLINE, deadline)


def send_sync(http: httpx.Client, request: httpx.Request, *, max_body: int,
              deadline: float | None) -> httpx.Response:
    """Send *request* through the user's *http*, read whole within the bounds."""
    cap, deadline = _checked(request, max_body, deadline)
    end = None if deadline is None else time.monotonic() + deadline
    response = http.send(request, stream=True, follow_redirects=False)
    try:
        if response.is_stream_consumed:  # read by the transport already (a mock, say)
            return _whole(response, cap)
        check_length(response.headers.raw, cap, request.url, request.method)
        decoder = _decoder(response, cap)
        chunks = response.iter_bytes() if decoder is False else response.iter_raw()
        content = read_capped(chunks, cap, request.url, end=end, decoder=decoder or None)
    except httpx.DecodingError as exc:
        raise UndecodableBody(str(exc), request=request) from exc
    finally:
        response.close()
    return with_content(response, content)


async def send_async(http: httpx.AsyncClient, request: httpx.Request, *, max_body: int,
                     deadline: float | None) -> httpx.Response:
    """`send_sync` for an `httpx.AsyncClient`, the deadline a cancel scope."""
    cap, deadline = _checked(request, max_body, deadline)
    phase = _Phase(request)
    try:
        with anyio.fail_after(deadline):
            response = await http.send(request, stream=True, follow_redirects=False)
            try:
                if response.is_stream_consumed:
                    return _whole(response, cap)
                check_length(response.headers.raw, cap, request.url, request.method)
                decoder = _decoder(response, cap)
                chunks = response.aiter_bytes() if decoder is False else response.aiter_raw()
                content = await aread_capped(chunks, cap, request.url, decoder=decoder or None)
            except httpx.DecodingError as exc:
                raise UndecodableBody(str(exc), request=request) from exc
            finally:
                with anyio.CancelScope(shield=True):
                    await response.aclose()
    except TimeoutError:
        if deadline is None:
            raise  # not our scope's
        raise phase.expired(request, deadline) from None
    return with_content(response, content)


def _decoder(response: httpx.Response, cap: int) -> Decoder | Literal[False] | None:
    """Ours for gzip/deflate, None for a plain body, False: leave it to httpx (br, zstd)."""
    encoding = response.headers.get("content-encoding")
    if encoding is None:
        return None
    if not decodable(encoding):
        return False
    return Decoder(encoding, cap, response.request.url)


def _whole(response: httpx.Response, cap: int) -> httpx.Response:
    if len(response.content) > cap:
        raise ResponseTooLarge(cap, response.request.url, declared=len(response.content))
    return response


class _Phase:
    """How far a request got, from httpcore's trace events (where the transport sends them)."""

    __slots__ = ("connecting", "sent")

    def __init__(self, request: httpx.Request) -> None:
        self.connecting = self.sent = False
        inner: Callable[[str, dict[str, Any]], Awaitable[None]] | None = (
            request.extensions.get("trace"))

        async def trace(event: str, info: dict[str, Any]) -> None:
            if not self.sent:
                if "send_request" in event:
                    self.sent = True
                elif event.startswith("connection."):
                    self.connecting = True
            if inner is not None:
                await inner(event, info)

        request.extensions["trace"] = trace

    def expired(self, request: httpx.Request, deadline: float) -> httpx.TimeoutException:
        text = f"no complete answer within the request's {deadline:g} s deadline"
        if self.connecting and not self.sent:
            return httpx.ConnectTimeout(text + " (still connecting)", request=request)
        # Sent, or no trace to tell (a pool wait, another transport): it may have landed.
        return httpx.ReadTimeout(text, request=request)
