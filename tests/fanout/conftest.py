"""A made-up platform with no idempotency key, and its fake, for journal tests.

"board" keeps posts with a hidden marker and can list them, so it can be
reconciled; "plainboard" is the same API without reconcile.
"""

from typing import ClassVar

import httpx
import pytest

import govmedia as gm
from govmedia.platforms.base import json_body, json_of
from govmedia.testing import FakePlatform, route


class BoardPlatform(gm.BasePlatform):
    name = "board"
    option_keys = ("base_url",)
    capabilities = gm.Capabilities(reconcile=True, delete=True)

    def publish(self, post, channel, key):
        response = yield httpx.Request("POST", f"{channel.options['base_url']}/posts",
                                       content=json_body({"text": post.text, "marker": key,
                                                          "account": channel.account}))
        return gm.Receipt(channel=channel, remote_id=str(json_of(response)["id"]))

    def reconcile(self, post, channel, key):
        response = yield httpx.Request("GET", f"{channel.options['base_url']}/posts",
                                       params={"marker": key})
        found = json_of(response)
        return gm.Receipt(channel=channel, remote_id=str(found[0]["id"])) if found else None


class PlainBoardPlatform(BoardPlatform):
    name = "plainboard"
    capabilities = gm.Capabilities()


class FakeBoard(FakePlatform):
    name = "board"
    prefix = "/board"
    create_path: ClassVar[str] = r"^/posts$"

    def __init__(self, base_url="https://sandbox.govmedia.test"):
        super().__init__(base_url)
        self.items = []

    def channel(self, account="", **options):
        return gm.Channel(platform=options.pop("platform", "board"), account=account or "b1",
                          options={"base_url": self.base_url, **options})

    def posts(self, account=None):
        return [p for p in self.items if account is None or p["account"] == account]

    def account_of(self, request):
        return json_of(request).get("account") if request.method == "POST" else None

    @route("POST", r"/posts")
    def _create(self, request, match):
        body = json_of(request)
        item = {"id": len(self.items) + 1, **body}
        self.items.append(item)
        return httpx.Response(200, json=item)

    @route("GET", r"/posts")
    def _list(self, request, match):
        marker = request.url.params.get("marker")
        return httpx.Response(200, json=[p for p in self.items if p["marker"] == marker])


@pytest.fixture(autouse=True)
def _boards():
    gm.platforms.register("board", BoardPlatform, replace=True)
    gm.platforms.register("plainboard", PlainBoardPlatform, replace=True)
    yield
    gm.platforms.unregister("board")
    gm.platforms.unregister("plainboard")


@pytest.fixture
def board():
    return FakeBoard()


@pytest.fixture
def board_http(board):
    return httpx.Client(transport=httpx.MockTransport(board))
