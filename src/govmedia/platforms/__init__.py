"""Platform plugins: the protocol, the toolkit to write one, the registry and the built-ins.

A plugin author needs only this module: subclass `BasePlatform`, declare the
platform's data (`Option`, an `Auth`, an `ErrorTable` of `Code` entries, its
`Rule`/`LengthRule` limits) and write the flows with the helpers and steps.
See the "Write your own platform" guide.

Example:
    >>> import govmedia as gm
    >>> "wechat_oa" in gm.platforms.available()
    True
"""

from govmedia.content.rules import LengthRule, Rule
from govmedia.platforms.auth import (
    Auth,
    Basic,
    FetchedToken,
    Header,
    NoAuth,
    Query,
    Signed,
    StaticToken,
)
from govmedia.platforms.base import COMMON_OPTIONS, BasePlatform, Capabilities, Platform, Rendering
from govmedia.platforms.codes import Code, ErrorTable
from govmedia.platforms.options import Option, Options, positive_seconds, url_check
from govmedia.platforms.registry import available, get, register, unregister
from govmedia.platforms.steps import (
    Checked,
    Checkpoint,
    Doubt,
    Flow,
    Recall,
    Sleep,
    Uploaded,
    count_or_none,
    creates,
    external,
    id_or_none,
    int_or_none,
    json_body,
    json_of,
    prepares,
    release,
    retry_safe,
    same_text,
    seconds_or_none,
    text_or_none,
)
from govmedia.tokens import FileTokenStore, MemoryTokenStore, RedisTokenStore, Token, TokenStore

__all__ = [
    "COMMON_OPTIONS",
    "Auth",
    "BasePlatform",
    "Basic",
    "Capabilities",
    "Checked",
    "Checkpoint",
    "Code",
    "Doubt",
    "ErrorTable",
    "FetchedToken",
    "FileTokenStore",
    "Flow",
    "Header",
    "LengthRule",
    "MemoryTokenStore",
    "NoAuth",
    "Option",
    "Options",
    "Platform",
    "Query",
    "Recall",
    "RedisTokenStore",
    "Rendering",
    "Rule",
    "Signed",
    "Sleep",
    "StaticToken",
    "Token",
    "TokenStore",
    "Uploaded",
    "available",
    "count_or_none",
    "creates",
    "external",
    "get",
    "id_or_none",
    "int_or_none",
    "json_body",
    "json_of",
    "positive_seconds",
    "prepares",
    "register",
    "release",
    "retry_safe",
    "same_text",
    "seconds_or_none",
    "text_or_none",
    "unregister",
    "url_check",
]
