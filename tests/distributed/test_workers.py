"""Fan-outs sent by `govmedia worker` processes over real Redis and PostgreSQL.

The submitter writes the run to the journal and queues delivery ids only;
workers load the matrix themselves. Exactly-once is checked on the fakes
(one post per account), rate budgets on the fakes' request timestamps.
"""


import pytest

import govmedia as gm
from conftest import Sandbox, Workers, matrix_toml, to_channel

pytestmark = pytest.mark.distributed


@pytest.fixture
def sandbox():
    box = Sandbox(["webhook", "mastodon"])
    yield box
    box.stop()


def test_workers_send_a_run_queued_by_id_and_the_client_waits_for_the_report(
        sandbox, redis_url, pg_journal, tmp_path):
    channels = sandbox.channels("webhook", [f"w{i}" for i in range(20)]) + sandbox.channels(
        "mastodon", [f"m{i}" for i in range(20)])
    (tmp_path / "matrix.toml").write_text(matrix_toml(channels), encoding="utf-8")
    workers = Workers(matrix=tmp_path / "matrix.toml", journal=pg_journal, broker=redis_url,
                      rate_store=redis_url, rate_limits=[], log_dir=tmp_path)
    workers.start(2)
    try:
        seen = []
        post = gm.Post(text="国资小新：分布式发布")
        with gm.Client(journal=pg_journal) as client:
            report = client.fan_out(post, [to_channel(c) for c in channels], executor=redis_url,
                                    progress=seen.append)
            assert report.summary() == {"published": 40}, workers.logs()
            assert len(seen) == 40
            assert [d.channel.account for d in report.deliveries][:2] == ["w0", "w1"]
            assert report.deliveries[25].receipt.remote_id
            # The same post again: nothing is sent twice.
            again = client.fan_out(post, [to_channel(c) for c in channels], executor=redis_url)
            assert again.summary() == {"skipped": 40}
    finally:
        workers.stop()
    assert len(sandbox.posts("webhook")) == 20 and len(sandbox.posts("mastodon")) == 20
