"""The base of every fake platform: routing, refusals, rate budgets, a request log and faults.

A fake is one class: it declares its routes (`route`), its rate budgets
(`FakePlatform.rate_limits`) and its platform's shapes (`fault_response`,
`bad_body`, `over_budget`, ...), keeps its own state, and fills in the fake
contract (`FakePlatform.create_path`, `FakePlatform.channel`,
`FakePlatform.posts`) that the sandbox and the contract suite rely on.
"""

from __future__ import annotations

import abc
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import attrs
import httpx

from govmedia.model import Channel
from govmedia.testing._bodies import (
    Multipart,
    default_refusal,
    parse_form,
    parse_json,
    parse_multipart,
    parse_params,
)
from govmedia.testing._budgets import Budget, RateBudgets
from govmedia.testing._faketokens import FakeTokens
from govmedia.testing._refuse import Refuse

__all__ = ["FAULTS", "FakePlatform", "Fault", "Recorded", "Route", "route"]

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
    """One injected fault: what, where, how often (made by `FakePlatform.inject`).

    Example:
        >>> import httpx
        >>> from govmedia.testing import Fault
        >>> fault = Fault("rate_limit", times=2, path=r"^/api/v1/statuses$", method="POST")
        >>> fault.matches(httpx.Request("POST", "https://x.test/api/v1/statuses"), "/api/v1/statuses")
        True
    """

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
    """A request the fake received: when (monotonic), method, path, account, the status answered.

    Example:
        >>> import httpx
        >>> from govmedia.testing import FakeWebhook
        >>> fake = FakeWebhook()
        >>> _ = fake(httpx.Request("POST", f"{fake.base_url}/hooks/nobody", json={}))
        >>> [(r.method, r.path, r.account, r.status) for r in fake.requests()]
        [('POST', '/hooks/nobody', 'nobody', 404)]
    """

    at: float
    method: str
    path: str
    account: str | None
    status: int


@attrs.frozen
class Route:
    """``METHOD`` + a path regex -> handler(request, match) -> response, and the budgets it spends."""

    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., httpx.Response]
    spends: tuple[str, ...] = ()


Handler = Callable[..., httpx.Response]


def route(method: str, pattern: str, *, spends: Sequence[str] = ()) -> Callable[[Handler], Handler]:
    r"""Declare a fake's handler for ``METHOD pattern`` (a regex over the whole path below the base).

    The handler is called as ``handler(request, match)`` and returns the
    response, or raises `Refuse`. Where several routes match a path, the one
    declared first wins; a subclass that redefines a handler (by name, with or
    without `route`) keeps the route's place.

    Args:
        method: the HTTP method.
        pattern: the path regex; named groups reach the handler in ``match``.
        spends: the `FakePlatform.rate_limits` budgets a request here spends,
            besides `FakePlatform.rate_scope`.

    Example:
        >>> import httpx
        >>> from govmedia.testing import FakeWebhook, route
        >>> class Probe(FakeWebhook):
        ...     @route("GET", r"/health/(?P<part>\w+)")
        ...     def _health(self, request, match):
        ...         return httpx.Response(200, json={"ok": match["part"]})
        >>> Probe()(httpx.Request("GET", "https://sandbox.govmedia.test/webhook/health/db")).json()
        {'ok': 'db'}
    """

    def mark(fn: Handler) -> Handler:
        fn._fake_route = (method.upper(), pattern, tuple(spends))  # type: ignore[attr-defined]  # noqa: SLF001
        return fn

    return mark


