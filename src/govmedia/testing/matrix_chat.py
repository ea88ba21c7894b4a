"""A strict, stateful fake of a Matrix homeserver's client-server API (as Synapse answers it).

It keeps users with access tokens (each token a device), rooms with members
and power levels, events and a media repository, and answers as
shared/platforms/matrix_chat.md and Synapse 1.163 do (shared/servers.md):
``{"errcode", "error"}`` bodies; a txnId repeated from the same device
answers the first event's id, even with another body, for 24 hours (Synapse's
``event_txn_id_device_id``); another device's token makes a new event;
``M_LIMIT_EXCEEDED`` with ``retry_after_ms`` and ``Retry-After`` from
Synapse's own rate-limit arithmetic (``rc_message``: 0.2 a second, bursts of
10, per user, when `FakePlatform.enforce_limits` is on; `unlimited` users are
exempt, as ``override_ratelimit`` makes them); authenticated media only
(``/_matrix/media/v3/download`` answers 404, as Synapse does by default).

An ``m.room.message`` without a string ``body`` and ``msgtype`` is refused
as Synapse refuses it (400 ``M_UNKNOWN``). Stricter than Synapse, to catch
bugs: ``format`` needs ``formatted_body``; a media event's ``url`` must name a
file uploaded here; an upload needs a ``Content-Type``.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import secrets
from typing import Any, ClassVar

import attrs
import httpx

from govmedia.model import Channel
from govmedia.testing._fake import FakePlatform, Fault, route
from govmedia.testing._faketokens import FakeTokens
from govmedia.testing._idempotency import IdempotencyStore
from govmedia.testing._refuse import Refuse

__all__ = ["FakeEvent", "FakeMatrixChat", "FakeRoom"]

MB = 1024 * 1024
TXN_WINDOW = 24 * 3600.0
MAX_PDU = 65_536
ENVELOPE = 1_000  # bytes a real event adds around its content (ids, hashes, signatures)
MARKER = "org.govmedia.key"  # govmedia's marker, read only to group a post's events in `posts`
MEDIA_MSGTYPES = ("m.image", "m.video", "m.audio", "m.file")
CLIENT = "/_matrix/client/v3"


def _no(status: int, errcode: str, error: str, **extra: Any) -> Refuse:
    """The homeserver's refusal: ``{"errcode": ..., "error": ...}``."""
    return Refuse(status, json={"errcode": errcode, "error": error, **extra})


@attrs.define
class FakeRoom:
    """A room: who is joined, their power levels, and the level needed to send messages."""

    room_id: str
    members: set[str] = attrs.field(factory=set)
    invited: set[str] = attrs.field(factory=set)
    power: dict[str, int] = attrs.field(factory=dict)
    send_level: int = 0
    redact_level: int = 50
    public: bool = False


@attrs.define
class FakeEvent:
    """An event in a room; a redacted one keeps its id and loses its content."""

    event_id: str
    room_id: str
    sender: str
    type: str
    content: dict[str, Any]
    origin_server_ts: int
    device_id: str | None = None
    txn_id: str | None = None
    redacts: str | None = None
    redacted_by: str | None = None

    def json(self, *, viewer_device: str | None = None, now_ms: int = 0) -> dict[str, Any]:
        """As the client-server API shows it (``unsigned.transaction_id`` to the sending device only)."""
        unsigned: dict[str, Any] = {"age": max(0, now_ms - self.origin_server_ts)}
        if self.txn_id and viewer_device is not None and viewer_device == self.device_id:
            unsigned["transaction_id"] = self.txn_id
        if self.redacted_by:
            unsigned["redacted_because"] = {"event_id": self.redacted_by, "type": "m.room.redaction"}
        body: dict[str, Any] = {
            "event_id": self.event_id, "room_id": self.room_id, "sender": self.sender,
            "type": self.type, "content": {} if self.redacted_by else dict(self.content),
            "origin_server_ts": self.origin_server_ts, "unsigned": unsigned,
        }
        if self.redacts:
            body["redacts"] = self.redacts
        return body


