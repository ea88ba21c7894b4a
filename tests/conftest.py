import logging

import pytest

# Every journal test runs on both backends: SQLite, and PostgreSQL started by
# the tests themselves (tests/servers.py; marked `distributed`).
JOURNALS = ["sqlite", pytest.param("postgres", marks=pytest.mark.distributed)]


@pytest.fixture(scope="session")
def postgres_server():
    """A private PostgreSQL for the session (started on first use, stopped at the end)."""
    from servers import Postgres

    server = Postgres().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server():
    """A private Redis for the session, on a unix socket (started on first use)."""
    from servers import Redis

    server = Redis().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=JOURNALS)
def journal_at(request, tmp_path):
    """Where this test's journal lives: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        return str(tmp_path / "journal.db")
    return request.getfixturevalue("postgres_server").fresh()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """No test sees the developer's proxies or GOVMEDIA_* settings."""
    import os

    for name in list(os.environ):
        if name in ("GOVMEDIA_JOURNAL", "GOVMEDIA_TOKENS"):
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
