"""Platform plugins: the protocol, the registry and the built-ins.

Example:
    >>> import govmedia as gm
    >>> "wechat_oa" in gm.platforms.available()
    True
"""

from govmedia.platforms.base import BasePlatform, Capabilities, Platform, Sleep, Token
from govmedia.platforms.registry import available, get, register, unregister

__all__ = [
    "BasePlatform",
    "Capabilities",
    "Platform",
    "Sleep",
    "Token",
    "available",
    "get",
    "register",
    "unregister",
]
