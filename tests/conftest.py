import logging

import pytest


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """No test sees the developer's proxies or GOVMEDIA_* settings."""
    import os

    for name in list(os.environ):
        if name == "GOVMEDIA_JOURNAL":
            continue  # each test's own, set by govmedia's pytest plugin
        if name.startswith("GOVMEDIA_") or name.lower() in {"http_proxy", "https_proxy", "all_proxy"}:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def caplog_all(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog
