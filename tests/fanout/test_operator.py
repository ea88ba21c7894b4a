"""The operator's day: settle what is in doubt, retract across the matrix, refuse changed content.

Issue 14, items 1 (resolve), 6 (retract) and 15 (the same key with other content).
"""

import pytest

import govmedia as gm
from govmedia.testing import Sandbox

FAST = gm.RetryPolicy.testing()


@pytest.fixture
def sandbox():
    return Sandbox(platforms=["webhook", "mastodon"])


@pytest.fixture
def journal(journal_at):
    """SQLite and PostgreSQL (`journal_at`): the operator's methods behave the same on both."""
    with gm.Journal(journal_at) as j:
        yield j


def in_doubt(journal, post, channel):
    """A delivery a finished run left unknown (its create's answer was lost)."""
    run = journal.start_run(post_key=post.key, title=post.title, mode="broadcast",
                            planned=[(channel, "member")], content_hash=post.content_hash)
    assert journal.claim(run, post.key, channel, expect="pending", idem_key="k")
    journal.settle(run, post.key, channel, state="unknown", error=gm.DeliveryUnknown(
        "answer lost", platform=channel.platform, account=channel.account))
    journal.finish_run(run, {"unknown": 1})
    return run


# --------------------------------------------------------------------- resolve


def test_resolving_as_published_makes_a_rerun_skip_it_and_is_audited(sandbox, journal):
    post = gm.Post(text="国资小新：通知", key="resolve-1")
    channel = sandbox.channel("mastodon", "m0")
    run = in_doubt(journal, post, channel)
    with gm.Client(http=sandbox.client(), journal=journal) as client:
        settled = client.resolve(run, "m0", "published", remote_id="1099",
                                 url="https://mastodon.example/@m0/1099", by="张三")
        assert settled.state == "published" and settled.receipt.remote_id == "1099"
        again = client.fan_out(post, [channel])
    assert again.summary() == {"skipped": 1}
    assert sandbox["mastodon"].posts() == []  # nothing was sent
    [record] = [a for a in journal.audit_trail(post.key) if a["kind"] == "resolved"]
    assert record["actor"] == "张三" and "unknown -> published" in record["detail"]
    assert any(r["state"] == "published" for r in journal.run_rows(run))


def test_resolving_as_failed_makes_a_rerun_send_it(sandbox, journal):
    post = gm.Post(text="国资小新：通知", key="resolve-2")
    channel = sandbox.channel("mastodon", "m0")
    run = in_doubt(journal, post, channel)
    with gm.Client(http=sandbox.client(), journal=journal, retry=FAST) as client:
        assert client.resolve(run[:6], "mastodon:m0", "failed", by="李四").state == "failed"
        again = client.fan_out(post, [channel])
    assert again.summary() == {"published": 1}
    assert len(sandbox["mastodon"].posts()) == 1


def test_only_what_is_in_doubt_can_be_resolved(sandbox, journal):
    post = gm.Post(text="国资小新：通知", key="resolve-3")
    channel = sandbox.channel("mastodon", "m0")
    with gm.Client(http=sandbox.client(), journal=journal) as client:
        report = client.fan_out(post, [channel])
        with pytest.raises(gm.ConfigError, match="it is published, not in doubt"):
            client.resolve(report, channel, "failed")
        with pytest.raises(gm.ConfigError, match="no delivery of this post on an account named"):
            client.resolve(report, "nobody", "failed")
        with pytest.raises(gm.ConfigError, match=r"no run .* match"):
            client.resolve("zzzz", channel, "failed")
        with pytest.raises(gm.ConfigError, match="'published' or 'failed'"):
            client.resolve(report, channel, "deleted")


def test_a_delivery_a_live_run_is_sending_cannot_be_resolved(sandbox, journal):
    post = gm.Post(text="国资小新：通知", key="resolve-4")
    channel = sandbox.channel("mastodon", "m0")
    run = journal.start_run(post_key=post.key, title=None, mode="broadcast",
                            planned=[(channel, "member")])
    journal.claim(run, post.key, channel, expect="pending", idem_key="k")  # this process: alive
    with pytest.raises(gm.ConfigError, match="its run is still sending it"):
        gm.Client(journal=journal).resolve(run, channel, "failed")


def test_published_needs_where_it_was_found(sandbox, journal):
    post = gm.Post(text="国资小新：通知", key="resolve-5")
    channel = sandbox.channel("mastodon", "m0")
    run = in_doubt(journal, post, channel)
    with pytest.raises(gm.ConfigError, match="needs url= or remote_id="):
        gm.Client(journal=journal).resolve(run, channel, "published")


# --------------------------------------------------------------------- retract


