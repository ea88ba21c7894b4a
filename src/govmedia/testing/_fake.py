"""The base of every fake platform: routing, a request log and fault injection."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import attrs
import httpx

from govmedia.model import Channel

__all__ = ["FAULTS", "FakePlatform", "Fault", "Recorded", "Route"]

FAULTS = (
    "rate_limit",      # the platform's 429 (or quota code) with its wait hint
    "server_error",    # a bare 500, nothing applied
    "busy",            # the platform's "busy, try again" code, nothing applied
    "timeout_before",  # the connection fails before the request is sent
    "timeout_after",   # the request is applied, then the answer is lost
    "token_expired",   # the token is refused as expired (401 or the platform's code)
    "html_error",      # a 502 HTML page from a proxy, nothing applied
    "truncated",       # applied, then a 200 whose JSON body is cut short
)


@attrs.define
class Fault:
    """One injected fault: what, where, how often."""

    kind: str
    times: int = 1
    path: str | None = None
    method: str | None = None
    retry_after: float | None = 1.0
    account: str | None = None

    def matches(self, request: httpx.Request, path: str, account: str | None = None) -> bool:
        """True when *request* (at *path*, acting for *account*) is one to fail."""
        if self.method and request.method != self.method.upper():
            return False
        if self.account is not None and account != self.account:
            return False
        return not (self.path and not re.search(self.path, path))


@attrs.frozen
class Recorded:
    """A request the fake received: when (monotonic), method, path, account."""

    at: float
    method: str
    path: str
    account: str | None
    status: int


@attrs.frozen
class Route:
    """``METHOD`` + a path regex -> handler(request, match) -> response."""

    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., httpx.Response]


class FakePlatform:
    """A stateful, strict fake of one platform's HTTP API.

    Subclasses declare `routes` (with `route`) and keep their own state. Use
    `inject` to make the next matching requests fail the way the real API fails.

    Example:
        >>> from govmedia.testing import FakeMastodon
        >>> fake = FakeMastodon()
        >>> fake.inject("rate_limit", path="/api/v1/statuses", times=2)
    """

    name: ClassVar[str] = ""
    prefix: ClassVar[str] = ""

    def __init__(self, base_url: str = "https://sandbox.govmedia.test") -> None:
        self.base_url = base_url.rstrip("/") + self.prefix
        self._root = httpx.URL(self.base_url)
        self.faults: list[Fault] = []
        self.chaos_rate = 0.0
        self.chaos_kinds: tuple[str, ...] = FAULTS
        self._rng = random.Random()  # noqa: S311 - fault injection, not cryptography
        self.log: list[Recorded] = []
        self.lock = threading.RLock()
        self._routes = self._build_routes()

    # ----------------------------------------------------------- subclass API

    def _build_routes(self) -> list[Route]:
        routes = []
        for attr in dir(type(self)):
            fn = getattr(self, attr)
            spec = getattr(fn, "_fake_route", None)
            if spec is not None:
                method, pattern = spec
                routes.append(Route(method, re.compile(f"^{pattern}$"), fn))
        return routes

    def channel(self, account: str = "", **overrides: Any) -> Channel:
        """A channel configured to reach this fake (credentials it accepts)."""
        raise NotImplementedError

    def fault_response(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        """The platform's own shape of an injected fault (override per platform)."""
        if fault.kind == "rate_limit":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            return httpx.Response(429, headers=headers, json={"error": "Too many requests"})
        if fault.kind in ("server_error", "busy"):
            return httpx.Response(503 if fault.kind == "busy" else 500, text="Internal Server Error")
        if fault.kind == "token_expired":
            return httpx.Response(401, json={"error": "The access token is invalid"})
        if fault.kind == "html_error":
            return httpx.Response(
                502, headers={"Content-Type": "text/html"},
                text="<html><head><title>502 Bad Gateway</title></head>"
                     "<body><center><h1>502 Bad Gateway</h1></center><hr>nginx</body></html>",
            )
        raise ValueError(fault.kind)

    def account_of(self, request: httpx.Request) -> str | None:
        """Which account a request acts for (for the log and rate budgets)."""
        return None

    # ----------------------------------------------------------- public API

    def inject(
        self, kind: str, *, times: int = 1, path: str | None = None, method: str | None = None,
        retry_after: float | None = 1.0, account: str | None = None,
    ) -> None:
        """Make the next *times* matching requests fail with fault *kind*.

        Args:
            kind: one of ``FAULTS``.
            times: how many requests the fault hits.
            path: a regex the request path (below the fake's base) must match.
            method: only requests with this HTTP method.
            retry_after: the wait the platform asks for, where it asks.
            account: only requests acting for this account (see `account_of`).
        """
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; choose from {', '.join(FAULTS)}")
        with self.lock:
            self.faults.append(Fault(kind, times, path, method, retry_after, account))

    def chaos(self, rate: float, *, kinds: Sequence[str] = FAULTS, seed: int | None = None) -> None:
        """Fail a share *rate* of all requests, each with a fault drawn from *kinds*.

        On top of `inject`: a request that matches no injected fault fails
        at random. ``rate=0`` turns it off.

        Example:
            >>> from govmedia.testing import FakeWebhook
            >>> fake = FakeWebhook()
            >>> fake.chaos(0.3, kinds=("server_error", "timeout_after"), seed=7)
        """
        unknown = sorted(set(kinds) - set(FAULTS))
        if unknown or not 0 <= rate <= 1:
            raise ValueError(f"chaos needs 0 <= rate <= 1 and kinds from {', '.join(FAULTS)}")
        with self.lock:
            self.chaos_rate = rate
            self.chaos_kinds = tuple(kinds)
            if seed is not None:
                self._rng.seed(seed)

    def owns(self, request: httpx.Request) -> bool:
        """True when *request* is addressed to this fake."""
        url = request.url
        return (
            url.scheme == self._root.scheme and url.host == self._root.host
            and url.port == self._root.port
            and (url.path == self._root.path or url.path.startswith(self._root.path.rstrip("/") + "/"))
        )

    def path_of(self, request: httpx.Request) -> str:
        """The request path below the fake's base URL."""
        base = self._root.path.rstrip("/")
        return request.url.path[len(base):] or "/"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Handle one request (usable as an `httpx.MockTransport` handler)."""
        path = self.path_of(request)
        request.read()
        with self.lock:
            fault = self._take_fault(request, path)
            if fault is not None and fault.kind == "timeout_before":
                self._record(request, path, 0)
                raise httpx.ConnectTimeout("injected: connect timed out", request=request)
            if fault is not None and fault.kind not in ("timeout_after", "truncated"):
                response = self.fault_response(fault, request)
            else:
                response = self._dispatch(request, path)
            self._record(request, path, response.status_code)
        if fault is not None and fault.kind == "timeout_after":
            raise httpx.ReadTimeout("injected: applied, then the answer was lost", request=request)
        if fault is not None and fault.kind == "truncated":
            body = response.content[: max(1, len(response.content) // 2)]
            return httpx.Response(200, headers={"Content-Type": "application/json"}, content=body)
        return response

    def requests(self, path: str | None = None, method: str | None = None) -> list[Recorded]:
        """The logged requests, optionally filtered by a path regex and method."""
        with self.lock:
            return [
                r for r in self.log
                if (path is None or re.search(path, r.path)) and (method is None or r.method == method)
            ]

    # ----------------------------------------------------------- internals

    def _take_fault(self, request: httpx.Request, path: str) -> Fault | None:
        if not self.faults:
            if self.chaos_rate and self._rng.random() < self.chaos_rate:
                return Fault(self._rng.choice(self.chaos_kinds), retry_after=0.05)
            return None
        account = self.account_of(request) if any(f.account for f in self.faults) else None
        for fault in self.faults:
            if fault.matches(request, path, account):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        if self.chaos_rate and self._rng.random() < self.chaos_rate:
            return Fault(self._rng.choice(self.chaos_kinds), retry_after=0.05)
        return None

    def _record(self, request: httpx.Request, path: str, status: int) -> None:
        self.log.append(Recorded(time.monotonic(), request.method, path, self.account_of(request), status))

    def _dispatch(self, request: httpx.Request, path: str) -> httpx.Response:
        allowed = []
        for route in self._routes:
            match = route.pattern.match(path)
            if match:
                if route.method == request.method:
                    return route.handler(request, match)
                allowed.append(route.method)
        if allowed:
            return self.not_allowed(request, path)
        return self.not_found(request, path)

    def not_found(self, request: httpx.Request, path: str) -> httpx.Response:
        """The platform's answer to an unknown path."""
        return httpx.Response(404, json={"error": "Record not found"})

    def not_allowed(self, request: httpx.Request, path: str) -> httpx.Response:
        """The platform's answer to a known path with the wrong method."""
        return httpx.Response(405, json={"error": "Method not allowed"})


Handler = Callable[..., httpx.Response]


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Declare a fake's handler for ``METHOD pattern`` (a regex over the path)."""

    def mark(fn: Handler) -> Handler:
        fn._fake_route = (method, pattern)  # type: ignore[attr-defined]  # noqa: SLF001
        return fn

    return mark


def json_of(request: httpx.Request) -> Any:
    """Parse a JSON request body strictly (UTF-8, an object)."""
    return json.loads(request.content.decode("utf-8"))
