"""Declared channel options: typed, checked once, with errors that name the key.

A platform lists its options as data; the base class checks every channel
against them (unknown keys, types, ranges, choices, required ones) and hands
the flows a parsed, typed view. Values from a matrix file's ``"${ENV}"`` are
strings, so ``"true"``/``"false"`` and numbers written as text are accepted
where the option is a bool or a number.

Example:
    >>> import govmedia as gm
    >>> from govmedia.platforms.options import Option, parse_options
    >>> spec = {"publish": Option(bool, default=True), "poll_timeout": Option(float, default=60.0, minimum=0)}
    >>> ch = gm.Channel(platform="demo", account="a", options={"publish": "false"})
    >>> opts = parse_options(spec, ch)
    >>> opts.publish, opts.poll_timeout
    (False, 60.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import httpx

from govmedia.errors import ConfigError
from govmedia.model import Channel

__all__ = ["Option", "Options", "parse_options", "positive_seconds", "url_check"]

_NO_DEFAULT = object()
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


@attrs.frozen(kw_only=True)
class Option:
    """One channel option: its type, default, bounds and what it is for.

    Args:
        kind: ``str``, ``bool``, ``int``, ``float``, ``list`` or ``dict``.
        default: the value when the channel does not set it (``None``: unset).
        required: the channel must set it.
        choices: the values allowed (a string option, say).
        minimum: the smallest number allowed; ``maximum`` the largest.
        check: returns why a value is bad, or ``None`` (after the type check).
        coerce: accept a number written as text (``"3"``), as a matrix file's
            ``"${ENV}"`` gives it, and for a string option an integer, given
            as its decimal text (an id written as a number in TOML:
            ``chat_id = -1001234567890``); booleans always accept
            ``"true"``/``"false"``.
        doc: one line for the docs and the error message.

    Example:
        >>> from govmedia.platforms.options import Option
        >>> Option(str, choices=("public", "unlisted")).describe()
        'one of public, unlisted'
        >>> Option(str, coerce=True).parse(-1001234567890)
        '-1001234567890'
    """

    kind: type = attrs.field(kw_only=False)
    default: Any = None
    required: bool = False
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    check: Callable[[Any], str | None] | None = attrs.field(default=None, eq=False, repr=False)
    coerce: bool = False
    doc: str = ""

    def describe(self) -> str:
        """What a valid value looks like, in words."""
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.choices)
        words = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
                 list: "a list", dict: "a table"}[self.kind]
        if self.minimum is not None and self.maximum is not None:
            words += f" from {self.minimum:g} to {self.maximum:g}"
        elif self.minimum is not None:
            words += f" >= {self.minimum:g}"
        elif self.maximum is not None:
            words += f" <= {self.maximum:g}"
        return words

    def parse(self, value: Any) -> Any:
        """The value as this option's type; `ValueError` saying why it is not."""
        value = self._typed(value)
        if self.choices and value not in self.choices:
            raise ValueError(self.describe())
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and ((self.minimum is not None and value < self.minimum) or (
                self.maximum is not None and value > self.maximum)):
            raise ValueError(self.describe())
        if self.check is not None:
            why = self.check(value)
            if why:
                raise ValueError(why)
        return value

    def _typed(self, value: Any) -> Any:
        kind = self.kind
        if kind is bool:
            return _boolean(value)
        if kind in (int, float):
            return self._number(value)
        if kind is list:
            if isinstance(value, str):
                return [value]
            if isinstance(value, list | tuple):
                return list(value)
            raise ValueError("a list")
        if kind is str and self.coerce and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, kind):
            raise ValueError(self.describe())  # noqa: TRY004 - the message protocol of parse()
        return value

    def _number(self, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, str) and not self.coerce):
            raise ValueError(self.describe())
        try:
            number = self.kind(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise ValueError(self.describe()) from None
        if self.kind is int and isinstance(value, float) and value != number:
            raise ValueError(self.describe())
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError(self.describe())
        return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in (*_TRUE, *_FALSE):
        return value.strip().lower() in _TRUE
    raise ValueError("true or false")


class Options:
    """A channel's options, parsed: attribute access, read-only.

    Example:
        >>> from govmedia.platforms.options import Options
        >>> Options({"base_url": "https://social.example"}).base_url
        'https://social.example'
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no option {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("options are read-only")

    def get(self, name: str, default: Any = None) -> Any:
        """The value of *name*, or *default*."""
        return self._values.get(name, default)

    def __repr__(self) -> str:
        return f"Options({self._values!r})"


def parse_options(spec: Mapping[str, Option], channel: Channel) -> Options:
    """Check *channel*'s options against *spec*; `ConfigError` naming the first bad key.

    Options in *spec* the channel leaves out take their default. Keys outside
    *spec* are not judged here (the platform's key check does that).
    """
    values: dict[str, Any] = {}
    given = channel.options
    for name, option in spec.items():
        if name not in given or given[name] is None:
            if option.required:
                raise ConfigError(f"channel {channel.id}: missing option {name}"
                                  + (f" ({option.doc})" if option.doc else ""))
            values[name] = option.default
            continue
        try:
            values[name] = option.parse(given[name])
        except ValueError as exc:
            raise ConfigError(
                f"channel {channel.id}: option {name} must be {exc}, got {given[name]!r}"
            ) from None
    return Options(values)


def positive_seconds(value: Any) -> str | None:
    """A `Option.check` for an interval or a wait: more than 0 seconds (``minimum`` allows 0).

    Example:
        >>> from govmedia.platforms.options import Option, positive_seconds
        >>> positive_seconds(0.5), positive_seconds(0)
        (None, 'a positive number of seconds')
    """
    return None if value > 0 else "a positive number of seconds"


def url_check(*, query: bool = False) -> Callable[[Any], str | None]:
    """A `Option.check` for an http(s) address (no query string unless *query*).

    A link-local or cloud metadata address (``169.254.169.254``) is refused.

    Example:
        >>> from govmedia.platforms.options import url_check
        >>> url_check()("ftp://x.example") is not None
        True
    """
    def check(value: Any) -> str | None:
        try:
            url = httpx.URL(value)
        except (httpx.InvalidURL, TypeError):
            return "an http(s) URL"
        if url.scheme not in ("http", "https") or not url.host:
            return "an http(s) URL like 'https://host.example'"
        if url.query and not query:
            return "an address without a query string"
        from govmedia._netguard import BlockedAddress, check_host

        try:
            check_host(url.host)
        except BlockedAddress as exc:
            # govmedia never sends to one: a channel file must not aim it there.
            return f"not a link-local or cloud metadata address ({exc.address} is {exc.reason})"
        return None

    return check
