"""Sensitive-word screening: `Screen` finds listed terms however they are disguised.

Both the terms and the text are folded the same way before matching:

- compatibility forms unfolded (NFKD): full-width letters, circled and
  parenthesised characters, Kangxi radicals and compatibility ideographs become
  the ordinary character (``Ａ``->``a``, ``㊙``->``秘``, ``⽇``->``日``);
- case folded; accents and other combining marks dropped;
- Traditional -> Simplified, character by character (OpenCC ``t2s``);
- whitespace, zero-width and other invisible characters, punctuation and
  symbols (emoji included) removed, so ``敏-感``, ``敏 感``, ``敏\u200b感``,
  ``敏😀感`` all read ``敏感``.

`Screen.scan` reports every non-overlapping match, leftmost first and longest
at each place, as a `Hit` whose ``start``/``end`` index the *original* text.

Because separators vanish, a Latin term also matches inside longer words and
across word gaps (``ass`` in ``class``); that is the price of catching ``a-s-s``.
Keep Latin terms specific. Without OpenCC installed, Traditional spellings are
not folded (a warning is logged once); install ``opencc`` (in the content extra).

Example:
    >>> import govmedia as gm
    >>> from govmedia.content.screen import Screen
    >>> screen = Screen(["敏感词", "违禁"])
    >>> text = "这里有敏-感\u200b詞，还有違 禁内容"
    >>> [(h.term, text[h.start:h.end]) for h in screen.scan(text)]
    [('敏感词', '敏-感\u200b詞'), ('违禁', '違 禁')]
"""

from __future__ import annotations

import bisect
import logging
import os
import pathlib
import threading
import unicodedata
from collections.abc import Callable, Iterable

import attrs
import regex

from govmedia.errors import ConfigError
from govmedia.model import Post, Problem

__all__ = ["Hit", "Screen"]

log = logging.getLogger("govmedia.content")

# Characters that never count: combining marks (after NFKD), punctuation,
# symbols, separators, controls, format characters (zero-width joiners, BOM,
# bidi marks) and anything else default-ignorable (variation selectors).
_DROP = regex.compile(r"[\p{M}\p{P}\p{S}\p{Z}\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\s]+")


@attrs.frozen
class Hit:
    """One screened term found in a text.

    ``text[hit.start:hit.end]`` is the original spelling that matched, separators
    and all; `term` is the term as it was given to the `Screen`.

    Example:
        >>> from govmedia.content.screen import Hit
        >>> Hit("敏感", 2, 5)
        Hit(term='敏感', start=2, end=5)
    """

    term: str
    start: int
    end: int


class _Folder:
    """Per-character folding table, shared by every screen with the same options."""

    def __init__(self, t2s: Callable[[str], str] | None) -> None:
        self.t2s = t2s
        self.table: dict[int, str] = {}
        self.irregular: set[str] = set()  # characters that fold to "" or to 2+ characters
        self.lock = threading.Lock()

    def _base(self, ch: str) -> str:
        folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", ch).casefold())
        return unicodedata.normalize("NFC", _DROP.sub("", folded))

    def learn(self, chars: Iterable[str]) -> None:
        new = [c for c in chars if ord(c) not in self.table]
        if not new:
            return
        base = [self._base(c) for c in new]
        if self.t2s is not None:
            # One OpenCC call for all new characters; a newline keeps each one
            # apart (no dictionary phrase spans a line break, and no folded
            # character is a newline).
            converted = self.t2s("\n".join(base)).split("\n")
            if len(converted) == len(base):
                base = converted
            else:  # pragma: no cover - defensive: OpenCC changed the line count
                base = [self.t2s(b) if b else b for b in base]
        with self.lock:
            for ch, folded in zip(new, base, strict=True):
                # `fold` reads without the lock: mark a character irregular
                # before it appears in the table, never after.
                if len(folded) != 1:
                    self.irregular.add(ch)
                self.table[ord(ch)] = folded

    def fold(self, text: str) -> tuple[str, list[int], list[int], list[int]]:
        """Folded text and the irregular positions (orig, folded start, folded length)."""
        present = set(text)
        self.learn(present)
        folded = text.translate(self.table)
        odd = present & self.irregular
        if not odd:
            return folded, [], [], []
        pattern = regex.compile("[" + "".join(regex.escape(c) for c in sorted(odd)) + "]")
        positions = [m.start() for m in pattern.finditer(text)]
        starts: list[int] = []
        lengths: list[int] = []
        shift = 0
        for p in positions:
            size = len(self.table[ord(text[p])])
            starts.append(p + shift)
            lengths.append(size)
            shift += size - 1
        return folded, positions, starts, lengths


