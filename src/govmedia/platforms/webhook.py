"""Generic webhooks (Standard Webhooks 1.0): a signed JSON POST to any endpoint.

Facts: shared/platforms/webhook.md. ``webhook-id`` is the receiver's
idempotency key and stays the same on every attempt and every re-run, so a
possibly-applied POST is safe to resend; ``webhook-timestamp`` and the
signature are made anew for each attempt.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from govmedia._http import build_request, parse_url
from govmedia._netguard import BlockedAddress, check_host
from govmedia.content.integrity import body_problems
from govmedia.content.markup import short_text
from govmedia.content.sanitize import safe_html
from govmedia.errors import ConfigError, PlatformError, RateLimited
from govmedia.model import Channel, Media, Post, Problem, Receipt
from govmedia.platforms.base import BasePlatform, Capabilities
from govmedia.platforms.codes import Code, ErrorTable
from govmedia.platforms.options import Option
from govmedia.platforms.steps import Flow, creates, json_body, json_of, retry_safe
from govmedia.tokens import Token

__all__ = ["WebhookPlatform", "sign"]


class _Redirected(PlatformError):
    default_hint = "Redirects are not followed: ask the receiver's owner for the final URL."


def _secret_key(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(
            "webhook credential 'secret' must be 'whsec_' followed by base64"
        ) from exc


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` HMAC-SHA256 signature of one attempt.

    Example:
        >>> sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
        ...      1614265330, b'{"test": 2432232314}')
        'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
    """
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    digest = hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _media_item(media: Media) -> dict[str, Any]:
    # Standard Webhooks: keep bodies small and send links, never media bytes.
    return {
        "url": media.url, "filename": media.filename, "mime_type": media.mime_type,
        "size": media.size, "alt": media.alt,
    }


@functools.lru_cache(maxsize=64)
def _dotted_words(text: str) -> bool:
    return all(part.isidentifier() for part in text.split("."))


def _url_problem(value: str) -> str | None:
    if not value.startswith(("https://", "http://")):
        return "an http(s) URL"
    try:
        url = parse_url(value)  # cached: publish reuses it
        check_host(url.host)
    except httpx.InvalidURL as exc:
        return f"a valid URL ({exc})"
    except BlockedAddress as exc:
        return (f"not a link-local or cloud metadata address ({exc.address} is {exc.reason}; "
                "govmedia never sends to one)")
    return None


def _event_problem(value: str) -> str | None:
    return None if _dotted_words(value) else "dot-separated words"