class FakePlatform(abc.ABC):
    """A stateful, strict fake of one platform's HTTP API.

    A subclass declares its handlers with `route`, keeps its own state, and
    implements the fake contract: `create_path`, `channel` and `posts`. The
    base dispatches each request to its route and answers a `Refuse` raised
    anywhere below a handler with the refusal's response; it counts rate
    budgets (`rate_limits`, `rate_scope`, ``@route(spends=...)``), logs every
    request and fails requests on demand (`inject`, `chaos`). Overridable
    hooks give the platform's own shapes: `fault_response`, `bad_body`,
    `over_budget`, `budget_headers`, `not_found`, `not_allowed`, and who a
    request acts for: `account_of`, `budget_key`.

    Attributes:
        clock: Unix time now (``time.time``); a test may replace it, and the
            toolkit pieces a fake builds with ``clock=self.now`` follow.
        enforce_limits: answer `over_budget` once a budget is spent (the
            budget headers are sent either way).

    Example:
        >>> from govmedia.testing import FakeMastodon
        >>> fake = FakeMastodon()
        >>> fake.inject("rate_limit", path="/api/v1/statuses", times=2)
    """

    name: ClassVar[str] = ""
    prefix: ClassVar[str] = ""
    rate_limits: ClassVar[Mapping[str, tuple[int, float]]] = {}
    """Budget name -> ``(requests, period in seconds)`` per `budget_key`."""
    rate_scope: ClassVar[tuple[str, ...]] = ()
    """The budgets every request with a `budget_key` spends."""

    def __init__(self, base_url: str = "https://sandbox.govmedia.test") -> None:
        self.base_url = base_url.rstrip("/") + self.prefix
        self._root = httpx.URL(self.base_url)
        self.faults: list[Fault] = []
        self.chaos_rate = 0.0
        self.chaos_kinds: tuple[str, ...] = FAULTS
        self._rng = random.Random()  # noqa: S311 - fault injection, not cryptography
        self.log: list[Recorded] = []
        self.lock = threading.RLock()
        self.clock: Callable[[], float] = time.time
        self.enforce_limits = False
        self.budgets = RateBudgets(self.rate_limits, clock=self.now)
        self._routes = self._build_routes()

    # ----------------------------------------------------------- the fake contract

    @property
    @abc.abstractmethod
    def create_path(self) -> str:
        """A path regex (below the fake's base) that matches the request creating a post, and only it.

        Tests aim faults at the create with ``inject(kind, path=fake.create_path)``.
        A subclass sets it as a class attribute.
        """

    @abc.abstractmethod
    def channel(self, account: str = "", **options: Any) -> Channel:
        """A channel whose credentials and base URL reach this fake, for *account*.

        A fake registers the account (and its credentials) as needed; an
        empty *account* makes a new one. *options* go into the channel's
        options, over the fake's defaults.
        """

    @abc.abstractmethod
    def posts(self, account: str | None = None) -> list[dict[str, Any]]:
        """The live posts (created, not deleted), oldest first, as dicts; for *account* or all.

        Each dict is the platform's JSON of the post (or what the fake kept),
        so a test can compare it to a `Receipt`.
        """

    # ----------------------------------------------------------- hooks (override per platform)

    def now(self) -> float:
        """Unix time by this fake's `clock`."""
        return self.clock()

    @property
    def limits(self) -> dict[str, tuple[int, float]]:
        """The rate budgets in force (a dict a test may change): see `rate_limits`."""
        return self.budgets.limits

    def _build_routes(self) -> list[Route]:
        declared: dict[str, tuple[str, str, tuple[str, ...]]] = {}
        for klass in reversed(type(self).__mro__):
            for attr, fn in vars(klass).items():
                spec = getattr(fn, "_fake_route", None)
                if spec is not None:  # a subclass's redefinition keeps the route's place
                    declared[attr] = spec
        for where, spends in [("rate_scope", self.rate_scope), *((a, s[2]) for a, s in declared.items())]:
            unknown = set(spends) - set(self.limits)  # a typo fails when the fake is made, not mid-test
            if unknown:
                raise ValueError(f"{type(self).__name__}.{where} spends unknown budgets {sorted(unknown)}")
        return [Route(method, re.compile(f"^{pattern}$"), getattr(self, attr), spends)
                for attr, (method, pattern, spends) in declared.items()]

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
        """Which account a request acts for (for the log, faults and rate budgets)."""
        return None

    def budget_key(self, request: httpx.Request) -> str | None:
        """Whose rate budgets a request spends (default: `account_of`); ``None``: none."""
        return self.account_of(request)

    def over_budget(self, budget: Budget, request: httpx.Request) -> httpx.Response:
        """The platform's answer when *budget* is spent and `enforce_limits` is on."""
        return httpx.Response(429, json={"error": "Too many requests"},
                              headers={"Retry-After": str(budget.retry_after(self.now()))})

    def budget_headers(self, budget: Budget) -> dict[str, str]:
        """Headers added to every answer to a request that spent *budget* (its tightest one)."""
        return {}

    def bad_body(self, reason: str) -> httpx.Response:
        """The platform's answer to a body it cannot read (reasons: see `parse_json`)."""
        return default_refusal(reason)

    def not_found(self, request: httpx.Request, path: str) -> httpx.Response:
        """The platform's answer to an unknown path."""
        return httpx.Response(404, json={"error": "Record not found"})

    def not_allowed(self, request: httpx.Request, path: str) -> httpx.Response:
        """The platform's answer to a known path with the wrong method."""
        return httpx.Response(405, json={"error": "Method not allowed"})

    @staticmethod
    def bearer(request: httpx.Request) -> str | None:
        """The token of an ``Authorization: Bearer ...`` header, else ``None``.

        Check it with `FakeTokens.access`, which refuses a missing one too.

        Example:
            >>> import httpx
            >>> from govmedia.testing import FakePlatform
            >>> request = httpx.Request("GET", "https://x.test/", headers={"Authorization": "Bearer t1"})
            >>> FakePlatform.bearer(request), FakePlatform.bearer(httpx.Request("GET", "https://x.test/"))
            ('t1', None)
        """
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return (token or None) if scheme.lower() == "bearer" else None

    # ----------------------------------------------------------- bodies, refused in the platform's shape

    def json_body(self, request: httpx.Request, *, escapes: bool = True) -> dict[str, Any]:
        """The request's JSON object (`parse_json`), or `Refuse` with `bad_body`."""
        return parse_json(request, refuse=self.bad_body, escapes=escapes)

    def form_body(self, request: httpx.Request) -> dict[str, Any]:
        """The request's form fields (`parse_form`), or `Refuse` with `bad_body`."""
        return parse_form(request, refuse=self.bad_body)

    def multipart_body(self, request: httpx.Request) -> Multipart:
        """The request's multipart parts (`parse_multipart`), or `Refuse` with `bad_body`."""
        return parse_multipart(request, refuse=self.bad_body)

    def body_params(self, request: httpx.Request) -> dict[str, Any]:
        """JSON, multipart or form parameters by content type (`parse_params`), or `Refuse`."""
        return parse_params(request, refuse=self.bad_body)

    # ----------------------------------------------------------- public API

    def _fake_tokens(self) -> FakeTokens:
        tokens = getattr(self, "tokens", None)
        if not isinstance(tokens, FakeTokens):
            raise TypeError(f"{type(self).__name__} keeps no expiring tokens")
        return tokens

    @property
    def token_ttl(self) -> float | None:
        """Seconds a token issued from now on lives (``None``: for good); a fake with `FakeTokens`."""
        return self._fake_tokens().ttl

    @token_ttl.setter
    def token_ttl(self, seconds: float | None) -> None:
        self._fake_tokens().ttl = seconds

    def expire_tokens(self) -> None:
        """Expire every access token issued so far (a fake that keeps `FakeTokens`).

        The next request with one gets the platform's own "token expired" answer.
        """
        self._fake_tokens().expire()

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
        found: tuple[Route, re.Match[str]] | None = None
        allowed = False
        for candidate in self._routes:
            match = candidate.pattern.match(path)
            if match:
                if candidate.method == request.method:
                    found = (candidate, match)
                    break
                allowed = True
        budget = self._spend(request, found[0] if found else None)
        try:
            if budget is not None and budget.exhausted and self.enforce_limits:
                response = self.over_budget(budget, request)
            elif found is not None:
                response = found[0].handler(request, found[1])
            elif allowed:
                response = self.not_allowed(request, path)
            else:
                response = self.not_found(request, path)
        except Refuse as refusal:
            response = refusal.response
        if budget is not None:
            response.headers.update(self.budget_headers(budget))
        return response

    def _spend(self, request: httpx.Request, found: Route | None) -> Budget | None:
        names = (*self.rate_scope, *(found.spends if found else ()))
        if not names:
            return None
        key = self.budget_key(request)
        return self.budgets.spend(key, *names) if key is not None else None
