"""Bounds on every answer govmedia reads: a size cap and a whole-request deadline.

A receiver may answer with a gigabyte, an endless stream, a gzip bomb, or one
byte every two seconds; none of these may take a worker's memory or time.

* The cap (``Client(max_response_bytes=...)``, 8 MiB by default; the request
  extension ``"govmedia.max_body"`` raises or lowers it for one request) is
  checked against ``Content-Length`` before any body byte is read, then while
  reading in chunks, and again on the decoded size of a gzip or deflate body.
  A body over it is never held whole: reading stops and the connection is
  closed (`ResponseTooLarge`).
* The deadline bounds a request from its first connect to its last byte: the
  largest of the client's `httpx.Timeout` values (``None`` in any of them: no
  deadline), or the request extension ``"govmedia.deadline"`` (seconds; for a
  long upload). A read timeout alone restarts on every byte.

`net_error` turns the transport faults raised here and in `govmedia._netguard`
into the `PlatformError` the pipeline reports; none of them is retried.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import AsyncIterable, Iterable
from typing import Any

import httpx

from govmedia._netguard import BlockedAddress
from govmedia.errors import ConfigError, PlatformError

__all__ = [
    "DEADLINE",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "MAX_BODY",
    "Decoder",
    "ResponseTooLarge",
    "UndecodableBody",
    "aread_capped",
    "check_length",
    "check_max_response_bytes",
    "deadline_of",
    "decodable",
    "decode_capped",
    "net_error",
    "read_capped",
]

MAX_BODY = "govmedia.max_body"
"""Request extension: the most bytes this request's answer may have (an int)."""

DEADLINE = "govmedia.deadline"
"""Request extension: seconds this request may take from connect to last byte (None: no limit)."""

DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024


class ResponseTooLarge(httpx.ReadError):
    """An answer larger than the request's cap; reading stopped at the cap.

    Example:
        >>> from govmedia._limits import ResponseTooLarge
        >>> str(ResponseTooLarge(8 * 1024 * 1024, "http://cms.example/hook", declared=2**30))
        'the answer from http://cms.example/hook is larger than the 8 MiB limit (Content-Length: 1 GiB)'
    """

    def __init__(self, limit: int, url: object, *, declared: int | None = None,
                 decoded: bool = False) -> None:
        self.limit = limit
        what = "decoded answer" if decoded else "answer"
        extra = f" (Content-Length: {_size(declared)})" if declared is not None else ""
        super().__init__(f"the {what} from {url} is larger than the {_size(limit)} limit{extra}")


class UndecodableBody(httpx.ReadError):
    """An answer whose ``Content-Encoding`` govmedia cannot decode within its bounds."""


class _Blocked(PlatformError):
    default_hint = ("govmedia never contacts link-local or cloud metadata addresses: fix the "
                    "URL (private and loopback addresses are allowed).")


class _TooLarge(PlatformError):
    default_hint = ("Reading stopped at the limit; if this endpoint must send more, raise "
                    "max_response_bytes on the client.")


class _Undecodable(PlatformError):
    default_hint = "The receiver answered with a body govmedia cannot decode; ask its owner."


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.4g} {unit}"
    return f"{n} bytes"