def test_retract_deletes_what_was_published_and_says_what_it_cannot(sandbox, journal):
    post = gm.Post(text="国资小新：更正前的通知", key="retract-1")
    channels = [sandbox.channel("mastodon", "m0"), sandbox.channel("mastodon", "m1"),
                sandbox.channel("webhook", "cms")]
    with gm.Client(http=sandbox.client(), journal=journal) as client:
        report = client.fan_out(post, channels)
        assert report.summary() == {"published": 3}
        gone = client.retract(report, by="张三")
        states = {d.channel.id: d.state for d in gone.deliveries}
        assert states == {"mastodon:m0": "deleted", "mastodon:m1": "deleted",
                          "webhook:cms": "unsupported"}
        [manual] = gone.by_state("unsupported")
        assert "cannot delete through its API" in str(manual.error)
        assert sandbox["mastodon"].posts() == []
        assert gone.mode == "retract" and not gone.ok  # the webhook needs a hand

        # Twice is safe; a re-run of the post does not publish it again.
        twice = client.retract(report)
        assert {d.channel.id: d.state for d in twice.deliveries}["mastodon:m0"] == "skipped"
        rerun = client.fan_out(post, channels)
    assert {d.channel.id: d.state for d in rerun.deliveries}["mastodon:m0"] == "skipped"
    assert "takes a new post key" in str(rerun.deliveries[0].error)
    assert sandbox["mastodon"].posts() == []
    assert [a["actor"] for a in journal.audit_trail(post.key) if a["kind"] == "retracted"] == [
        "张三", "张三"]


def test_retract_by_run_id_takes_credentials_from_the_matrix(sandbox, journal):
    post = gm.Post(text="国资小新：通知", key="retract-2")
    matrix = gm.Matrix(hub=sandbox.channel("mastodon", "hub"),
                       members=(sandbox.channel("mastodon", "m0"),))
    with gm.Client(http=sandbox.client(), journal=journal) as client:
        report = client.fan_out(post, matrix)
        without = client.retract(report.run_id)
        assert without.summary() == {"failed": 2}
        assert "pass matrix=" in str(without.deliveries[0].error)
        gone = client.retract(report.run_id, matrix=matrix)
    assert [d.channel.account for d in gone.deliveries] == ["hub", "m0"]  # the hub first
    assert gone.summary() == {"deleted": 2}


def test_retract_leaves_what_is_in_doubt_to_a_human(sandbox, journal):
    post = gm.Post(text="国资小新：通知", key="retract-3")
    channel = sandbox.channel("mastodon", "m0")
    run = in_doubt(journal, post, channel)
    gone = gm.Client(http=sandbox.client(), journal=journal).retract(run, matrix=[channel])
    [d] = gone.deliveries
    assert d.state == "failed" and isinstance(d.error, gm.DeliveryUnknown)
    assert "check the account by hand" in str(d.error)


@pytest.mark.anyio
async def test_async_retract_and_resolve(sandbox, journal):
    post = gm.Post(text="国资小新：通知", key="retract-4")
    channels = [sandbox.channel("mastodon", f"m{i}") for i in range(3)]
    async with gm.AsyncClient(http=sandbox.async_client(), journal=journal) as client:
        report = await client.fan_out(post, channels)
        gone = await client.retract(report)
    assert gone.summary() == {"deleted": 3}
    assert sandbox["mastodon"].posts() == []


def test_delete_of_a_report_points_to_retract(sandbox):
    report = gm.Report(post_key="k")
    with pytest.raises(gm.ConfigError, match=r"use retract\(report\)"):
        gm.Client(journal=False).delete(report)


# --------------------------------------------------------------------- changed content


def test_the_same_key_with_other_content_is_refused_naming_both_versions(sandbox, journal):
    channels = [sandbox.channel("mastodon", "m0"), sandbox.channel("mastodon", "m1")]
    first = gm.Post(text="国资小新：发布会于周三举行", key="notice-7")
    fixed = gm.Post(text="国资小新：发布会于周四举行", key="notice-7")  # a typo fixed
    with gm.Client(http=sandbox.client(), journal=journal) as client:
        client.fan_out(first, channels[:1])
        with pytest.raises(gm.ConfigError) as info:
            client.fan_out(fixed, channels)
        message = str(info.value)
        assert first.content_hash[:12] in message and fixed.content_hash[:12] in message
        assert "mastodon:m0" in message and "retract" in message
        assert len(sandbox["mastodon"].posts()) == 1  # nothing more was sent

        allowed = client.fan_out(fixed, channels, changed="allow")
    assert {d.channel.account: d.state for d in allowed.deliveries} == {
        "m0": "skipped", "m1": "published"}
    [new] = sandbox["mastodon"].posts("m1")
    assert "周四" in new["content"]
    assert any(a["kind"] == "content_changed" for a in journal.audit_trail("notice-7"))


def test_changed_takes_only_refuse_or_allow(sandbox, journal):
    with pytest.raises(gm.ConfigError, match="changed must be"):
        gm.Client(journal=journal).fan_out(gm.Post(text="x"), [sandbox.channel("mastodon")],
                                           changed="yes")