class FakeMatrixChat(FakePlatform):
    """A Matrix homeserver at ``{base}/matrix_chat`` that keeps what it is sent.

    Attributes you may set: `max_upload_size` (bytes; 50 MiB), `rc_message`
    (``(per_second, burst)``, Synapse's default ``(0.2, 10)``), `unlimited`
    (user ids exempt from it), `enforce_limits` (apply `rc_message`) and
    `clock`. `login` gives an account another device's token; `room`,
    `join` and `set_power` arrange rooms.

    Faults (`inject`): ``rate_limit`` answers 429 ``M_LIMIT_EXCEEDED`` with
    ``retry_after_ms`` and ``Retry-After``; ``busy`` 403
    ``M_RESOURCE_LIMIT_EXCEEDED``; ``server_error`` 500 ``M_UNKNOWN``;
    ``token_expired`` 401 ``M_UNKNOWN_TOKEN`` with ``soft_logout``.

    Example:
        >>> import govmedia as gm
        >>> from govmedia.testing import FakeMatrixChat, Sandbox
        >>> sandbox = Sandbox(platforms=["matrix_chat"])
        >>> fake: FakeMatrixChat = sandbox["matrix_chat"]
        >>> ch = fake.channel("@sasac:sandbox.govmedia.test")
        >>> with gm.Client(http=sandbox.client()) as client:
        ...     receipt = client.publish(gm.Post(text="**国资小新** 今日发布"), ch)
        >>> [(p["event_id"] == receipt.remote_id, p["content"]["formatted_body"]) for p in fake.posts()]
        [(True, '<strong>国资小新</strong> 今日发布')]
    """

    name: ClassVar[str] = "matrix_chat"
    prefix: ClassVar[str] = "/matrix_chat"
    create_path: ClassVar[str] = r"^/_matrix/client/v3/rooms/[^/]+/send/[^/]+/[^/]+$"
    """A path regex for `inject` that matches the event sends (each part of a post)."""

    def __init__(self, base_url: str = "https://sandbox.govmedia.test") -> None:
        super().__init__(base_url)
        self.server_name = self._root.host
        self.tokens = FakeTokens(ttl=None, clock=self.now, refuse=self._token_refusal)
        self.devices: dict[str, str] = {}  # access token -> device id
        self.users: dict[str, str] = {}  # user id -> the channel account it was made for
        self.rooms: dict[str, FakeRoom] = {}
        self.events: dict[str, FakeEvent] = {}  # insertion order is the room timeline
        self.media: dict[str, tuple[str, str, bytes, str | None]] = {}  # id -> owner, type, bytes, name
        self.txns: IdempotencyStore[str] = IdempotencyStore(TXN_WINDOW, clock=self.now)
        self.max_upload_size = 50 * MB
        self.rc_message: tuple[float, int] = (0.2, 10)
        self.unlimited: set[str] = set()
        self._actions: dict[str, tuple[float, float]] = {}  # user -> (action count, since)
        self._ids = itertools.count(1)

    # ----------------------------------------------------------- the fake contract

    def channel(self, account: str = "", **options: Any) -> Channel:
        """A user for *account* (``@local:server``, or made from it) with a token, in a room of its own.

        Give ``room_id=`` to join an existing room (see `room`) instead.
        """
        with self.lock:
            if not account:
                account = f"@user{len(self.users) + 1}:{self.server_name}"
            user = self.user_id(account)
            self.users.setdefault(user, account)
            room_id = options.pop("room_id", None) or self.room(user).room_id
            self.join(account, room_id)
            token = self.login(account)
        return Channel(platform="matrix_chat", account=account, credentials={"access_token": token},
                       options={"base_url": self.base_url, "room_id": room_id, **options})

    def posts(self, account: str | None = None) -> list[dict[str, Any]]:
        """Live posts, oldest first: a post's events (grouped by govmedia's marker) in one dict.

        Each dict is the first event's JSON with ``events`` listing every event of the post.
        """
        with self.lock:
            user = self.user_id(account) if account is not None else None
            groups: dict[tuple[str, str], list[FakeEvent]] = {}
            for event in self.events.values():
                if event.type != "m.room.message" or event.redacted_by or (user and event.sender != user):
                    continue
                marker = event.content.get(MARKER)
                group = marker.rpartition(".")[0] if isinstance(marker, str) else event.event_id
                groups.setdefault((event.sender, group or event.event_id), []).append(event)
            now = int(self.now() * 1000)
            return [{**events[0].json(now_ms=now), "events": [e.json(now_ms=now) for e in events]}
                    for events in groups.values()]

    # ----------------------------------------------------------- arranging

    def user_id(self, account: str) -> str:
        """The user id of *account*: itself when it is ``@local:server``, else one made from it."""
        if re.fullmatch(r"@[a-z0-9._=/+-]+:[A-Za-z0-9.:-]+", account):
            return account
        local = re.sub(r"[^a-z0-9._=-]+", "_", account.lower()).strip("_") or "user"
        return f"@{local}:{self.server_name}"

    def login(self, account: str, *, device_id: str | None = None) -> str:
        """A new access token for *account* on *device_id* (a new device when ``None``)."""
        with self.lock:
            user = self.user_id(account)
            self.users.setdefault(user, account)
            token = self.tokens.issue(user, prefix="syt_").access.value
            self.devices[token] = device_id or "GM" + secrets.token_hex(4).upper()
            return token

    def room(self, creator: str | None = None, *, public: bool = False) -> FakeRoom:
        """A new room (*creator* joined, at power level 100)."""
        with self.lock:
            room = FakeRoom(f"!{secrets.token_urlsafe(12)}:{self.server_name}", public=public)
            if creator is not None:
                user = self.user_id(creator)
                room.members.add(user)
                room.power[user] = 100
            self.rooms[room.room_id] = room
            return room

    def join(self, account: str, room_id: str) -> None:
        """Make *account* a member of *room_id*."""
        with self.lock:
            room = self.rooms[room_id]
            room.members.add(self.user_id(account))

    def set_power(self, room_id: str, account: str, level: int, *, send_level: int | None = None) -> None:
        """Set *account*'s power level in the room (and the level needed to send messages)."""
        with self.lock:
            room = self.rooms[room_id]
            room.power[self.user_id(account)] = level
            if send_level is not None:
                room.send_level = send_level

    def timeline(self, room_id: str) -> list[dict[str, Any]]:
        """Every event of a room (redactions and redacted events included), oldest first."""
        with self.lock:
            now = int(self.now() * 1000)
            return [e.json(now_ms=now) for e in self.events.values() if e.room_id == room_id]

    def media_bytes(self, mxc: str) -> bytes:
        """The bytes uploaded as *mxc* (``mxc://server/id``)."""
        return self.media[mxc.rsplit("/", 1)[-1]][2]

    def account_of(self, request: httpx.Request) -> str | None:
        """The channel account whose token the request carries."""
        token = self.tokens.get(self.bearer(request) or "")
        return self.users.get(token.subject) if token else None

    # ----------------------------------------------------------- platform shapes

    def fault_response(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        """Synapse's 429, resource-limit 403, 500 and soft-logout 401."""
        if fault.kind == "rate_limit":
            return self._limited(fault.retry_after if fault.retry_after is not None else 5.0)
        if fault.kind == "busy":
            return _no(403, "M_RESOURCE_LIMIT_EXCEEDED", "Monthly Active User Limit Exceeded",
                       admin_contact="mailto:admin@sandbox.example",
                       limit_type="monthly_active_user").response
        if fault.kind == "server_error":
            return _no(500, "M_UNKNOWN", "Internal server error").response
        if fault.kind == "token_expired":
            return _no(401, "M_UNKNOWN_TOKEN", "Access token has expired", soft_logout=True).response
        return super().fault_response(fault, request)

    @staticmethod
    def _limited(wait: float) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": str(math.ceil(wait))}, json={
            "errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests",
            "retry_after_ms": int(wait * 1000)})

    def bad_body(self, reason: str) -> httpx.Response:
        """Synapse's answer to a body that is not a JSON object."""
        return _no(400, "M_NOT_JSON", "Content not JSON.").response

    def not_found(self, request: httpx.Request, path: str) -> httpx.Response:
        """An unknown endpoint."""
        return _no(404, "M_UNRECOGNIZED", "Unrecognized request").response

    def not_allowed(self, request: httpx.Request, path: str) -> httpx.Response:
        """A known endpoint with the wrong method."""
        return _no(405, "M_UNRECOGNIZED", "Unrecognized request").response

    @staticmethod
    def _token_refusal(reason: str) -> httpx.Response:
        if reason == "missing":
            return _no(401, "M_MISSING_TOKEN", "Missing access token").response
        return _no(401, "M_UNKNOWN_TOKEN", "Invalid access token passed.", soft_logout=False).response

    # ----------------------------------------------------------- internals

    def _me(self, request: httpx.Request) -> tuple[str, str]:
        """The user id and device id of the request's token (refused with Synapse's 401)."""
        value = self.bearer(request)
        token = self.tokens.access(value)
        return token.subject, self.devices[value or ""]

    def _member_room(self, room_id: str, user: str) -> FakeRoom:
        room = self.rooms.get(room_id)
        if room is None or user not in room.members:
            raise _no(403, "M_FORBIDDEN", f"User {user} not in room {room_id}")
        return room

    def _ratelimit(self, user: str) -> None:
        """Synapse's Ratelimiter.can_do_action for rc_message (api/ratelimiting.py)."""
        if not self.enforce_limits or user in self.unlimited:
            return
        rate, burst = self.rc_message
        now = self.now()
        count, since = self._actions.get(user, (0.0, now))
        performed = count - (now - since) * rate
        if performed < 0:
            count, since, performed = 0.0, now, 0.0
        if performed > burst - 1:
            allowed_at = since + (count - burst + 1) / rate
            raise Refuse(self._limited(max(0.0, allowed_at - now)))
        self._actions[user] = (count + 1, since)

    def _event_id(self) -> str:
        return "$" + secrets.token_urlsafe(32)

    def _check_message(self, content: dict[str, Any], user: str) -> None:
        for key in ("body", "msgtype"):  # Synapse's EventValidator, in its order
            if key not in content:
                raise _no(400, "M_UNKNOWN", f"'{key}' not in content")
            if not isinstance(content[key], str):
                raise _no(400, "M_UNKNOWN", f"'{key}' not a string type")
        msgtype = content["msgtype"]
        if "format" in content and not isinstance(content.get("formatted_body"), str):
            raise _no(400, "M_BAD_JSON", "format needs formatted_body")
        if msgtype in MEDIA_MSGTYPES:
            url = content.get("url")
            media_id = url.removeprefix(f"mxc://{self.server_name}/") if isinstance(url, str) else None
            if not url or media_id == url or media_id not in self.media:
                raise _no(400, "M_BAD_JSON", f"{msgtype} url must name a file uploaded here, got {url!r}")

    # ----------------------------------------------------------- routes

    @route("GET", r"/_matrix/client/versions")
    def _versions(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        return httpx.Response(200, json={"versions": ["v1.11", "v1.12"], "unstable_features": {}})

    @route("GET", r"/_matrix/client/v3/account/whoami")
    def _whoami(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user, device = self._me(request)
        return httpx.Response(200, json={"user_id": user, "device_id": device, "is_guest": False})

    @route("POST", r"/_matrix/client/v3/join/(?P<room>[^/]+)")
    def _join(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user, _ = self._me(request)
        room = self.rooms.get(match["room"])
        if room is None or not (room.public or user in room.invited or user in room.members):
            raise _no(403, "M_FORBIDDEN", "You are not invited to this room.")
        room.members.add(user)
        return httpx.Response(200, json={"room_id": room.room_id})

    @route("PUT", r"/_matrix/client/v3/rooms/(?P<room>[^/]+)/send/(?P<type>[^/]+)/(?P<txn>[^/]+)")
    def _send(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user, device = self._me(request)
        content = self.json_body(request)
        room = self._member_room(match["room"], user)
        event_type = match["type"]

        def create() -> str:
            if room.power.get(user, 0) < room.send_level:
                raise _no(403, "M_FORBIDDEN", "You don't have permission to post that to the room. "
                          f"user_level ({room.power.get(user, 0)}) < send_level ({room.send_level})")
            if event_type == "m.room.message":
                self._check_message(content, user)
            size = len(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode())
            if size + ENVELOPE > MAX_PDU:
                raise _no(413, "M_TOO_LARGE", "event too large")
            self._ratelimit(user)
            event = FakeEvent(self._event_id(), room.room_id, user, event_type, content,
                              int(self.now() * 1000), device_id=device, txn_id=match["txn"])
            self.events[event.event_id] = event
            return event.event_id

        event_id = self.txns.once(f"{user}|{device}", f"{room.room_id}|{event_type}|{match['txn']}", create)
        return httpx.Response(200, json={"event_id": event_id})

    @route("PUT", r"/_matrix/client/v3/rooms/(?P<room>[^/]+)/redact/(?P<event>[^/]+)/(?P<txn>[^/]+)")
    def _redact(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user, device = self._me(request)
        body = self.json_body(request)
        room = self._member_room(match["room"], user)

        def create() -> str:
            target = self.events.get(match["event"])
            if target is not None and target.room_id != room.room_id:
                target = None
            if target is not None and target.sender != user and room.power.get(user, 0) < room.redact_level:
                raise _no(403, "M_FORBIDDEN", "You don't have permission to redact events")
            # Synapse redacts an event it does not know too: the redaction is an event of its own.
            redaction = FakeEvent(self._event_id(), room.room_id, user, "m.room.redaction",
                                  {k: v for k, v in body.items() if k == "reason"},
                                  int(self.now() * 1000), device_id=device, txn_id=match["txn"],
                                  redacts=match["event"])
            self.events[redaction.event_id] = redaction
            if target is not None and not target.redacted_by:
                target.redacted_by = redaction.event_id
            return redaction.event_id

        event_id = self.txns.once(f"{user}|{device}", f"{room.room_id}|redact|{match['txn']}", create)
        return httpx.Response(200, json={"event_id": event_id})

    @route("GET", r"/_matrix/client/v3/rooms/(?P<room>[^/]+)/event/(?P<event>[^/]+)")
    def _event(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user, device = self._me(request)
        self._member_room(match["room"], user)
        event = self.events.get(match["event"])
        if event is None or event.room_id != match["room"]:
            raise _no(404, "M_NOT_FOUND", "Event not found.")
        return httpx.Response(200, json=event.json(viewer_device=device, now_ms=int(self.now() * 1000)))

    @route("GET", r"/_matrix/client/v3/rooms/(?P<room>[^/]+)/messages")
    def _messages(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user, device = self._me(request)
        room = self._member_room(match["room"], user)
        params = request.url.params
        backwards = params.get("dir", "f") == "b"
        try:
            limit = max(1, min(int(params.get("limit", "10")), 1000))
            wanted = json.loads(params["filter"]) if "filter" in params else {}
        except (ValueError, TypeError):
            raise _no(400, "M_INVALID_PARAM", "Invalid limit or filter") from None
        if not isinstance(wanted, dict):
            raise _no(400, "M_INVALID_PARAM", "filter must be a JSON object")
        timeline = [e for e in self.events.values() if e.room_id == room.room_id]
        origin = params.get("from")
        if origin is not None and not re.fullmatch(r"t\d+", origin):
            raise _no(400, "M_INVALID_PARAM", "Invalid pagination token")
        position = int(origin[1:]) if origin else (len(timeline) if backwards else 0)
        window = timeline[:position][::-1] if backwards else timeline[position:]
        chunk, taken = [], 0
        for event in window:
            taken += 1
            types, senders = wanted.get("types"), wanted.get("senders")
            if (types is None or event.type in types) and (senders is None or event.sender in senders):
                chunk.append(event.json(viewer_device=device, now_ms=int(self.now() * 1000)))
            if len(chunk) >= limit:
                break
        answer: dict[str, Any] = {"chunk": chunk, "start": f"t{position}"}
        rest = position - taken if backwards else position + taken
        if taken < len(window):
            answer["end"] = f"t{rest}"
        return httpx.Response(200, json=answer)

    @route("POST", r"/_matrix/media/v3/upload")
    def _upload(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user, _ = self._me(request)
        mime = request.headers.get("content-type", "").split(";")[0].strip()
        if not mime:
            raise _no(400, "M_MISSING_PARAM", "Upload needs a Content-Type (the fake is stricter)")
        if len(request.content) > self.max_upload_size:
            raise _no(413, "M_TOO_LARGE", "Upload request body is too large")
        media_id = secrets.token_urlsafe(18)
        self.media[media_id] = (user, mime, request.content, request.url.params.get("filename"))
        return httpx.Response(200, json={"content_uri": f"mxc://{self.server_name}/{media_id}"})

    @route("GET", r"/_matrix/client/v1/media/download/(?P<server>[^/]+)/(?P<media>[^/]+)(?:/[^/]+)?")
    def _download(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        self._me(request)
        found = self.media.get(match["media"]) if match["server"] == self.server_name else None
        if found is None:
            raise _no(404, "M_NOT_FOUND", "Not found")
        _, mime, data, name = found
        headers = {"Content-Type": mime}
        if name:
            headers["Content-Disposition"] = f"inline; filename*=utf-8''{name}"
        return httpx.Response(200, headers=headers, content=data)

    @route("GET", r"/_matrix/media/v3/download/.*")
    def _unauthenticated_download(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        # Authenticated media is Synapse's default: the old endpoint no longer serves new files.
        raise _no(404, "M_NOT_FOUND", "Not found")
