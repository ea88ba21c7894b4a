"""Deliveries as rows: the same columns for a fan-out's report and a journal's run, hub first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import govmedia as gm
from govmedia._secrets import mask

__all__ = ["DELIVERY_COLUMNS", "TABLE_COLUMNS", "delivery_row", "detail", "hub_first", "journal_row"]

# CSV and JSON: every field. The table: what an operator reads, the useful end last.
# ``claims``: how many runs claimed the delivery to send it (its retries within
# a run are in the log: -v).
DELIVERY_COLUMNS = ("state", "platform", "account", "role", "url", "remote_id", "error", "claims")
TABLE_COLUMNS = ("state", "platform", "account", "detail")


def _unprefixed(text: str, platform: str, account: str) -> str:
    """*text* without the ``platform [account]`` an error starts with: the row's columns say it."""
    for prefix in (f"{platform} [{account}]: ", f"{platform} [{account}] "):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def _error_words(error: BaseException, channel: gm.Channel) -> str:
    # The whole message: what to do and how long to wait come last (the
    # 429's "retry after 3600 s").
    name = next(c.__name__ for c in type(error).__mro__ if not c.__name__.startswith("_"))
    return f"{name}: {_unprefixed(str(error), channel.platform, channel.account)}"


def detail(delivery: gm.Delivery) -> str:
    """The one thing to read about *delivery*: its problems, its error, else where it is."""
    if delivery.problems:
        return mask("; ".join(f"{p.code}: {p.message}" for p in delivery.problems))
    if delivery.error is not None:
        return mask(_error_words(delivery.error, delivery.channel))
    if delivery.receipt is not None:
        return mask(delivery.receipt.url or delivery.receipt.remote_id or "")
    return ""


def delivery_row(delivery: gm.Delivery, *, hub: gm.Channel | None) -> dict[str, Any]:
    """A fan-out's delivery as a row of `DELIVERY_COLUMNS`."""
    receipt = delivery.receipt
    error = None
    if delivery.problems or delivery.error is not None:
        error = detail(delivery)
    return {
        "state": delivery.state, "platform": delivery.channel.platform,
        "account": delivery.channel.account,
        "role": "hub" if hub is not None and delivery.channel == hub else "member",
        "url": mask(receipt.url) if receipt and receipt.url else None,
        "remote_id": mask(receipt.remote_id) if receipt and receipt.remote_id else None,
        "error": error, "claims": delivery.attempts, "detail": detail(delivery),
    }


def journal_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of `Journal.run_rows` as a row of `DELIVERY_COLUMNS`.

    Masked again: a journal written by an older govmedia may hold what this
    one masks.
    """
    error = None
    if row.get("error_message") or row.get("error_type"):
        message = _unprefixed(row.get("error_message") or "", row["platform"], row["account"])
        error = mask(f"{row.get('error_type') or 'error'}: {message}".strip())
    url = mask(row["url"]) if row.get("url") else None
    remote_id = mask(row["remote_id"]) if row.get("remote_id") else None
    return {
        "state": row["state"], "platform": row["platform"], "account": row["account"],
        "role": row.get("role") or "member", "url": url, "remote_id": remote_id,
        "error": error, "claims": row.get("attempts"), "detail": error or url or remote_id or "",
    }


def hub_first(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """*rows* with the hub's first, the rest in their order."""
    return sorted(rows, key=lambda r: r.get("role") != "hub")


def for_table(row: Mapping[str, Any]) -> dict[str, Any]:
    """*row* as the table shows it: the hub's account marked."""
    shown = dict(row)
    if row.get("role") == "hub":
        shown["account"] = f"{row['account']} (hub)"
    return shown
