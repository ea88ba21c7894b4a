"""The pytest plugin (entry point ``pytest11``): fixtures over the fakes.

Example:
    ```python
    import govmedia as gm

    def test_announcement(govmedia_sandbox):
        channel = govmedia_sandbox.channel("mastodon")
        with gm.Client(http=govmedia_sandbox.client(), retry=gm.RetryPolicy.testing()) as client:
            receipt = client.publish(gm.Post(text="发布会通知"), channel)
        assert govmedia_sandbox["mastodon"].posts()[0]["id"] == receipt.remote_id
    ```
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from govmedia.testing.sandbox import Sandbox
from govmedia.testing.server import SandboxServer

__all__ = ["govmedia_sandbox", "govmedia_sandbox_server"]


@pytest.fixture
def govmedia_sandbox() -> Sandbox:
    """A fresh in-process `Sandbox` of every built-in platform's fake."""
    return Sandbox()


@pytest.fixture
def govmedia_sandbox_server() -> Iterator[SandboxServer]:
    """A fresh sandbox served over real HTTP on 127.0.0.1 (a free port)."""
    with SandboxServer() as server:
        yield server
