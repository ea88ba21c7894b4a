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
from pathlib import Path

import pytest

from govmedia.testing.sandbox import Sandbox
from govmedia.testing.server import SandboxServer

__all__ = ["govmedia_journal", "govmedia_sandbox", "govmedia_sandbox_server"]


def pytest_configure(config: pytest.Config) -> None:  # noqa: ARG001 - pytest's hook signature
    """Code that runs while tests are collected gets a journal of the session's, too."""
    import os
    import tempfile

    # Always a fresh one: never the journal of whoever runs the tests.
    folder = tempfile.mkdtemp(prefix="govmedia-session-")
    os.environ["GOVMEDIA_JOURNAL"] = str(Path(folder) / "journal.db")
    os.environ["GOVMEDIA_TOKENS"] = str(Path(folder) / "tokens.json")  # the CLI's token file


@pytest.fixture(autouse=True)
def govmedia_journal(tmp_path_factory: pytest.TempPathFactory,
                     monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own journal (``$GOVMEDIA_JOURNAL``) and CLI token file, never the user's.

    Applied to every test where govmedia is installed: a client made with the
    default journal records in a fresh file of the test's own, so tests never
    see each other's runs, nor write to the journal of the person running them.
    """
    folder = tmp_path_factory.mktemp("govmedia-journal")
    path = folder / "journal.db"
    monkeypatch.setenv("GOVMEDIA_JOURNAL", str(path))
    monkeypatch.setenv("GOVMEDIA_TOKENS", str(folder / "tokens.json"))  # the CLI's, likewise
    return path


@pytest.fixture
def govmedia_sandbox() -> Sandbox:
    """A fresh in-process `Sandbox` of every built-in platform's fake."""
    return Sandbox()


@pytest.fixture
def govmedia_sandbox_server() -> Iterator[SandboxServer]:
    """A fresh sandbox served over real HTTP on 127.0.0.1 (a free port)."""
    with SandboxServer() as server:
        yield server
