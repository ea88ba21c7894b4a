"""`Matrix`: a hub account plus its member accounts, from code or a TOML file.

```toml
[hub]
platform = "wechat_oa"
account = "gh_sasac"
credentials = { app_id = "${SASAC_APP_ID}", app_secret = "${SASAC_APP_SECRET}" }

[[members]]
platform = "mastodon"
account = "cnpc@social.example"
labels = ["energy", "central"]
credentials = { access_token = "${CNPC_MASTODON_TOKEN}" }
options = { base_url = "https://social.example" }
```

A matrix checks every channel when it is made (the platform is known, the
credential and option keys are the ones that platform takes) and refuses the
whole matrix with one `ConfigError` listing every bad channel: a typo found
after the other accounts were sent is a campaign half done.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from govmedia.errors import ConfigError
from govmedia.model import Channel
from govmedia.platforms import registry

__all__ = ["Matrix"]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CHANNEL_KEYS = {"platform", "account", "labels", "credentials", "options"}


def _expand(value: Any, where: str, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise ConfigError(f"{where}: environment variable {name} is not set")
            return env[name]

        return _ENV.sub(sub, value)
    if isinstance(value, list):
        return [_expand(v, where, env) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, f"{where}.{k}", env) for k, v in value.items()}
    return value


def _channel(table: Any, where: str, env: Mapping[str, str]) -> Channel:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table with platform and account")
    unknown = sorted(set(table) - _CHANNEL_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                          f"valid: {', '.join(sorted(_CHANNEL_KEYS))}")
    table = _expand(table, where, env)
    try:
        return Channel(
            platform=table.get("platform", ""), account=table.get("account", ""),
            credentials=table.get("credentials") or {}, options=table.get("options") or {},
            labels=table.get("labels") or (),
        )
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except TypeError as exc:  # a credential name that is not a string, say
        raise ConfigError(f"{where}: {exc}") from None


def _channel_problems(entries: Iterable[tuple[str, Channel]],
                      passed: dict[int, type] | None = None) -> list[str]:
    """``"where platform:account: what is wrong"`` for each channel its platform refuses.

    *passed*, where given, gets ``id(channel)`` -> the platform class that
    found nothing wrong with it.
    """
    platforms: dict[str, Any] = {}
    problems = []
    for where, channel in entries:
        try:
            platform = platforms.get(channel.platform)
            if platform is None:
                platform = platforms[channel.platform] = registry.get(channel.platform)()
            platform.check_channel(channel)
            if passed is not None:
                passed[id(channel)] = type(platform)
        except ConfigError as exc:
            # The platform's own message starts "channel <id>: "; the position says it already.
            why = str(exc).removeprefix(f"channel {channel.id}: ")
            problems.append(f"{where} {channel.id}: {why}")
    return problems


def _bad_channels(problems: list[str], total: int) -> ConfigError:
    lines = "\n".join(f"  {p}" for p in problems)
    return ConfigError(f"{len(problems)} of {total} channel(s) cannot be used; fix them and load "
                       f"the matrix again (nothing was sent):\n{lines}")


def _channels(value: Iterable[Channel]) -> tuple[Channel, ...]:
    return tuple(value)


def _unique(channels: Iterable[Channel]) -> None:
    counts = Counter((c.platform, c.account) for c in channels)
    dupes = [f"{p}:{a}" for (p, a), n in counts.items() if n > 1]
    if dupes:
        raise ConfigError(
            f"channel(s) listed more than once: {', '.join(sorted(dupes))}; "
            "an account must be unique per platform (write self-hosted ones as user@host)"
        )


@attrs.frozen(kw_only=True, repr=False)
class Matrix:
    """A hub channel and its members; iterating yields the hub, then the members.

    Every channel is checked when the matrix is made: one `ConfigError` lists
    every channel whose platform is unknown or whose credential and option
    keys are not the ones its platform takes.

    Example:
        >>> import govmedia as gm
        >>> hub = gm.Channel(platform="webhook", account="hub", options={"url": "https://hub.example/h"})
        >>> members = [gm.Channel(platform="webhook", account=f"m{i}", labels=("central",) if i % 2 else (),
        ...                       options={"url": f"https://m{i}.example/h"}) for i in range(4)]
        >>> matrix = gm.Matrix(hub=hub, members=members)
        >>> len(matrix), len(matrix.select("central"))
        (5, 3)
        >>> gm.Matrix(members=[*members, gm.Channel(platform="mastadon", account="a@b.example")])
        Traceback (most recent call last):
        ...
        govmedia.errors.ConfigError: 1 of 5 channel(s) cannot be used; ...
          members[4] mastadon:a@b.example: unknown platform 'mastadon' (did you mean 'mastodon'?); ...
    """

    hub: Channel | None = None
    members: tuple[Channel, ...] = attrs.field(default=(), converter=_channels)
    # id(channel) -> the platform class that checked it here; the matrix holds
    # its channels, so their ids stay theirs. A fan-out does not check them
    # again (the check is a tenth of its own work per delivery).
    _passed: dict[int, type] = attrs.field(init=False, factory=dict, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        for ch in self:
            if not isinstance(ch, Channel):
                raise ConfigError(f"Matrix holds gm.Channel objects, got {type(ch).__name__}")
        _unique(self)
        problems = _channel_problems(self._positions(), self._passed)
        if problems:
            raise _bad_channels(problems, len(self))

    def _positions(self) -> Iterator[tuple[str, Channel]]:
        if self.hub is not None:
            yield "hub", self.hub
        for i, member in enumerate(self.members):
            yield f"members[{i}]", member

    def __iter__(self) -> Iterator[Channel]:
        if self.hub is not None:
            yield self.hub
        yield from self.members

    def __len__(self) -> int:
        return len(self.members) + (self.hub is not None)

    def __repr__(self) -> str:
        platforms = Counter(c.platform for c in self)
        mix = ", ".join(f"{p}={n}" for p, n in sorted(platforms.items()))
        hub = self.hub.id if self.hub else None
        return f"Matrix(hub={hub!r}, members={len(self.members)}, platforms={{{mix}}})"

    @property
    def labels(self) -> list[str]:
        """Every label used by a member, sorted."""
        return sorted({label for ch in self.members for label in ch.labels})

    def select(self, label: str) -> Matrix:
        """The hub and the members carrying *label*.

        Raises:
            ConfigError: no member carries *label* (the message names the
                labels there are): a typo must not shrink a campaign to the hub.
        """
        members = [m for m in self.members if label in m.labels]
        if not members:
            labels = self.labels
            close = difflib.get_close_matches(label, labels, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            there = f"the labels there are: {', '.join(labels)}" if labels else "no member has a label"
            raise ConfigError(f"no member carries the label {label!r}{hint}; {there}")
        return Matrix(hub=self.hub, members=members)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, env: Mapping[str, str] | None = None,
                  source: str = "matrix") -> Matrix:
        """Build a matrix from parsed TOML (``hub`` table, ``members`` array).

        ``"${NAME}"`` in any string is replaced from *env* (default: the
        process environment); a missing variable is a `ConfigError` naming it.
        """
        env = os.environ if env is None else env
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a table with [hub] and [[members]], "
                              f"got {type(data).__name__}")
        unknown = sorted(map(str, set(data) - {"hub", "members"}))
        if unknown:
            raise ConfigError(f"{source}: unknown table(s) {', '.join(unknown)}; use [hub] and [[members]]")
        raw_members = data.get("members", [])
        if not isinstance(raw_members, list):
            raise ConfigError(f"{source}: members must be an array of tables ([[members]])")
        tables = ([("hub", data["hub"])] if "hub" in data else []) + [
            (f"members[{i}]", m) for i, m in enumerate(raw_members)]
        parsed: list[tuple[str, Channel]] = []
        unreadable: list[str] = []
        for where, table in tables:
            try:
                parsed.append((where, _channel(table, where, env)))
            except ConfigError as exc:
                unreadable.append(str(exc))
        if unreadable:  # the channels that did parse are judged too: one error lists all
            problems = unreadable + _channel_problems(parsed)
            raise ConfigError(f"{source}: {_bad_channels(problems, len(tables))}")
        hub = parsed[0][1] if "hub" in data else None
        members = [ch for where, ch in parsed if where != "hub"]
        try:
            return cls(hub=hub, members=members)
        except ConfigError as exc:  # the same account twice, a platform typo, say
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> Matrix:
        """Read a matrix from a TOML file; see the module docs for the format."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read matrix file {str(p)!r}: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from None
        except RecursionError:
            raise ConfigError(f"{p}: not valid TOML: arrays or tables nested too deep") from None
        try:
            return cls.from_dict(data, env=env, source=str(p))
        except RecursionError:  # parsed, but too deep to walk through
            raise ConfigError(f"{p}: values nested too deep") from None
