"""Matrix chat for the bot: a ``/sync`` long-poll, answers in the room a message came from.

Facts: shared/platforms/matrix_chat.md and the spec's ``GET /sync`` (``since``,
``timeout`` in ms, ``filter``; ``rooms.join.{room}.timeline.events``,
``rooms.invite``, ``next_batch``). Every request is a flow through the
publishing pipeline (Bearer token, retries, the homeserver's 429 waits).

The first ``/sync`` of a bot without a saved position only takes
``next_batch``: history is not answered. With a journal the position is
saved after each batch, so a restart picks up what arrived meanwhile, and
each event is claimed by its ``event_id`` before its skill runs (never
answered twice). Replies are ``m.notice`` under a txnId derived from the
event id, so a resend after a lost answer is deduplicated by the homeserver;
notices (other bots' answers) and the bot's own events are never answered.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from govmedia._bot.endpoint import Endpoint, timestamp
from govmedia._bot.outbound import matrix_reply
from govmedia.errors import AuthError, ConfigError, GovMediaError
from govmedia.platforms.steps import Flow

if TYPE_CHECKING:
    from govmedia._bot.model import Inbound
    from govmedia.bot import Bot
    from govmedia.model import Channel
    from govmedia.platforms.base import BasePlatform

__all__ = ["sync_forever"]

logger = logging.getLogger("govmedia")

_FILTER = json.dumps({
    "room": {"timeline": {"limit": 50, "types": ["m.room.message"]},
             "state": {"lazy_load_members": True, "types": []},
             "ephemeral": {"types": []}, "account_data": {"types": []}},
    "presence": {"types": []}, "account_data": {"types": []},
}, separators=(",", ":"))
_KINDS = {"m.text": "text", "m.emote": "text", "m.image": "image", "m.audio": "voice",
          "m.video": "video", "m.file": "file", "m.location": "location"}
_SYNC_MAX_BODY = 64 * 1024 * 1024
_POSITION = "\x00sync"  # the state key the sync position is kept under (no user id looks like it)
_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)


def _txn(event_id: str) -> str:
    return "gm-bot-" + hashlib.sha256(event_id.encode()).hexdigest()[:32]


class _Room(Endpoint):
    """The take/run/record steps of `Endpoint`, for one Matrix channel."""

    async def handle(self, request: Any) -> Any:  # pragma: no cover - no webhook
        raise NotImplementedError


def _whoami(platform: BasePlatform, channel: Channel) -> Flow[Any]:
    answer = yield from platform.call(channel, "GET", "/_matrix/client/v3/account/whoami",
                                      expect=("user_id",))
    return answer


def _sync(platform: BasePlatform, channel: Channel, since: str | None, wait: float) -> Flow[Any]:
    params = {"filter": _FILTER, "timeout": str(int(wait * 1000))}
    if since:
        params["since"] = since
    answer = yield from platform.call(channel, "GET", "/_matrix/client/v3/sync", params=params,
                                      max_body=_SYNC_MAX_BODY, deadline=wait + 30.0,
                                      expect=("next_batch",))
    return answer


def _join(platform: BasePlatform, channel: Channel, room_id: str) -> Flow[Any]:
    answer = yield from platform.call(channel, "POST",
                                      f"/_matrix/client/v3/join/{quote(room_id, safe='')}",
                                      json={}, safe=True, creates=False)
    return answer


async def sync_forever(bot: Bot, channel: Channel, *, poll_timeout: float, join_invites: bool) -> None:
    """Long-poll *channel*'s ``/sync`` and answer its room messages, until cancelled."""
    outbound = bot.outbound
    platform = outbound.platform(channel)
    room = _Room(bot, channel)
    me = str((await outbound.run(channel, _whoami(platform, channel)))["user_id"])
    position = await bot.store.state(channel.platform, channel.account, _POSITION)
    since = position.get("since")
    first = not since
    failures = 0
    logger.info("govmedia bot: answering %s on %s as %s", channel.id, channel.options["base_url"], me)
    while True:
        try:
            answer = await outbound.run(channel, _sync(platform, channel, since,
                                                       0.0 if first else poll_timeout))
        except AuthError:
            raise
        except GovMediaError as exc:
            wait = _BACKOFF[min(failures, len(_BACKOFF) - 1)]
            failures += 1
            logger.warning("govmedia bot: /sync of %s failed (%s); again in %gs", channel.id, exc, wait)
            await asyncio.sleep(wait)
            continue
        failures = 0
        rooms = answer.get("rooms") if isinstance(answer.get("rooms"), dict) else {}
        if join_invites:
            for room_id in (rooms.get("invite") or {}):
                try:
                    await outbound.run(channel, _join(platform, channel, room_id))
                except GovMediaError as exc:
                    logger.warning("govmedia bot: could not join %s on %s: %s", room_id, channel.id, exc)
        if not first:
            for room_id, joined in (rooms.get("join") or {}).items():
                events = ((joined or {}).get("timeline") or {}).get("events") or []
                for event in events:
                    await _event(room, me, room_id, event)
        first = False
        since = str(answer["next_batch"])
        position["since"] = since
        bot.store.save_state(channel.platform, channel.account, _POSITION, position)


async def _event(room: _Room, me: str, room_id: str, event: Any) -> None:
    if not isinstance(event, dict) or event.get("type") != "m.room.message":
        return
    content, sender, event_id = event.get("content"), event.get("sender"), event.get("event_id")
    if not (isinstance(content, dict) and isinstance(sender, str) and isinstance(event_id, str)):
        return
    msgtype = content.get("msgtype")
    if sender == me or msgtype == "m.notice" or not isinstance(msgtype, str):
        return  # our own answers, and other bots': never answered
    body = content.get("body")
    kind = _KINDS.get(msgtype, "other")
    ts = event.get("origin_server_ts")
    _, msg = await room.take(user=sender, message_id=event_id, kind=kind,
                             text=body if isinstance(body, str) and kind == "text" else "",
                             at=timestamp(ts / 1000 if isinstance(ts, int | float) else None),
                             raw={**event, "room_id": room_id})
    if msg is not None:
        room.bot.spawn(_work(room, msg, room_id))


async def _work(room: _Room, msg: Inbound, room_id: str) -> None:
    skill, reply = await room.run(msg)
    if reply is None:
        room.finished(msg, skill=skill, outcome="no_reply", reply=None)
        return
    outbound = room.bot.outbound
    channel = room.channel
    try:
        await outbound.run(channel, matrix_reply(outbound.platform(channel), channel, room_id,
                                                 _txn(msg.message_id), reply))
    except GovMediaError as exc:
        logger.error("govmedia bot: the reply of skill %s to %s in %s failed: %s",  # noqa: TRY400
                     skill, msg.message_id, room_id, exc)
        room.finished(msg, skill=skill, outcome="failed", reply=reply)
        return
    room.finished(msg, skill=skill, outcome="sent", reply=reply)


def check_poll_timeout(poll_timeout: float) -> None:
    """`ConfigError` unless *poll_timeout* is a sensible long-poll in seconds."""
    if not isinstance(poll_timeout, int | float) or not 0 < poll_timeout <= 25:
        raise ConfigError(f"poll_timeout must be seconds in (0, 25] (each /sync must end within "
                          f"the client's 30 s read timeout), got {poll_timeout!r}")
