"""Threads of one client that send at once share one sender and one pool (nothing leaks).

`metrics(report)` and `retract` send from a thread pool; each thread's first
request found no sender yet and made its own, and all but one were never
closed (unclosed sockets after `govmedia retract`).
"""

import time

import httpcore

import govmedia as gm
import govmedia._pool as pool_module
from govmedia.testing.server import SandboxServer


def test_threads_sending_at_once_open_one_sender_and_one_pool(monkeypatch):
    senders, pools = [], []
    real_sender_init = pool_module.PoolSender.__init__
    real_pool = httpcore.ConnectionPool

    def slow_sender_init(self, *args, **kwargs):
        time.sleep(0.05)  # widen the window every thread would have raced through
        senders.append(self)
        real_sender_init(self, *args, **kwargs)

    def slow_pool(*args, **kwargs):
        time.sleep(0.05)
        made = real_pool(*args, **kwargs)
        pools.append(made)
        return made

    monkeypatch.setattr(pool_module.PoolSender, "__init__", slow_sender_init)
    monkeypatch.setattr(pool_module.httpcore, "ConnectionPool", slow_pool)
    with SandboxServer(platforms=["mastodon"]) as server:
        channels = [server.sandbox.channel("mastodon", f"m{i}") for i in range(6)]
        with gm.Client(http=server.sandbox.client(), journal=False, concurrency=6) as seeding:
            report = seeding.fan_out(gm.Post(text="国资小新：通知"), channels)
        assert report.ok
        with gm.Client(journal=False, concurrency=6) as client:  # its own sender, opened lazily
            metrics = client.metrics(report)
    assert all(row["error"] is None for row in metrics.rows)
    assert len(senders) == 1 and len(pools) == 1
