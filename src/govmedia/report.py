"""`Report`: what happened on every account in a fan-out, and campaign metrics."""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from govmedia._secrets import mask
from govmedia.model import Channel, Delivery, Metrics

__all__ = ["CampaignMetrics", "Report", "Stopped"]

STATE_ORDER = ("published", "deleted", "skipped", "pending", "invalid", "failed", "unknown",
               "unsupported")


def _html_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], caption: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return (f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _to_pandas(rows: list[dict[str, Any]]) -> Any:
    try:
        import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        from govmedia._extras import install_hint

        raise ImportError(f"to_pandas() needs pandas: {install_hint('pandas')}") from exc
    return pd.DataFrame(rows)


@attrs.frozen(kw_only=True, repr=False)
class Report:
    """The outcome of one fan-out: one `Delivery` per channel, hub first.

    Example:
        >>> import govmedia as gm
        >>> from govmedia.testing import Sandbox
        >>> sandbox = Sandbox(platforms=["webhook"])
        >>> channels = [sandbox.channel("webhook", f"member{i}") for i in range(3)]
        >>> with gm.Client(http=sandbox.client()) as client:
        ...     report = client.fan_out(gm.Post(text="国资小新：发布会直播"), channels)
        >>> report.ok, report.summary()
        (True, {'published': 3})
    """

    post_key: str
    mode: str = "broadcast"
    run_id: str | None = None
    dry_run: bool = False
    deliveries: tuple[Delivery, ...] = ()
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        """True when no delivery is ``failed``, ``unknown`` or ``invalid``."""
        return all(d.ok for d in self.deliveries)

    def __repr__(self) -> str:
        # Short on purpose: a report of 10,000 deliveries is printed by
        # notebooks, debuggers and asyncio's task bookkeeping.
        return (f"Report(mode={self.mode!r}, run_id={self.run_id!r}, ok={self.ok}, "
                f"summary={self.summary()!r})")

    def summary(self) -> dict[str, int]:
        """Deliveries per state, in a fixed order, leaving out states with none."""
        counts: Counter[str] = Counter(d.state for d in self.deliveries)
        return {s: counts[s] for s in STATE_ORDER if counts[s]}

    def by_state(self, *states: str) -> list[Delivery]:
        """The deliveries in any of *states*."""
        return [d for d in self.deliveries if d.state in states]

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per delivery, for tables, CSV or DataFrames.

        Secrets are masked in every text (a token in a URL, a platform's
        echo in an error), so rows can be shared, printed and exported.
        """
        out = []
        for d in self.deliveries:
            took = None
            if d.started_at and d.finished_at:
                took = (d.finished_at - d.started_at).total_seconds()
            problems = "; ".join(f"{p.code}: {p.message}" for p in d.problems)
            out.append({
                "platform": d.channel.platform,
                "account": d.channel.account,
                "labels": ",".join(d.channel.labels),
                "state": d.state,
                "remote_id": mask(d.receipt.remote_id) if d.receipt else None,
                "url": (d.receipt.url and mask(d.receipt.url)) if d.receipt else None,
                "error": mask(problems or str(d.error)) if problems or d.error else None,
                "attempts": d.attempts,
                "seconds": None if took is None else round(took, 3),
            })
        return out

    def to_pandas(self) -> Any:
        """The rows as a pandas DataFrame (needs pandas)."""
        return _to_pandas(self.rows())

    def __str__(self) -> str:
        lines = [f"fan-out {self.mode}{' (dry run)' if self.dry_run else ''} of post "
                 f"{self.post_key[:12]}: " + ", ".join(f"{n} {s}" for s, n in self.summary().items())]
        for d, row in zip(self.deliveries, self.rows(), strict=True):
            detail = row["url"] or row["remote_id"] or ""
            if d.error is not None and not d.problems:
                message = getattr(d.error, "message", None) or str(d.error)
                code = getattr(d.error, "code", None)
                name = next(c.__name__ for c in type(d.error).__mro__ if not c.__name__.startswith("_"))
                detail = mask(f"{name}{f' {code}' if code is not None else ''}: {message}")
            elif row["error"]:
                detail = row["error"]
            if len(detail) > 100:
                detail = detail[:99] + "…"
            lines.append(f"  {row['state']:<9} {row['platform']:<10} {row['account']:<24} {detail}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        columns = ("platform", "account", "state", "url", "error", "attempts")
        rows = [[r[c] for c in columns] for r in self.rows()]
        caption = ", ".join(f"{n} {s}" for s, n in self.summary().items())
        return _html_table(columns, rows, f"govmedia fan-out: {caption}")


@attrs.frozen(kw_only=True)
class Stopped:
    """What a cancelled fan-out left behind (Ctrl-C, a cancelled task).

    A cancelled `fan_out` re-raises the cancellation (``KeyboardInterrupt``,
    ``asyncio.CancelledError``) with this object as its ``govmedia_stopped``
    attribute and its `describe` text among the exception's notes.

    Attributes:
        run_id: the journal's id of the stopped run (``None`` without a journal).
        report: the deliveries that finished before the stop.
        given_back: deliveries under way whose create never reached the
            transport: nothing was sent, the journal holds them as before,
            and a re-run sends them.
        in_doubt: deliveries whose create was handed to the transport: the
            post may exist. They stay ``sending``: a re-run asks the platform
            where it can and otherwise reports them ``unknown``; settle those
            with `Client.resolve` after checking the account.

    Example:
        >>> import govmedia as gm
        >>> try:
        ...     raise KeyboardInterrupt
        ... except KeyboardInterrupt as exc:
        ...     stopped = getattr(exc, "govmedia_stopped", None)
        >>> stopped is None  # this one did not come from a fan-out
        True
    """

    run_id: str | None
    report: Report
    given_back: tuple[Channel, ...] = ()
    in_doubt: tuple[Channel, ...] = ()

    def attach(self, exc: BaseException) -> None:
        """Hang this on *exc* (``govmedia_stopped``, and a note), once."""
        if getattr(exc, "govmedia_stopped", None) is self:
            return
        try:
            exc.govmedia_stopped = self  # type: ignore[attr-defined]
            exc.add_note(self.describe())
        except AttributeError:  # pragma: no cover - an exception type with __slots__
            pass

    def describe(self) -> str:
        """Lines for an operator: what finished, what was given back, what is in doubt."""
        done = ", ".join(f"{n} {s}" for s, n in self.report.summary().items()) or "nothing"
        head = (f"fan-out run {self.run_id or '(no journal)'} stopped: {done} finished; "
                f"{len(self.given_back)} given back (a re-run sends them), "
                f"{len(self.in_doubt)} in doubt (may be live: check before resolving)")
        lines = [head]
        lines += [f"  given back  {c.platform:<10} {c.account}" for c in self.given_back]
        lines += [f"  in doubt    {c.platform:<10} {c.account}" for c in self.in_doubt]
        return "\n".join(lines)


@attrs.frozen(kw_only=True)
class CampaignMetrics:
    """Every delivery's counts, per account and in total.

    A total is the sum of the accounts that report that count; it is ``None``
    when none does (never 0 for "unknown"). Each row has ``error`` (the
    metrics could not be read) and ``note`` (read, but the platform gave no
    counts, and why: WeChat's counts of an article come the day after it is
    published, and the note says from which date).

    Example:
        >>> from govmedia.report import CampaignMetrics
        >>> import govmedia as gm
        >>> m = CampaignMetrics.collect([
        ...     ({"platform": "x", "account": "a"}, gm.Metrics(views=10, likes=None)),
        ...     ({"platform": "x", "account": "b"}, gm.Metrics(views=5, likes=2)),
        ... ])
        >>> m.totals.views, m.totals.likes, m.totals.shares
        (15, 2, None)
    """

    rows: tuple[dict[str, Any], ...] = ()
    totals: Metrics = attrs.field(factory=Metrics)

    @classmethod
    def collect(cls, items: Sequence[tuple[dict[str, Any], Metrics | BaseException]]) -> CampaignMetrics:
        """Build from ``(identity, metrics or error)`` pairs."""
        rows = []
        sums: dict[str, int | None] = {"views": None, "likes": None, "shares": None, "comments": None}
        for ident, got in items:
            row = dict(ident)
            if isinstance(got, BaseException):
                row.update(dict.fromkeys(sums), error=mask(str(got)), note=None)
            else:
                # Why counts are missing, in the platform's words: "WeChat gives
                # reader counts from 2026-12-07 ...", not a silent row of None.
                reason = got.raw.get("reason") if isinstance(got.raw, Mapping) else None
                row.update({k: getattr(got, k) for k in sums}, error=None,
                           note=mask(str(reason)) if reason else None)
                for k, total in sums.items():
                    value = getattr(got, k)
                    if value is not None:
                        sums[k] = (total or 0) + value
            rows.append(row)
        totals = Metrics(views=sums["views"], likes=sums["likes"], shares=sums["shares"],
                         comments=sums["comments"])
        return cls(rows=tuple(rows), totals=totals)

    def to_pandas(self) -> Any:
        """The per-account rows as a pandas DataFrame (needs pandas)."""
        return _to_pandas(list(self.rows))

    def _repr_html_(self) -> str:
        columns = ("platform", "account", "views", "likes", "shares", "comments", "error", "note")
        rows = [[r.get(c) for c in columns] for r in self.rows]
        t = self.totals
        rows.append(["total", "", t.views, t.likes, t.shares, t.comments, "", ""])
        return _html_table(columns, rows, "govmedia campaign metrics")
