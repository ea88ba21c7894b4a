"""Retracting a post across the matrix (撤稿): delete what the journal holds as published.

A retraction works from the journal, not from a report: a delivery settled
by hand (`Client.resolve`), or published by an earlier run of the same post,
is deleted too. Each delivery ends ``deleted``, ``skipped`` (nothing was
published there, or it is gone already), ``unsupported`` (the platform has
no delete; the message says where to do it by hand) or ``failed`` (the
delete failed, or the delivery is in doubt and cannot be reconciled: it may
exist). The journal marks what was deleted ``retracted``: running the
retraction again skips it, and a re-run of the post does not publish there
again (that takes a new post key).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import attrs

from govmedia._pipeline import Ops, Pipeline, Track
from govmedia._prepare import Preparer
from govmedia.errors import ConfigError, DeliveryUnknown, GovMediaError, PlatformError
from govmedia.journal import Journal, JournalEntry
from govmedia.matrix import Matrix
from govmedia.model import Channel, Delivery
from govmedia.report import Report

__all__ = ["RetractItem", "RetractPlan", "plan_retraction", "retract_ops"]

_MANUAL = "delete it by hand on the platform's own site or app"


@attrs.frozen
class RetractItem:
    """One delivery to retract: its channel (with credentials where known) and journal entry."""

    channel: Channel
    entry: JournalEntry
    known: bool  # the channel came from the report or the matrix (it has credentials)


@attrs.frozen
class RetractPlan:
    """What a retraction covers: the post, the run named, every delivery the journal holds."""

    post_key: str
    run_id: str | None
    items: tuple[RetractItem, ...]


def plan_retraction(journal: Journal | None, target: Report | str,
                    matrix: Matrix | Iterable[Channel] | None) -> RetractPlan:
    """The deliveries a retraction of *target* (a Report or a run id) covers, in report order."""
    if journal is None:
        raise ConfigError("retract needs the journal (it deletes what the journal holds as "
                          "published); this client has journal=False")
    if isinstance(target, Report):
        post_key, run_id = target.post_key, target.run_id
        listed = [d.channel for d in target.deliveries]
    elif isinstance(target, str):
        run = journal.find_run(target)
        post_key, run_id, listed = run.post_key, run.id, []
    else:
        raise ConfigError(f"retract takes a gm.Report or a run id, got {type(target).__name__}")
    if matrix is not None and not isinstance(matrix, Matrix):
        matrix = Matrix(members=tuple(matrix))
    channels: dict[tuple[str, str], Channel] = {}
    for channel in [*(matrix or ()), *listed]:  # the report's own channels win
        channels[(channel.platform, channel.account)] = channel
    entries = journal.entries(post_key)
    order = {(c.platform, c.account): i for i, c in enumerate([*listed, *(matrix or ())])}
    keys = sorted(entries, key=lambda k: (order.get(k, len(order)), k))
    items = []
    for key in keys:
        channel = channels.get(key)
        items.append(RetractItem(channel=channel or Channel(platform=key[0], account=key[1]),
                                 entry=entries[key], known=channel is not None))
    return RetractPlan(post_key=post_key, run_id=run_id, items=tuple(items))


def retract_ops(  # noqa: PLR0911 - one exit per outcome
    preparer: Preparer, pipeline: Pipeline, journal: Journal, post_key: str, item: RetractItem,
    *, by: str | None,
) -> Ops[Delivery]:
    """Delete one delivery if the journal holds it as published; its `Delivery` (never raises)."""
    channel, entry = item.channel, item.entry
    common: dict[str, Any] = {"channel": channel, "started_at": _now(), "attempts": entry.attempts}
    state = entry.state
    if state == "sending" and entry.run_alive:
        return _done("failed", common, GovMediaError(
            f"{channel.id}: a run is sending this post now; retract again when it has finished"))
    if state in ("unknown", "sending"):
        return _done("failed", common, DeliveryUnknown(
            "in doubt: it may exist, and nothing says where; check the account by hand, then "
            "settle it with resolve() and retract again", platform=channel.platform,
            account=channel.account))
    if state != "published":
        why = "already retracted" if state == "retracted" else f"nothing was published ({state})"
        return _done("skipped", common, GovMediaError(f"{channel.id}: {why}"))
    if not item.known:
        return _done("failed", common, ConfigError(
            f"{channel.id}: published, but neither the report nor the matrix has this channel's "
            "credentials; pass matrix= with it"))
    try:
        platform = preparer.platform(channel)
    except ConfigError as exc:
        return _done("failed", common, exc)
    receipt = journal.receipt(post_key, channel)
    if not platform.capabilities.delete:
        where = getattr(platform, "manual_delete", None) or _MANUAL
        return _done("unsupported", common, PlatformError(
            f"{platform.name} cannot delete through its API: {where}"
            + (f" ({receipt.url})" if receipt is not None and receipt.url else ""),
            platform=channel.platform, account=channel.account, code="no_delete"),
            receipt=receipt)
    if receipt is None:
        return _done("failed", common, GovMediaError(
            f"{channel.id}: published, but the journal has no id of the post to delete "
            "(it was resolved by hand without one): delete it by hand"))
    try:
        yield from pipeline.run_flow(platform, channel, platform.delete(receipt), track=Track())
    except GovMediaError as exc:
        return _done("failed", common, exc, receipt=receipt)
    journal.retracted(post_key, channel.platform, channel.account, by=by)
    return _done("deleted", common, None, receipt=receipt)


def _done(state: str, common: dict[str, Any], error: GovMediaError | None,
          receipt: Any = None) -> Delivery:
    return Delivery(state=state, error=error, receipt=receipt,  # type: ignore[arg-type]
                    finished_at=_now(), **common)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
