"""Stateful, strict fakes of the built-in platforms' HTTP APIs.

"moto for media platforms": each fake keeps tokens, posts and media, rejects
what the real API rejects, and fails on demand (`FakePlatform.inject`). Use
them in-process through `Sandbox.client()`, as pytest fixtures (the
``govmedia_sandbox`` fixture), or over real HTTP with ``govmedia sandbox``.

Example:
    >>> import govmedia as gm
    >>> from govmedia.testing import Sandbox
    >>> sandbox = Sandbox()
    >>> sandbox["webhook"].inject("server_error")
    >>> with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as client:
    ...     client.publish(gm.Post(text="重试一次"), sandbox.channel("webhook")).state
    'published'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from govmedia.testing._bodies import (
    Multipart,
    Part,
    default_refusal,
    parse_form,
    parse_json,
    parse_multipart,
    parse_params,
    parse_query,
)
from govmedia.testing._budgets import Budget, RateBudgets
from govmedia.testing._fake import FAULTS, FakePlatform, Fault, Recorded, route
from govmedia.testing._faketokens import FakeToken, FakeTokens, TokenPair, default_token_refusal
from govmedia.testing._idempotency import IdempotencyStore
from govmedia.testing._refuse import Refusal, Refuse
from govmedia.testing._uploads import (
    ChunkedUploads,
    CompletedUpload,
    PartRecord,
    UploadSession,
    default_upload_refusal,
)
from govmedia.testing.follower import Follower, Heard
from govmedia.testing.sandbox import Sandbox
from govmedia.testing.webhook import FakeWebhook

if TYPE_CHECKING:
    from govmedia.testing.bilibili import FakeBilibili
    from govmedia.testing.bluesky import FakeBluesky
    from govmedia.testing.douyin import FakeDouyin
    from govmedia.testing.facebook import FakeFacebook
    from govmedia.testing.kuaishou import FakeKuaishou
    from govmedia.testing.mastodon import FakeMastodon
    from govmedia.testing.matrix_chat import FakeMatrixChat
    from govmedia.testing.telegram import FakeTelegram
    from govmedia.testing.wechat_oa import FakeWeChatOA
    from govmedia.testing.weibo import FakeWeibo
    from govmedia.testing.wordpress import FakeWordPress
    from govmedia.testing.x import FakeX
    from govmedia.testing.youtube import FakeYouTube

__all__ = [
    "FAULTS",
    "Budget",
    "ChunkedUploads",
    "CompletedUpload",
    "FakeBilibili",
    "FakeBluesky",
    "FakeDouyin",
    "FakeFacebook",
    "FakeKuaishou",
    "FakeMastodon",
    "FakeMatrixChat",
    "FakePlatform",
    "FakeTelegram",
    "FakeToken",
    "FakeTokens",
    "FakeWeChatOA",
    "FakeWebhook",
    "FakeWeibo",
    "FakeWordPress",
    "FakeX",
    "FakeYouTube",
    "Fault",
    "Follower",
    "Heard",
    "IdempotencyStore",
    "Multipart",
    "Part",
    "PartRecord",
    "RateBudgets",
    "Recorded",
    "Refusal",
    "Refuse",
    "Sandbox",
    "TokenPair",
    "UploadSession",
    "default_refusal",
    "default_token_refusal",
    "default_upload_refusal",
    "parse_form",
    "parse_json",
    "parse_multipart",
    "parse_params",
    "parse_query",
    "route",
]


def __getattr__(name: str) -> Any:
    # A platform's fake, by its class name, as the platform declares it (``fake``).
    if name.startswith("Fake"):
        from govmedia.testing.sandbox import FAKES, fake_class

        for platform, path in FAKES.items():
            if path.rpartition(":")[2] == name:
                return fake_class(platform)
    raise AttributeError(name)
