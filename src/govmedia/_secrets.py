"""Keep secrets out of reprs, logs, exceptions, reports, pickles and the journal.

Two nets, applied together by `mask`:

* **registered secrets**: every credential value a `Channel` holds, every
  secret-shaped query parameter found in its options, and every token a
  platform hands back is remembered here (by value, in process memory only),
  with its URL- and JSON-escaped spellings, and masked wherever it shows up:
  a platform that echoes an ``Authorization`` header, say;
* **secret shapes**: values that look like secrets by where they stand are
  masked even when nobody registered them (a token issued to another
  process): query parameters named like ``access_token``, ``sig``,
  ``X-Amz-Signature`` or ``client_secret``, an OAuth ``code``, the password in
  ``https://user:password@host``, ``Bearer``/``Basic`` credentials, an
  ``Authorization`` header, ``"token": "..."`` in JSON or a repr, a Telegram
  ``/bot<token>``.

`mask` is called on every message, repr, report row, pickle and journal
column, so it must cost next to nothing on text with nothing to hide. It
never tries each registered secret in turn (a matrix registers thousands):
it cuts the text into runs of ASCII letters and digits, intersects them with
a table holding one run of each secret (a set operation, whatever the
number of secrets), and checks the few candidates where they would start.
Each shape runs only on text that holds its literal (``=``, ``:``, ``@``,
``Bearer``), and starts there.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus, unquote_plus

from govmedia._frozen import FrozenMap

__all__ = [
    "MASK",
    "PUBLIC_CREDENTIALS",
    "Credentials",
    "harvest",
    "install_log_filters",
    "is_secret_name",
    "mask",
    "mask_data",
    "remember",
]

T = TypeVar("T")

MASK = "***"
_MIN_LEN = 6  # shorter values would mask ordinary words

# --------------------------------------------------------------------------- registry

_lock = threading.Lock()
_known: set[str] = set()
# One run of each secret -> the secrets having that run, with where the run
# starts in them. Only ever added to.
_runs: dict[bytes, list[tuple[str, int]]] = {}
# Secrets without a run of ASCII letters or digits (a password of CJK
# characters, say): looked for one by one, and there are few.
_odd: list[str] = []

# Runs of ASCII letters and digits cut texts and secrets alike; anything else
# (punctuation, spaces, CJK) separates them. Cutting a text costs a
# translate and a split of its UTF-8 bytes: no regex, no Python loop.
_RUN = re.compile(r"[A-Za-z0-9]+")
_SEPARATE = bytes(c if chr(c).isascii() and chr(c).isalnum() else 0x20 for c in range(256))


def _spellings(value: str) -> set[str]:
    """*value* as it may appear in a URL, a form, a JSON or a Python string."""
    forms = {value, quote(value, safe=""), quote_plus(value, safe=""),
             json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    return {f for f in forms if len(f) >= _MIN_LEN}


def _anchor(secret: str) -> tuple[str, int] | None:
    """The run of *secret* that any text containing it is sure to cut the same way.

    A run with something other than a letter or digit on both sides inside
    the secret is such a run; the longest is looked up least often in vain.
    A run at either end of the secret would be missed where the text glues
    letters or digits to the secret: a pure alphanumeric secret is found only
    where it stands apart (``?token=SECRET&``, ``"SECRET"``, ``Bearer SECRET``).
    """
    runs = [(m.start(), m.end()) for m in _RUN.finditer(secret)]
    inner = [(s, e) for s, e in runs if s > 0 and e < len(secret)]
    best = max(inner or runs, key=lambda r: r[1] - r[0], default=None)
    if best is None:
        return None
    return secret[best[0]:best[1]], best[0]


def remember(value: str) -> None:
    """Register a secret so that `mask` hides it wherever it appears.

    Values shorter than six characters are not registered: they would mask
    ordinary words.

    Example:
        >>> from govmedia._secrets import mask, remember
        >>> remember("s3cr3t-value-42")
        >>> mask("sent with s3cr3t-value-42 in the body")
        'sent with *** in the body'
    """
    if not isinstance(value, str) or len(value) < _MIN_LEN:
        return
    global _generation  # noqa: PLW0603 - see _clean
    with _lock:
        for form in _spellings(value) - _known:
            _known.add(form)
            anchor = _anchor(form)
            if anchor is None:
                _odd.append(form)
            else:
                _runs.setdefault(anchor[0].encode("ascii"), []).append((form, anchor[1]))
            _generation += 1


def _known_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    if _runs:
        words = text.encode("utf-8", "surrogatepass").translate(_SEPARATE).split()
        # The common case ends here: no run of the text is a secret's run.
        # (One C call that iterates the smaller side, so a thread adding
        # secrets meanwhile cannot upset it.)
        for run in _runs.keys() & set(words):
            word = run.decode("ascii")
            end = len(text)
            at = text.find(word)
            while at >= 0:
                after = at + len(word)
                if ((at == 0 or not _is_run_char(text[at - 1]))
                        and (after == end or not _is_run_char(text[after]))):
                    for secret, offset in _runs[run]:
                        start = at - offset
                        if start >= 0 and text.startswith(secret, start):
                            spans.append((start, start + len(secret)))
                at = text.find(word, after)
    for secret in _odd:
        at = text.find(secret)
        while at >= 0:
            spans.append((at, at + len(secret)))
            at = text.find(secret, at + 1)
    return spans


def _is_run_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _cut(text: str, spans: list[tuple[int, int]]) -> str:
    out: list[str] = []
    done = 0
    for start, end in sorted(spans):
        if end <= done:
            continue
        if start > done:
            out.append(text[done:start])
            out.append(MASK)
        elif not out or out[-1] != MASK:  # overlaps the previous one: grow it
            out.append(MASK)
        done = end
    out.append(text[done:])
    return "".join(out)


# Short texts that `mask` found nothing to hide in, each with the registry's
# generation at the time: the same text comes back often (a receiver that
# answers every delivery with the same body, say), and then costs a lookup.
# Only clean texts are kept, so this holds no secret; a newly registered
# secret bumps the generation, and every note before it is void.
_generation = 0
_clean: dict[str, int] = {}
_CLEAN_MAX_LEN = 512
_CLEAN_SIZE = 1024


# --------------------------------------------------------------------------- shapes

# Names of parameters and fields that carry secrets. Long words count at the
# end of any name (``access_token``, ``appsecret``, ``X-Amz-Signature``);
# short ones only alone or after a separator (``api_key``, ``x-auth``), so that
# ``monkey`` or ``bypass`` stay readable. A bare ``key`` counts in a URL
# (``?key=``: Google's API keys) but not as a JSON or repr field, where it is
# too common (a post key, an object key) to hide.
_LONG = ("token", "secret", "signature", "password", "passwd", "passphrase", "credential",
         "credentials", "apikey", "accesskey", "privatekey", "sessionid")
_SHORT = ("key", "sig", "pass", "pwd", "auth", "authorization", "session", "jwt")
_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "api-key", "x-auth-token",
            "x-access-token", "private-token", "x-goog-api-key")
_SCHEME = r"(?:(?:bearer|basic|token|digest|bot)\s+)?"  # Authorization: Bearer <value>
_STOP = r"&\s\"'<>#,;)\]}\\"  # what ends a value in a URL, a log line, a repr or JSON

_FIELD_NAME = re.compile(
    rf"[\w.\-]*(?:{'|'.join(_LONG)})|[\w.\-]*[_.\-](?:{'|'.join(_SHORT)})"
    rf"|(?:{'|'.join(w for w in _SHORT if w != 'key')})",
    re.IGNORECASE,
)


def _before(names: dict[str, str], suffix: str) -> str:
    """Lookbehinds true where one of *names* ends just before *suffix* (``=``, ``":``).

    Each shape below starts with a literal (``=`` or ``:``) so that the
    regex engine jumps from one to the next; which name stands before it is
    then checked by fixed-width lookbehinds, cheaper than matching names
    forward from every position. One character class first turns most
    ``=`` and ``:`` away at once. *names* maps each name to a character
    class that must not precede it (``""``: anything may).
    """
    last = "".join(sorted({name[-1] for name in names}))
    branches = []
    for name, not_after in names.items():
        whole = re.escape(name) + suffix
        branch = rf"(?<={whole})"
        if not_after:
            branch += rf"(?<!{not_after}{whole})"
        branches.append(branch)
    return rf"(?<=[{last}]{suffix})(?:{'|'.join(branches)})"


def _secret_names(*, field: bool) -> dict[str, str]:
    names = dict.fromkeys(_LONG, "")
    for word in _SHORT:
        # alone, or after a separator; a bare "key" only in a URL
        names[word] = r"[A-Za-z0-9]" if not (field and word == "key") else r"[^_.\-]"
    return names


_HEADER_NAMES = dict.fromkeys(_HEADERS, r"[\w\-]")
_QUOTE_COLON = "[\"']:"  # the end of a quoted name: "token": or 'token':
_QUOTED_VALUE = r"""\s*(?P<q>["'])(?P<field>(?:\\.|(?!(?P=q))[^\\\n])+)(?P=q)"""

# Each shape's last group is the value to mask (`_replace` relies on it); each
# runs only on text holding its look (a plain `in`).
_SHAPES: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    # authorization=Token abc (the scheme stays), access_token=..., sig=...,
    # X-Amz-Signature=..., and a long OAuth code (code=404 stays readable)
    (("=",), re.compile(
        rf"=(?:{_before(_HEADER_NAMES, '=')}\s*{_SCHEME}(?P<header>[^\s\"',;&]+)"
        rf"|{_before(_secret_names(field=False), '=')}(?P<query>[^{_STOP}]+)"
        rf"|(?<=code=)(?<![\w.\-]code=)(?P<code>[A-Za-z0-9._~+/\-]{{16,}})(?![^{_STOP}]))",
        re.IGNORECASE,
    )),
    # "access_token": "...", 'password': '...' in JSON or a repr;
    # Authorization: Bearer ..., X-Api-Key: ... as headers;
    # a Telegram bot token 123456789:AA... (the bot's number stays)
    ((":",), re.compile(
        rf"[:](?:{_before(_secret_names(field=True), _QUOTE_COLON)}{_QUOTED_VALUE}"
        rf"|{_before(_HEADER_NAMES, ':')}\s*{_SCHEME}(?P<header>[^\s\"',;&]+)"
        r"|(?<=\d{5}:)(?P<telegram>[A-Za-z0-9_\-]{30,}))",
        re.IGNORECASE,
    )),
    (("earer", "EARER"), re.compile(
        r"(?:Bearer|bearer|BEARER)\s+(?P<bearer>[A-Za-z0-9._~+/\-]{8,}=*)")),
    # base64 of user:password: a multiple of four characters, with a digit,
    # a + or / or two capitals (so that "Basic settings" stays readable)
    (("Basic",), re.compile(
        r"Basic\s+(?=[A-Za-z0-9+/]*(?:[0-9+/]|[A-Z][a-z]*[A-Z]))"
        r"(?P<basic>(?:[A-Za-z0-9+/]{4}){2,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)"
        r"(?![A-Za-z0-9+/=])")),
    # https://user:password@host
    (("@",), re.compile(r"://[^\s/?#@:\"'<>]*:(?P<userinfo>[^\s/?#@\"'<>]+)(?=@)")),
    # Telegram's /bot<token>/ path
    (("/bot",), re.compile(r"/bot\d+:(?P<bot>[A-Za-z0-9_\-]+)")),
)


def _replace(match: re.Match[str]) -> str:
    group = match.lastgroup or ""
    text = match.string
    return text[match.start():match.start(group)] + MASK + text[match.end(group):match.end()]


_EQUALS, _COLON, _BEARER, _BASIC, _USERINFO, _BOT = (pattern for _, pattern in _SHAPES)


def _shapes(text: str) -> list[re.Pattern[str]]:
    """The shapes worth running on *text* (usually few or none).

    The looks of `_SHAPES`, written out: this runs on every masked text, and
    a plain ``in`` per look costs a tenth of an ``any()`` over a generator.
    """
    found = []
    if "=" in text:
        found.append(_EQUALS)
    if ":" in text:
        found.append(_COLON)
    if "earer" in text or "EARER" in text:
        found.append(_BEARER)
    if "Basic" in text:
        found.append(_BASIC)
    if "@" in text:
        found.append(_USERINFO)
    if "/bot" in text:
        found.append(_BOT)
    return found


def _check_looks() -> None:
    """`_shapes` must test exactly the looks `_SHAPES` declares, in its order."""
    for looks, pattern in _SHAPES:
        for look in looks:
            if _shapes(look) != [pattern]:  # pragma: no cover - a shape added without its look
                raise AssertionError(f"_shapes does not test {look!r}")


_check_looks()


def mask(text: str) -> str:
    """Return *text* with every registered secret and secret-shaped value masked.

    Example:
        >>> from govmedia._secrets import mask
        >>> mask("GET https://hook.example/in?token=abc123&x=1")
        'GET https://hook.example/in?token=***&x=1'
        >>> mask("https://editor:hunter2-pw@cms.example/wp-json")
        'https://editor:***@cms.example/wp-json'
    """
    if not text:
        return text
    short = len(text) <= _CLEAN_MAX_LEN
    if short and _clean.get(text) == _generation:
        return text  # found clean before, and no secret was registered since
    generation = _generation  # read first: a secret registered meanwhile voids the note
    masked = text
    if _runs or _odd:
        spans = _known_spans(masked)
        if spans:
            masked = _cut(masked, spans)
    for pattern in _shapes(masked):
        masked = pattern.sub(_replace, masked)
    if short and masked == text:
        if len(_clean) >= _CLEAN_SIZE:
            _clean.clear()
        _clean[text] = generation
    return masked


def is_secret_name(name: str) -> bool:
    """True for a field or parameter name that carries a secret (``api_key``, ``sig``).

    Example:
        >>> from govmedia._secrets import is_secret_name
        >>> [is_secret_name(n) for n in ("access_token", "X-Amz-Signature", "monkey", "key")]
        [True, True, False, False]
    """
    return _FIELD_NAME.fullmatch(name) is not None


_MAX_DEPTH = 64


def mask_data(value: T, _depth: int = 0) -> T:
    """A copy of JSON-like *value* with secrets masked: in strings, and under secret names.

    Mappings come back as dicts and sequences as lists; anything nested
    deeper than 64 levels comes back as its masked repr.

    Example:
        >>> from govmedia._secrets import mask_data
        >>> mask_data({"id": "42", "access_token": "t0k3n-123", "echo": {"auth": "Bearer abcdefgh12"}})
        {'id': '42', 'access_token': '***', 'echo': {'auth': '***'}}
    """
    result: Any
    if isinstance(value, str):
        result = mask(value)
    elif _depth >= _MAX_DEPTH and isinstance(value, Mapping | list | tuple):
        result = mask(_safe_repr(value))
    elif isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            name = mask(key) if isinstance(key, str) else key
            if (isinstance(key, str) and is_secret_name(key)
                    and isinstance(item, str | int | float) and not isinstance(item, bool)
                    and item != ""):
                result[name] = MASK
            else:
                result[name] = mask_data(item, _depth + 1)
    elif isinstance(value, list | tuple):
        result = [mask_data(item, _depth + 1) for item in value]
    else:
        result = value
    return result  # type: ignore[no-any-return]


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except RecursionError:
        return f"<{type(value).__name__} nested too deep to show>"


def harvest(value: Any, _depth: int = 0) -> None:
    """Register the secrets that *value* (an option, say) carries by their shape.

    A webhook URL with ``?token=...``, a base URL with ``user:password@``:
    the platform may echo the value later without its name (in a body, an
    error page), where only a registered value can be recognised.

    Example:
        >>> from govmedia._secrets import harvest, mask
        >>> harvest({"url": "https://hooks.example/in?sig=q9Xv-77-sig&v=1"})
        >>> mask("receiver said: bad signature q9Xv-77-sig")
        'receiver said: bad signature ***'
    """
    if _depth > _MAX_DEPTH:
        return
    if isinstance(value, str):
        _harvest_text(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and is_secret_name(key) and isinstance(item, str):
                remember(item)
            harvest(item, _depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            harvest(item, _depth + 1)


def _harvest_text(text: str) -> None:
    for pattern in _shapes(text):
        for match in pattern.finditer(text):
            secret = match.group(match.lastgroup or 0)
            remember(secret)
            if "%" in secret or "+" in secret:  # echoed decoded, too
                remember(unquote_plus(secret))


# --------------------------------------------------------------------------- credentials


# Credential names whose values identify an account rather than unlock it:
# the platform prints them in URLs and on profile pages.
PUBLIC_CREDENTIALS = frozenset({
    "app_id", "client_id", "client_key", "open_id", "identifier", "username",
    "page_id", "user_id", "chat_id", "channel_id", "site", "handle", "mid",
})


class Credentials(FrozenMap):  # noqa: PLW1641 - unhashable, like the dict it wraps
    """A read-only mapping of credential names to secret values.

    Its ``repr`` and ``str`` show the names only; pickling it keeps the names and
    drops the values, so a pickled `Channel` or `Receipt` never carries a secret.
    Values are registered with `mask` except those of names that are public
    identifiers (``app_id``, ``client_id``, ``identifier``, ``username``...):
    those show up in receipt URLs and messages on purpose, and masking them
    there would hide which account a line is about.
    A copy (`copy.copy`, `copy.deepcopy`) is the same object: it is read-only.

    Example:
        >>> creds = Credentials({"access_token": "s3cr3t-token"})
        >>> creds
        Credentials({'access_token': '***'})
        >>> creds["access_token"]
        's3cr3t-token'
    """

    __slots__ = ()

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        clean: dict[str, str] = {}
        for name, value in (data or {}).items():
            if not isinstance(name, str):
                raise TypeError(f"credential names must be strings, got {name!r}")
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                # str() of a list, None or True would pass for a secret
                raise TypeError(f"credential {name!r} must be a string, got {type(value).__name__}")
            text = value if isinstance(value, str) else str(value)
            if name not in PUBLIC_CREDENTIALS:
                remember(text)
            clean[name] = text
        self._data = clean

    def __getitem__(self, key: str) -> str:
        value: str = self._data[key]
        return value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Credentials):
            return self._data == other._data
        return NotImplemented

    def __repr__(self) -> str:
        return "Credentials({" + ", ".join(f"{k!r}: {MASK!r}" for k in self._data) + "})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        # Values never travel in a pickle; the names do, so that a missing
        # secret later shows up as a clear "missing credential" error.
        return (_unpickled, (tuple(self._data),))

    def __copy__(self) -> Credentials:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Credentials:
        # copy.deepcopy would go through __reduce__ and lose the values.
        return self


def _unpickled(names: tuple[str, ...]) -> Credentials:
    creds = Credentials()
    creds._data = {}  # noqa: SLF001 - values were dropped on purpose
    for name in names:
        creds._data.setdefault(name, "")  # noqa: SLF001
    # An empty value reads as missing: see Channel's credential check.
    return creds


# --------------------------------------------------------------------------- logging


class _MaskingFilter(logging.Filter):
    """Mask secrets in log records, their traceback text included."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is not ours to fix
            return True
        masked = mask(message)
        if masked != message:
            record.msg = masked
            record.args = None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set: the traceback of an
            # unexpected error may quote a URL with its token.
            record.exc_text = mask(_FORMATTER.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


_FORMATTER = logging.Formatter()
_FILTER = _MaskingFilter()
LOGGERS = ("govmedia", "govmedia.content", "httpx", "httpcore", "aiohttp.client")
"""Loggers whose records are masked (a logger's filters see only its own records)."""


def install_log_filters() -> None:
    """Attach the masking filter to govmedia's and the HTTP libraries' loggers."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
