"""govmedia: publish one post to many platforms and many accounts, safely.

Example:
    >>> import govmedia as gm
    >>> post = gm.Post(title="一带一路看国企", text="一带一路看国企 https://example.org/a/1")
    >>> ch = gm.Channel(platform="mastodon", account="sasac@social.example",
    ...                 credentials={"access_token": "tok-abcdef"},
    ...                 options={"base_url": "https://social.example"})
    >>> with gm.Client() as client:
    ...     client.check(post, ch)
    []
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from govmedia import platforms
    from govmedia.bot import Bot, Inbound, Reply
    from govmedia.checkup import Health, Rendered
    from govmedia.client import AsyncClient, Client
    from govmedia.content.screen import Hit, Screen
    from govmedia.errors import (
        AuthError,
        ConfigError,
        ContentRejected,
        DeliveryUnknown,
        GovMediaError,
        JournalError,
        PlatformError,
        RateLimited,
        TransientError,
        ValidationError,
    )
    from govmedia.journal import Journal
    from govmedia.matrix import Matrix
    from govmedia.model import (
        Approval,
        Channel,
        Delivery,
        Media,
        Metrics,
        Post,
        Problem,
        Receipt,
        UploadProgress,
        Variant,
    )
    from govmedia.platforms.base import BasePlatform, Capabilities
    from govmedia.policy import RateLimit, RetryPolicy
    from govmedia.report import CampaignMetrics, Report, Stopped

__all__ = [
    "Approval",
    "AsyncClient",
    "AuthError",
    "BasePlatform",
    "Bot",
    "CampaignMetrics",
    "Capabilities",
    "Channel",
    "Client",
    "ConfigError",
    "ContentRejected",
    "Delivery",
    "DeliveryUnknown",
    "GovMediaError",
    "Health",
    "Hit",
    "Inbound",
    "Journal",
    "JournalError",
    "Matrix",
    "Media",
    "Metrics",
    "PlatformError",
    "Post",
    "Problem",
    "RateLimit",
    "RateLimited",
    "Receipt",
    "Rendered",
    "Reply",
    "Report",
    "RetryPolicy",
    "Screen",
    "Stopped",
    "TransientError",
    "UploadProgress",
    "ValidationError",
    "Variant",
    "platforms",
]

# Where each public name lives. They are imported on first use, so that
# `import govmedia` stays fast (httpx alone costs ~80 ms) in CLIs and notebooks.
_HOME = {
    **dict.fromkeys(("Bot", "Inbound", "Reply"), "govmedia.bot"),
    "AsyncClient": "govmedia.client",
    "Client": "govmedia.client",
    "Health": "govmedia.checkup",
    "Hit": "govmedia.content.screen",
    "Screen": "govmedia.content.screen",
    "Journal": "govmedia.journal",
    "Matrix": "govmedia.matrix",
    "BasePlatform": "govmedia.platforms.base",
    "Capabilities": "govmedia.platforms.base",
    "RateLimit": "govmedia.policy",
    "RetryPolicy": "govmedia.policy",
    "CampaignMetrics": "govmedia.report",
    "Rendered": "govmedia.checkup",
    "Report": "govmedia.report",
    "Stopped": "govmedia.report",
    **dict.fromkeys(
        ("AuthError", "ConfigError", "ContentRejected", "DeliveryUnknown", "GovMediaError",
         "JournalError", "PlatformError", "RateLimited", "TransientError", "ValidationError"),
        "govmedia.errors",
    ),
    **dict.fromkeys(
        ("Approval", "Channel", "Delivery", "Media", "Metrics", "Post", "Problem", "Receipt",
         "UploadProgress", "Variant"),
        "govmedia.model",
    ),
}

logging.getLogger("govmedia").addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name == "platforms":
        return importlib.import_module("govmedia.platforms")
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("govmedia")
        except PackageNotFoundError:  # running from a source tree
            return "0.0.0+unknown"
    raise AttributeError(f"module 'govmedia' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