def _original_index(j: int, positions: list[int], starts: list[int], lengths: list[int]) -> int:
    # The last irregular character whose folded output starts at or before j;
    # ties go to the later character, which is the one still "current" at j.
    k = bisect.bisect_right(starts, j) - 1
    if k < 0:
        return j
    if j < starts[k] + lengths[k]:
        return positions[k]
    return positions[k] + 1 + (j - starts[k] - lengths[k])


_FOLDERS: dict[bool, _Folder] = {}
_FOLDERS_LOCK = threading.Lock()
_WARNED: list[bool] = []


def _t2s() -> Callable[[str], str] | None:
    try:
        import opencc
    except ImportError:
        if not _WARNED:
            _WARNED.append(True)
            from govmedia._extras import install_hint

            log.warning("opencc is not installed: screening does not fold Traditional "
                        "characters to Simplified; %s", install_hint("opencc"))
        return None
    converter = opencc.OpenCC("t2s")
    lock = threading.Lock()

    def run(text: str) -> str:
        with lock:
            out: str = converter.convert(text)
        return out

    return run


def _folder(traditional: bool) -> _Folder:
    with _FOLDERS_LOCK:
        if traditional not in _FOLDERS:
            _FOLDERS[traditional] = _Folder(_t2s() if traditional else None)
        return _FOLDERS[traditional]


def _matcher(patterns: list[str]) -> Callable[[str], list[tuple[int, int, int]]]:
    try:
        from ahocorasick_rs import AhoCorasick, MatchKind
    except ImportError:
        from govmedia._extras import install_hint

        raise ConfigError(
            f"screening needs ahocorasick-rs (govmedia's content extra): {install_hint('ahocorasick-rs')}"
        ) from None
    automaton = AhoCorasick(patterns, matchkind=MatchKind.LeftmostLongest)
    return automaton.find_matches_as_indexes