class WebhookPlatform(BasePlatform):
    """POST each post as a Standard Webhooks event to the channel's ``url``.

    Credentials: ``secret`` (optional, ``whsec_...``: signs each attempt).
    Options: ``url`` (required), ``event_type`` (default ``post.published``).

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="webhook", account="cms@intranet",
        ...                 options={"url": "https://cms.example/hooks/govmedia"})
        >>> gm.Client().check(gm.Post(text="发布会通知"), ch)
        []
    """

    name: ClassVar[str] = "webhook"
    optional_credential_keys: ClassVar[tuple[str, ...]] = ("secret",)
    options: ClassVar[Mapping[str, Option]] = {
        "url": Option(str, required=True, check=_url_problem, doc="the receiver's http(s) address"),
        "event_type": Option(str, default="post.published", check=_event_problem),
    }
    capabilities: ClassVar[Capabilities] = Capabilities(
        dedupe=True, media_kinds=("image", "video", "audio", "file"),
        counting="no limit (keep bodies under ~20 kB)",
        fields=("title", "body", "text", "summary", "tags", "link", "cover", "media"),
    )
    fake: ClassVar[str] = "govmedia.testing.webhook:FakeWebhook"
    json_responses: ClassVar[bool] = False  # receivers answer with anything
    # Standard Webhooks: 502 and 504 are throttling; any 5xx may come after
    # the receiver stored the event (resent with the same webhook-id).
    errors = ErrorTable({
        410: Code.permanent("The receiver opted out (410 Gone): remove or fix this endpoint."),
        429: Code.rate_limited(),
        502: Code(kind=RateLimited, applied=True), 504: Code(kind=RateLimited, applied=True),
        503: Code.transient(), 408: Code.busy(),
        401: Code.auth(), 403: Code.auth(),
        400: Code.rejected(unforeseeable="the receiver's own checks"),
        413: Code.rejected(unforeseeable="the receiver's size limit is its own"),
        415: Code.rejected(unforeseeable="the receiver's own checks"),
        422: Code.rejected(unforeseeable="the receiver's own checks"),
    })

    def check_channel(self, channel: Channel) -> None:
        """Also require a well-formed secret (``whsec_`` and base64)."""
        super().check_channel(channel)
        secret = channel.credentials.get("secret")
        if secret:
            _secret_key(secret)

    def validate(self, post: Post, channel: Channel) -> list[Problem]:
        """Text ``data.html`` would lose: Markdown nested too deep, text in SVG or MathML."""
        return body_problems(post.body, post.body_format)

    def payload(self, post: Post, channel: Channel) -> dict[str, Any]:
        """The event envelope sent for *post*; ``data.html`` is sanitized HTML."""
        data: dict[str, Any] = {
            "key": post.key,
            "title": post.title,
            "text": short_text(post),
            "summary": post.summary,
            "tags": list(post.tags),
            "link": post.link,
            "body": post.body,
            "body_format": post.body_format if post.body else None,
            "html": safe_html(post.body, post.body_format) if post.body else None,
            "cover": _media_item(post.cover) if post.cover else None,
            "media": [_media_item(m) for m in post.media],
            "account": channel.account,
        }
        return {
            "type": channel.options.get("event_type", "post.published"),
            "timestamp": _event_time(),
            "data": data,
        }

    def publish(self, post: Post, channel: Channel, key: str) -> Flow[Receipt]:
        """POST the event once; retries reuse the same ``webhook-id``."""
        body = json_body(self.payload(post, channel))
        request = build_request(
            "POST", channel.options["url"], content=body,
            headers=(("Content-Type", "application/json"), ("webhook-id", key)),
        )
        response = yield creates(retry_safe(request))
        answer = _maybe_json(response)
        url = answer.get("url") if isinstance(answer, dict) else None
        return Receipt(
            channel=channel, remote_id=key, url=url if isinstance(url, str) else None,
            state="published", raw={"status": response.status_code, "response": answer},
        )

    def authorize(self, request: httpx.Request, channel: Channel, token: Token | None) -> httpx.Request:
        """Stamp and sign this attempt."""
        timestamp = int(time.time())
        request.headers["webhook-timestamp"] = str(timestamp)
        secret = channel.credentials.get("secret")
        if secret:
            request.headers["webhook-signature"] = sign(
                secret, request.headers["webhook-id"], timestamp, request.content
            )
        return request

    def error_details(self, response: httpx.Response) -> tuple[int | str, str] | None:
        """Any 2xx is success; a 3xx is an error (redirects are never followed)."""
        if 200 <= response.status_code < 300:
            return None
        return response.status_code, self.error_message(response)

    def classify(self, response: httpx.Response, channel: Channel) -> PlatformError | None:
        """As the base class, with 3xx refused."""
        if 300 <= response.status_code < 400:
            return _Redirected(
                f"redirected to {response.headers.get('location', '?')}",
                platform=self.name, account=channel.account, code=response.status_code,
                response=response,
            )
        return super().classify(response, channel)


_last_second: tuple[int, str] = (-1, "")


def _event_time() -> str:
    """Now in UTC, to the second, as the envelope states it; formatted once a second.

    Example:
        >>> from govmedia.platforms.webhook import _event_time
        >>> len(_event_time()), _event_time().endswith("Z")
        (20, True)
    """
    global _last_second  # noqa: PLW0603 - a cache; swapping a tuple is atomic
    second = int(time.time())
    last = _last_second
    if last[0] != second:
        text = dt.datetime.fromtimestamp(second, dt.UTC).isoformat().replace("+00:00", "Z")
        last = _last_second = (second, text)
    return last[1]


def _maybe_json(response: httpx.Response) -> Any:
    """The receiver's answer if it is JSON, else ``None``: receivers answer with anything."""
    try:
        return json_of(response) if response.content else None
    except PlatformError:
        return None
