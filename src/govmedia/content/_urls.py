"""Find the links in a text the way twitter-text finds them.

X counts every link as 23 characters, Bluesky needs a facet per link, and
script conversion must leave links alone, so all three need the same answer to
"where are the URLs?". The rules follow twitter-text's extractor
(twitter/twitter-text, Extractor and Regex): a link starts after a character
that is not a letter, digit, ``@``, ``$`` or ``#``; its host ends in a known
top-level domain; each host label is at most 63 characters once punycoded; a
link without ``http(s)://`` needs an ASCII host, and a bare two-letter-country
domain (``foo.jp``) only counts with a path, except ``.co``/``.tv`` and
multi-label hosts (``foo.co.jp``).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

import attrs
import regex

__all__ = ["Url", "find_urls"]



def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Country-code TLDs (ISO 3166 plus the few IANA extras) and internationalised ones
# a Chinese-language post may carry.
_CC_TLDS = _words(
    "ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo br "
    "bs bt bv bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do "
    "dz ec ee eg er es et eu fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt "
    "gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp "
    "kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mg mh mk ml mm mn mo mp mq mr ms "
    "mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr "
    "ps pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sj sk sl sm sn so sr ss st su sv sx "
    "sy sz tc td tf tg th tj tk tl tm tn to tp tr tt tv tw tz ua ug uk us uy uz va vc ve vg vi "
    "vn vu wf ws ye yt za zm zw 中国 中國 香港 澳門 澳门 台湾 台灣 新加坡 рф"
)
# Generic TLDs: the legacy ones plus the newer ones common in Chinese and
# international government and media links. twitter-text ships the full IANA
# list; a TLD missing here only means a *bare* domain on it is counted as
# written, never that an ``http(s)://`` link is missed.
_G_TLDS = _words(
    "com net org edu gov mil int info biz name pro aero asia cat coop jobs mobi museum post tel "
    "travel xxx app dev xyz top site online shop store tech club vip wang win work link live "
    "life world today news media blog cloud page art design email website space fun icu ltd "
    "group global city center company digital network social studio video tv best love ink "
    "pub run plus one zone team tools solutions services agency academy school "
    "公司 网络 网址 网站 在线 中文网 商城 集团 政务 公益 移动"
)
_SPECIAL_SHORT = frozenset({"co", "tv"})
_ALL_TLDS = sorted({*_CC_TLDS, *_G_TLDS}, key=len, reverse=True)
_CC_SET = frozenset(_CC_TLDS)

_TLD = "(?:" + "|".join(regex.escape(t) for t in _ALL_TLDS) + "|xn--[a-z0-9-]+)"
# twitter-text lets any character but punctuation, space and controls into a
# host (``http://☃.net``); CJK punctuation is kept out too, so ``。`` ends a link.
_DC = r"(?:[a-z0-9]|[^\x00-\x7f\s\p{P}\p{Z}\p{C}])"
_LABEL = rf"{_DC}(?:(?:{_DC}|-)*{_DC})?"
_SUB = rf"(?:{_DC}|_)(?:(?:{_DC}|[_-])*(?:{_DC}|_))?"
_ASCII_LABEL = r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?"
_PATH_CHAR = r"[\p{Latin}\p{Cyrillic}0-9!*';:=+,.$/%#\[\]\-\u2013_~@|&]"
_PATH_END = r"[\p{Latin}\p{Cyrillic}0-9=_#/+\-]"
_PARENS = rf"\({_PATH_CHAR}*\)"
_PATH = rf"/(?:(?:{_PATH_CHAR}|{_PARENS})*(?:{_PATH_END}|{_PARENS}))?"
_QUERY = r"\?[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]*[a-z0-9\-_&=#/]"

_URL_PATTERN = (
    rf"""
    (?<![a-z0-9@＠$#＃\u202a-\u202e])
    (?:
      (?P<proto>https?://)
      (?:[a-z0-9!$&'()*+,;=:%._~-]+@)?
      (?P<host>
          \[[0-9a-f:.]+\]
        | \d{{1,3}}(?:\.\d{{1,3}}){{3}}
        | (?:{_SUB}\.)*{_LABEL}\.{_TLD}(?![a-z0-9@+-])
      )
    | (?P<bare>(?:{_ASCII_LABEL}\.)+{_TLD}(?![a-z0-9@+-]))
    )
    (?::\d{{1,5}})?
    (?P<path>{_PATH})?
    (?P<query>{_QUERY})?
    """
)


@lru_cache(maxsize=1)
def _url_regex() -> regex.Pattern[str]:
    # Compiled on first use: ~20 ms that `import govmedia` should not pay.
    return regex.compile(_URL_PATTERN, regex.IGNORECASE | regex.VERBOSE | regex.V0)
_MAX_URL = 4096


@attrs.frozen
class Url:
    """One link found in a text: ``text[start:end] == url``.

    Example:
        >>> from govmedia.content._urls import find_urls
        >>> find_urls("详见 https://www.sasac.gov.cn/n1/c2.html。")[0].url
        'https://www.sasac.gov.cn/n1/c2.html'
    """

    start: int
    end: int
    url: str
    has_protocol: bool

    @property
    def href(self) -> str:
        """The link with ``https://`` added when it was written without a protocol."""
        return self.url if self.has_protocol else "https://" + self.url


def _host_ok(host: str) -> bool:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    if regex.fullmatch(r"[\d.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    for label in host.split("."):
        try:
            # The idna codec refuses empty labels and any label over 63
            # characters once punycoded, which is twitter-text's rule too.
            label.encode("idna")
        except UnicodeError:
            return False
    return True


def _bare_ok(host: str, has_path: bool) -> bool:
    labels = host.lower().split(".")
    tld = labels[-1]
    if tld not in _CC_SET or has_path or tld in _SPECIAL_SHORT:
        return True
    return len(labels) > 2


def find_urls(text: str) -> list[Url]:
    """Every link in *text*, left to right, as twitter-text would extract it.

    Args:
        text: Any text; CJK around a link is fine (``详见example.com。``).

    Returns:
        The links with their character offsets in *text*.

    Example:
        >>> from govmedia.content._urls import find_urls
        >>> [u.url for u in find_urls("访问t.co/ab 或 foo.jp 或 https://例子.中国/路径")]
        ['t.co/ab', 'https://例子.中国/']
    """
    if "." not in text:
        return []
    found: list[Url] = []
    for m in _url_regex().finditer(text):
        proto = m.group("proto")
        host = m.group("host") if proto else m.group("bare")
        if not proto:
            before = text[: m.start()]
            if before.endswith(("-", "_", ".", "/")):
                continue
            if not _bare_ok(host, bool(m.group("path"))):
                continue
        if not _host_ok(host) or len(m.group(0)) + (0 if proto else 8) > _MAX_URL:
            continue
        found.append(Url(start=m.start(), end=m.end(), url=m.group(0), has_protocol=bool(proto)))
    return found