class Screen:
    """A list of banned terms and a fast way to find them in text.

    Args:
        terms: The terms, in any script and form; each is folded like the text.
            A term that folds to nothing (only punctuation) is ignored with a
            warning; terms that fold alike are one term (the first spelling is
            reported).
        traditional: Fold Traditional characters to Simplified (needs OpenCC).

    Example:
        >>> from govmedia.content.screen import Screen
        >>> screen = Screen(["违禁词", "SPAM"])
        >>> screen.scan("出现了Ｓ.p.a.m和違禁詞")
        [Hit(term='SPAM', start=3, end=10), Hit(term='违禁词', start=11, end=14)]
    """

    def __init__(self, terms: Iterable[str], *, traditional: bool = True) -> None:
        self._folder = _folder(traditional)
        self.folds_traditional = self._folder.t2s is not None
        given: list[str] = []
        patterns: list[str] = []
        seen: set[str] = set()
        for term in terms:
            if not isinstance(term, str):
                raise ConfigError(f"Screen terms must be strings, got {type(term).__name__}")
            folded = self._folder.fold(term)[0]
            if not folded:
                if term.strip():
                    log.warning("screen term %r ignored: it has no letters or digits", term)
                continue
            if folded in seen:
                continue
            seen.add(folded)
            given.append(term)
            patterns.append(folded)
        self._terms = tuple(given)
        self._find = _matcher(patterns) if patterns else None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *more: str | os.PathLike[str],
                  traditional: bool = True) -> Screen:
        r"""A screen from term files: UTF-8, one term a line.

        Blank lines and lines starting with ``#`` are skipped; write ``\#`` for a
        term that starts with ``#``. Several files are merged.

        Raises:
            ConfigError: a file cannot be read or is not UTF-8.

        Example:
            >>> import tempfile, pathlib
            >>> from govmedia.content.screen import Screen
            >>> path = pathlib.Path(tempfile.mkdtemp()) / "terms.txt"
            >>> _ = path.write_text("# 示例词表\n敏感词\n\n违禁\n", encoding="utf-8")
            >>> Screen.from_file(path).terms
            ('敏感词', '违禁')
        """
        terms: list[str] = []
        for source in (path, *more):
            p = pathlib.Path(source)
            try:
                lines = p.read_text(encoding="utf-8-sig").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read screen terms from {str(p)!r}: {exc}") from None
            for line in lines:
                term = line.strip()
                if not term or term.startswith("#"):
                    continue
                terms.append(term[1:] if term.startswith("\\#") else term)
        return cls(terms, traditional=traditional)

    @property
    def terms(self) -> tuple[str, ...]:
        """The distinct terms, as given.

        Example:
            >>> from govmedia.content.screen import Screen
            >>> Screen(["敏感", "敏 感", "違禁"]).terms
            ('敏感', '違禁')
        """
        return self._terms

    def __len__(self) -> int:
        return len(self._terms)

    def __repr__(self) -> str:
        return f"Screen(<{len(self._terms)} terms>)"

    def normalize(self, text: str) -> str:
        """*text* folded the way `scan` sees it (for checking why something matched).

        Example:
            >>> from govmedia.content.screen import Screen
            >>> Screen([]).normalize("國資 委-ＡＢＣ😀")
            '国资委abc'
        """
        return self._folder.fold(text)[0]

    def scan(self, text: str) -> list[Hit]:
        """Every screened term in *text*, left to right, non-overlapping.

        Example:
            >>> from govmedia.content.screen import Screen
            >>> text = "请勿传播敏.感.词"
            >>> [text[h.start:h.end] for h in Screen(["敏感词"]).scan(text)]
            ['敏.感.词']
        """
        if self._find is None or not text:
            return []
        folded, positions, starts, lengths = self._folder.fold(text)
        hits = []
        for index, start, end in self._find(folded):
            first = _original_index(start, positions, starts, lengths)
            last = _original_index(end - 1, positions, starts, lengths)
            hits.append(Hit(self._terms[index], first, last + 1))
        return hits

    def problems(self, post: Post) -> list[Problem]:
        """A ``screened_term`` problem for each hit in the post's screened fields.

        Screened, as given (before any script conversion): title, body, text,
        summary, each tag, link, and the alt texts of the cover and media.

        Example:
            >>> import govmedia as gm
            >>> from govmedia.content.screen import Screen
            >>> post = gm.Post(title="通知", text="内容含敏-感词", tags=("违禁",))
            >>> for p in Screen(["敏感词", "违禁"]).problems(post):
            ...     print(p.field, "|", p.message)
            text | screened term '敏感词' at characters 3-7: '敏-感词'
            tags | screened term '违禁' in tag 1 at characters 0-2: '违禁'
        """
        fields: list[tuple[str, str, str]] = []  # field, where, text
        for name in ("title", "body", "text", "summary"):
            value = getattr(post, name)
            if value:
                fields.append((name, "", value))
        fields.extend(("tags", f" in tag {i}", tag) for i, tag in enumerate(post.tags, 1))
        if post.link:
            fields.append(("link", "", post.link))
        if post.cover is not None and post.cover.alt:
            fields.append(("cover.alt", "", post.cover.alt))
        fields.extend((f"media[{i}].alt", "", m.alt) for i, m in enumerate(post.media) if m.alt)
        return [
            Problem(
                code="screened_term",
                message=(f"screened term {hit.term!r}{where} at characters "
                         f"{hit.start}-{hit.end}: {value[hit.start:hit.end]!r}"),
                field=field,
            )
            for field, where, value in fields
            for hit in self.scan(value)
        ]
