"""WeChat's callback XML in and passive-reply XML out, with nothing an attacker can expand.

Parsing uses the standard library's expat directly, with every DOCTYPE,
entity declaration and external entity refused outright (billion laughs,
quadratic blowup and XXE all need one of them), a depth limit, and the
encoding fixed to UTF-8. Anything else malformed is a 400.

A callback is ``<xml>`` with flat children (``ToUserName``, ``MsgType``,
``Content``, ...); the few with children of their own (``ScanCodeInfo``,
``SendPicsInfo``, ``PublishEventInfo``) become nested dicts, a repeated
name a list.
"""

from __future__ import annotations

import time
from typing import Any
from xml.parsers import expat

from govmedia._bot.refusal import Refused

__all__ = ["cdata", "parse", "reply_xml", "wrap_encrypted"]

MAX_DEPTH = 8


class _Tree:
    """Builds the dict tree from expat's events; every refusal is a `Refused` (400)."""

    __slots__ = ("stack", "texts")

    def __init__(self) -> None:
        self.stack: list[tuple[str, dict[str, Any]]] = []
        self.texts: list[list[str]] = []

    def start(self, name: str, _attrs: Any) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise Refused(400, "XML nested too deep")
        if not self.stack and name != "xml":
            raise Refused(400, "the root element is not <xml>")
        self.stack.append((name, {}))
        self.texts.append([])

    def end(self, name: str) -> None:
        _, children = self.stack.pop()
        text = "".join(self.texts.pop())
        value: Any = children or text
        if self.stack:
            parent = self.stack[-1][1]
            if name in parent:
                old = parent[name]
                parent[name] = [*old, value] if isinstance(old, list) else [old, value]
            else:
                parent[name] = value
        else:
            self.stack.append(("", children))  # the finished root

    def text(self, data: str) -> None:
        if self.texts:
            self.texts[-1].append(data)


def _refuse_declaration(*_args: Any) -> Any:
    raise Refused(400, "DOCTYPE or entity declarations are not accepted")


def parse(data: bytes) -> dict[str, Any]:
    """The ``<xml>`` children of a callback body, as a dict of strings (nested where WeChat nests).

    Raises:
        Refused: 400 for malformed XML, another root, deep nesting, or any
            DOCTYPE, entity declaration or external entity.

    Example:
        >>> parse(b"<xml><MsgType><![CDATA[text]]></MsgType><Content>a &amp; b</Content></xml>")
        {'MsgType': 'text', 'Content': 'a & b'}
        >>> parse(b'<!DOCTYPE x [<!ENTITY a "b">]><xml/>')
        Traceback (most recent call last):
        ...
        govmedia._bot.refusal.Refused: DOCTYPE or entity declarations are not accepted
    """
    tree = _Tree()
    parser = expat.ParserCreate(encoding="utf-8")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_declaration
    parser.EntityDeclHandler = _refuse_declaration
    parser.UnparsedEntityDeclHandler = _refuse_declaration
    parser.ExternalEntityRefHandler = _refuse_declaration
    parser.StartElementHandler = tree.start
    parser.EndElementHandler = tree.end
    parser.CharacterDataHandler = tree.text
    parser.buffer_text = True
    try:
        parser.Parse(data, True)  # noqa: FBT003 - expat takes isfinal by position
    except expat.ExpatError:
        raise Refused(400, "malformed XML") from None
    except RecursionError:  # pragma: no cover - the depth limit comes first
        raise Refused(400, "XML nested too deep") from None
    if len(tree.stack) != 1:  # pragma: no cover - expat refuses unclosed documents
        raise Refused(400, "malformed XML")
    return tree.stack[0][1]


def cdata(text: str) -> str:
    """*text* as XML character data in CDATA sections (a ``]]>`` inside is split).

    Example:
        >>> cdata("a]]>b")
        '<![CDATA[a]]]]><![CDATA[>b]]>'
    """
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _clean(text: str) -> str:
    """Drop the characters XML 1.0 cannot carry at all (control characters but tab/newline)."""
    if text.isprintable():
        return text
    return "".join(c for c in text if c.isprintable() or c in "\t\n\r" or ord(c) > 0x9F)


def reply_xml(to_user: str, from_user: str, *, text: str | None = None, image: str | None = None,
              articles: tuple[tuple[str, str, str, str], ...] = (), now: int | None = None) -> str:
    """WeChat's passive reply: text, image (a media_id) or news (articles).

    Example:
        >>> reply_xml("o_user", "gh_sasac", text="晴", now=1)  # doctest: +NORMALIZE_WHITESPACE
        '<xml><ToUserName><![CDATA[o_user]]></ToUserName><FromUserName><![CDATA[gh_sasac]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[晴]]></Content></xml>'
    """
    head = (f"<xml><ToUserName>{cdata(_clean(to_user))}</ToUserName>"
            f"<FromUserName>{cdata(_clean(from_user))}</FromUserName>"
            f"<CreateTime>{int(time.time()) if now is None else now}</CreateTime>")
    if articles:
        items = "".join(
            f"<item><Title>{cdata(_clean(t))}</Title><Description>{cdata(_clean(d))}</Description>"
            f"<PicUrl>{cdata(_clean(p))}</PicUrl><Url>{cdata(_clean(u))}</Url></item>"
            for t, d, u, p in articles)
        return (f"{head}<MsgType><![CDATA[news]]></MsgType><ArticleCount>{len(articles)}"
                f"</ArticleCount><Articles>{items}</Articles></xml>")
    if image is not None:
        return (f"{head}<MsgType><![CDATA[image]]></MsgType>"
                f"<Image><MediaId>{cdata(_clean(image))}</MediaId></Image></xml>")
    return f"{head}<MsgType><![CDATA[text]]></MsgType><Content>{cdata(_clean(text or ''))}</Content></xml>"


def wrap_encrypted(encrypted: str, msg_signature: str, timestamp: str, nonce: str) -> str:
    """The safe-mode reply envelope around *encrypted*.

    Example:
        >>> wrap_encrypted("QUJD", "sig", "1", "n")
        '<xml><Encrypt><![CDATA[QUJD]]></Encrypt><MsgSignature><![CDATA[sig]]></MsgSignature><TimeStamp>1</TimeStamp><Nonce><![CDATA[n]]></Nonce></xml>'
    """
    return (f"<xml><Encrypt>{cdata(encrypted)}</Encrypt><MsgSignature>{cdata(msg_signature)}"
            f"</MsgSignature><TimeStamp>{timestamp}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>")
