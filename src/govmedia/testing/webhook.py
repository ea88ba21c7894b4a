"""A strict fake Standard Webhooks receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from typing import Any, ClassVar

import attrs
import httpx

from govmedia.model import Channel
from govmedia.testing._fake import FakePlatform, route

__all__ = ["FakeWebhook"]

_TYPE = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")
TOLERANCE = 5 * 60


@attrs.define
class Endpoint:
    """One receiver URL: its secret, its state and the events it kept."""

    name: str
    secret: str | None = None
    gone: bool = False
    events: dict[str, Any] = attrs.field(factory=dict)


class FakeWebhook(FakePlatform):
    """Receivers at ``{base}/webhook/hooks/NAME`` that verify like the reference library.

    Each endpoint rejects a missing header (400), a timestamp more than five
    minutes off (400), a bad ``v1`` signature (401) and a body that is not a
    JSON event (400); it keeps one event per ``webhook-id``.

    Example:
        >>> from govmedia.testing import FakeWebhook
        >>> fake = FakeWebhook()
        >>> ch = fake.channel("cms")
        >>> ch.options["url"]
        'https://sandbox.govmedia.test/webhook/hooks/cms'
    """

    name: ClassVar[str] = "webhook"
    prefix: ClassVar[str] = "/webhook"
    create_path: ClassVar[str] = r"^/hooks/[^/]+$"

    def __init__(self, base_url: str = "https://sandbox.govmedia.test") -> None:
        super().__init__(base_url)
        self.endpoints: dict[str, Endpoint] = {}

    def endpoint(self, name: str, *, secret: str | None = None, gone: bool = False) -> Endpoint:
        """Create (or fetch) the endpoint *name*; ``gone`` makes it answer 410."""
        with self.lock:
            ep = self.endpoints.get(name)
            if ep is None:
                ep = self.endpoints[name] = Endpoint(name, secret)
            ep.gone = gone or ep.gone
            return ep

    def channel(self, account: str = "", *, signed: bool = True, **options: Any) -> Channel:
        """A channel posting to a new endpoint (signed with a fresh secret by default)."""
        account = account or f"hook{len(self.endpoints) + 1}"
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode() if signed else None
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", account)
        self.endpoint(name, secret=secret)
        return Channel(
            platform="webhook", account=account,
            credentials={"secret": secret} if secret else {},
            options={"url": f"{self.base_url}/hooks/{name}", **options},
        )

    def events(self, name: str | None = None) -> list[Any]:
        """Events kept, for one endpoint or all, in arrival order."""
        with self.lock:
            eps = [self.endpoints[name]] if name else list(self.endpoints.values())
            return [e for ep in eps for e in ep.events.values()]

    def posts(self, account: str | None = None) -> list[dict[str, Any]]:
        """Events kept, as posts (one per ``webhook-id``), for one account or all."""
        with self.lock:
            return [
                {"id": msg_id, "account": ep.name, **event}
                for ep in self.endpoints.values()
                if account is None or ep.name == re.sub(r"[^A-Za-z0-9_.-]", "_", account)
                for msg_id, event in ep.events.items()
            ]

    def account_of(self, request: httpx.Request) -> str | None:
        """The endpoint name stands for the account."""
        return request.url.path.rsplit("/", 1)[-1]

    def bad_body(self, reason: str) -> httpx.Response:
        """400, as the reference receiver answers a body that is not a JSON event."""
        error = "event needs a dotted type" if reason == "not_object" else "body is not JSON"
        return httpx.Response(400, json={"error": error})

    @route("POST", r"/hooks/(?P<name>[^/]+)")
    def _receive(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        ep = self.endpoints.get(match["name"])
        if ep is None or ep.gone:
            return httpx.Response(410 if ep else 404, text="endpoint disabled" if ep else "no such endpoint")
        msg_id = request.headers.get("webhook-id")
        stamp = request.headers.get("webhook-timestamp")
        signature = request.headers.get("webhook-signature")
        if not msg_id or not stamp or (ep.secret and not signature):
            return httpx.Response(400, json={"error": "missing required headers"})
        try:
            when = int(stamp)
        except ValueError:
            return httpx.Response(400, json={"error": "invalid timestamp"})
        if abs(time.time() - when) > TOLERANCE:
            return httpx.Response(400, json={"error": "message timestamp too old or too new"})
        if ep.secret:
            key = base64.b64decode(ep.secret.removeprefix("whsec_"))
            signed = f"{msg_id}.{when}.".encode() + request.content
            expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
            offered = [p.split(",", 1)[1] for p in (signature or "").split() if p.startswith("v1,")]
            if not any(hmac.compare_digest(expected, o) for o in offered):
                return httpx.Response(401, json={"error": "no matching signature found"})
        event = self.json_body(request)
        if not _TYPE.match(str(event.get("type", ""))):
            return self.bad_body("not_object")
        ep.events.setdefault(msg_id, event)  # deduplicate on webhook-id
        return httpx.Response(200, json={"id": msg_id})