def check_max_response_bytes(value: Any) -> int:
    """*value* checked as the ``max_response_bytes`` option: a positive int.

    Example:
        >>> from govmedia._limits import check_max_response_bytes
        >>> check_max_response_bytes(1024)
        1024
        >>> check_max_response_bytes(0)
        Traceback (most recent call last):
        ...
        govmedia.errors.ConfigError: max_response_bytes must be a positive number of bytes, got 0
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"max_response_bytes must be a positive number of bytes, got {value!r}")
    return value


def deadline_of(timeout: httpx.Timeout) -> float | None:
    """The whole-request deadline a client's *timeout* gives: its largest value.

    Example:
        >>> import httpx
        >>> from govmedia._limits import deadline_of
        >>> deadline_of(httpx.Timeout(30.0, connect=10.0))
        30.0
        >>> deadline_of(httpx.Timeout(10.0, read=None)) is None  # reads may last: no deadline
        True
    """
    values = (timeout.connect, timeout.read, timeout.write, timeout.pool)
    if any(v is None for v in values):
        return None
    return max(v for v in values if v is not None)


def check_length(raw_headers: Iterable[tuple[bytes, bytes]], cap: int, url: object,
                 method: str = "GET") -> None:
    """Refuse an answer whose ``Content-Length`` is over *cap*, before reading its body.

    An answer to ``HEAD`` has no body, whatever length it declares.
    """
    if method == "HEAD":
        return
    for key, value in raw_headers:
        if len(key) == 14 and key.lower() == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                return  # the HTTP parser refuses it; the cap still holds while reading
            if declared > cap:
                raise ResponseTooLarge(cap, url, declared=declared)
            return


def read_capped(chunks: Iterable[bytes], cap: int, url: object, *,
                end: float | None = None, decoder: Decoder | None = None) -> bytes:
    """The body from *chunks*, refused once over *cap* bytes (or past the monotonic *end*).

    With a *decoder*, the body is decoded as it comes, its decoded size capped too.
    """
    parts: list[bytes] = []
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > cap:
            raise ResponseTooLarge(cap, url)
        parts.append(chunk if decoder is None else decoder.feed(chunk))
        if end is not None and time.monotonic() > end:
            raise httpx.ReadTimeout(f"the answer from {url} did not end within the deadline")
    return b"".join(parts)  # one part (the common case): the same object, no copy


async def aread_capped(chunks: AsyncIterable[bytes], cap: int, url: object, *,
                       decoder: Decoder | None = None) -> bytes:
    """`read_capped` for an async stream (its deadline is a cancel scope's)."""
    parts: list[bytes] = []
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > cap:
            raise ResponseTooLarge(cap, url)
        parts.append(chunk if decoder is None else decoder.feed(chunk))
    return b"".join(parts)


_CODINGS = frozenset({"gzip", "x-gzip", "deflate", "identity", ""})


def _codings(encoding: str) -> list[str]:
    """The codings of a ``Content-Encoding`` value, in the order they are undone."""
    return [c.strip().lower() for c in reversed(encoding.split(","))]


def decodable(encoding: str) -> bool:
    """True when `Decoder` can undo *encoding* (gzip, deflate, identity, chained).

    Example:
        >>> from govmedia._limits import decodable
        >>> decodable("gzip"), decodable("deflate, gzip"), decodable("br")
        (True, True, False)
    """
    return all(c in _CODINGS for c in _codings(encoding))


class Decoder:
    """Undoes gzip and deflate (also chained) chunk by chunk, never past *cap* bytes.

    zlib's output limit stops a bomb at the cap, where a plain decode (httpx's
    included) would first inflate a whole chunk, a thousandfold. Any other
    coding is refused (`UndecodableBody`): govmedia never asks for one.

    Example:
        >>> import gzip
        >>> from govmedia._limits import Decoder
        >>> Decoder("gzip", 100, "u").feed(gzip.compress(b"{}"))
        b'{}'
        >>> Decoder("gzip", 100, "u").feed(gzip.compress(bytes(10_000)))
        Traceback (most recent call last):
        ...
        govmedia._limits.ResponseTooLarge: the decoded answer from u is larger than the 100 bytes limit
    """

    def __init__(self, encoding: str, cap: int, url: object) -> None:
        self._cap = cap
        self._url = url
        self._stages: list[list[Any]] = []  # [coding, decompressor, bytes out, first chunk?]
        for coding in _codings(encoding):
            if coding in ("", "identity"):
                continue
            if coding not in _CODINGS:
                raise UndecodableBody(f"the answer from {url} is encoded as {coding!r}, "
                                      "which govmedia does not accept")
            wbits = zlib.MAX_WBITS | 16 if coding != "deflate" else zlib.MAX_WBITS
            self._stages.append([coding, zlib.decompressobj(wbits), 0, True])

    def feed(self, data: bytes) -> bytes:
        """The decoded bytes of the next chunk *data*."""
        for stage in self._stages:
            coding, decompressor, total, first = stage
            room = self._cap - total + 1  # one byte more than allowed: that tells
            try:
                out = decompressor.decompress(data, room)
            except zlib.error as exc:
                if not (coding == "deflate" and first):
                    raise UndecodableBody(f"the answer from {self._url} is not valid {coding}: "
                                          f"{exc}") from None
                # Like httpx: a raw deflate stream, without the zlib wrapper.
                decompressor = stage[1] = zlib.decompressobj(-zlib.MAX_WBITS)
                try:
                    out = decompressor.decompress(data, room)
                except zlib.error as again:
                    raise UndecodableBody(f"the answer from {self._url} is not valid deflate: "
                                          f"{again}") from None
            stage[2] = total + len(out)
            stage[3] = False
            if stage[2] > self._cap:
                raise ResponseTooLarge(self._cap, self._url, decoded=True)
            data = out
        return data


def decode_capped(body: bytes, encoding: str, cap: int, url: object) -> bytes:
    """*body* decoded by its ``Content-Encoding`` value *encoding*, refused once over *cap* bytes."""
    return Decoder(encoding, cap, url).feed(body)


def net_error(exc: httpx.TransportError, *, platform: str,
              account: str | None) -> PlatformError | None:
    """The `PlatformError` for a fault raised by govmedia's own bounds, else None.

    None of these is retried: a refused address is refused again, and a body
    over the cap comes back over the cap.

    Example:
        >>> from govmedia._limits import net_error
        >>> from govmedia._netguard import BlockedAddress
        >>> err = net_error(BlockedAddress("169.254.169.254", "169.254.169.254", "metadata"),
        ...                 platform="webhook", account="cms")
        >>> err.code, err.maybe_applied
        ('blocked_address', False)
    """
    if isinstance(exc, BlockedAddress):
        return _Blocked(str(exc), platform=platform, account=account, code="blocked_address",
                        maybe_applied=False)
    if isinstance(exc, ResponseTooLarge):
        # The request reached the server: whatever it asked may have been done.
        return _TooLarge(str(exc), platform=platform, account=account,
                         code="response_too_large", maybe_applied=True)
    if isinstance(exc, UndecodableBody):
        return _Undecodable(str(exc), platform=platform, account=account,
                            code="undecodable_response", maybe_applied=True)
    return None
