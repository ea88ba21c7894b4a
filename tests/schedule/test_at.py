"""``fan_out(at=...)`` in one process: the run waits in the journal, native schedules go now.

No servers: the sandbox in-process and a SQLite journal. The workers' side
of scheduling is in tests/distributed.
"""

import datetime as dt
import math
import time

import pytest

import govmedia as gm
from govmedia.testing import Sandbox


@pytest.fixture
def sandbox():
    box = Sandbox(platforms=["webhook", "mastodon"])
    # The instance's clock reads ten minutes earlier: a time 2 s ahead is far
    # enough ahead for Mastodon's own schedule (5 minutes at least).
    box["mastodon"].clock = lambda: time.time() - 600
    return box


def test_a_run_at_a_time_waits_and_native_channels_are_scheduled_at_once(sandbox, tmp_path):
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
    channels = [sandbox.channel("webhook", "w0"), sandbox.channel("mastodon", "m0", native_schedule=True),
                sandbox.channel("mastodon", "m1")]
    seen = []
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db") as client:
        report = client.fan_out(gm.Post(text="国资委新闻发布会明早七点举行"), channels, at=at,
                                progress=lambda d: seen.append((dt.datetime.now(dt.UTC), d)))
        run = client.journal.find_run(report.run_id)
    assert report.summary() == {"published": 3}
    states = {d.channel.account: d.receipt.state for d in report.deliveries}
    assert states == {"w0": "published", "m0": "scheduled", "m1": "published"}
    when = {d.channel.account: t for t, d in seen}
    assert when["m0"] < at <= when["w0"] and at <= when["m1"]  # the native one went at once
    [scheduled] = sandbox["mastodon"].scheduled.values()
    assert scheduled["scheduled_at"].startswith(at.isoformat()[:19])
    assert [p["account"]["acct"] for p in sandbox["mastodon"].posts()] == ["m1"]
    assert run.state == "queued" and run.due_at and run.finished_at


def test_at_needs_a_time_zone_a_shared_journal_and_a_platform_that_schedules(sandbox, tmp_path):
    naive = dt.datetime.now() + dt.timedelta(minutes=1)  # noqa: DTZ005 - the point of the test
    post = gm.Post(text="x")
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db") as client:
        with pytest.raises(gm.ConfigError, match="time zone"):
            client.fan_out(post, [sandbox.channel("webhook")], at=naive)
        with pytest.raises(gm.ConfigError, match="executor="):
            client.fan_out(post, [sandbox.channel("webhook")], wait=False)
        with pytest.raises(gm.ConfigError, match="cannot schedule a post itself"):
            client.fan_out(post, [sandbox.channel("webhook", native_schedule=True)],
                           at=dt.datetime.now(dt.UTC))
    with gm.Client(http=sandbox.client(), journal=":memory:") as client, pytest.raises(
            gm.ConfigError, match="other processes can read"):
        client.fan_out(post, [sandbox.channel("webhook")], at=dt.datetime.now(dt.UTC))


@pytest.mark.anyio
async def test_async_client_at(sandbox, tmp_path):
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.5)
    async with gm.AsyncClient(http=sandbox.async_client(), journal=tmp_path / "j.db") as client:
        report = await client.fan_out(gm.Post(text="国资小新：定时"), [sandbox.channel("webhook", "w0")],
                                      at=at)
    assert report.summary() == {"published": 1}
    assert report.deliveries[0].finished_at >= at


def test_a_scheduled_amplify_run_posts_the_hub_first_then_the_members_repost_it(sandbox, tmp_path):
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.3)
    hub = sandbox.channel("mastodon", "hub")
    members = [sandbox.channel("mastodon", f"m{i}") for i in range(3)] + [
        sandbox.channel("webhook", "cms")]
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db") as client:
        report = client.fan_out(gm.Post(text="国资小新：转发"), gm.Matrix(hub=hub, members=members),
                                mode="amplify", at=at)
    assert report.summary() == {"published": 5}
    assert [d.channel.account for d in report.deliveries] == ["hub", "m0", "m1", "m2", "cms"]
    statuses = sandbox["mastodon"].posts()
    boosts = [s for s in statuses if s.get("reblog")]
    assert len(boosts) == 3 and {b["reblog"]["account"]["acct"] for b in boosts} == {"hub"}
    first_webhook = sandbox["webhook"].log[0].at
    assert sandbox["mastodon"].log[0].at < first_webhook  # the hub went first


def test_a_run_that_comes_due_hands_each_delivery_out_once(sandbox, tmp_path, monkeypatch):
    # When the time comes, the deliveries go straight to consumers already
    # waiting; the sweep for lost work must not take them for lost (it did:
    # each was handed out twice, and one still in flight was sent again,
    # attempts=2). Counted where the hand-outs arrive: a second one that
    # finds the delivery settled leaves no other trace.
    from govmedia import _remote

    handed: dict[int, int] = {}
    deliver = _remote.Runner.deliver

    async def counted(self, run_id, delivery_id):
        handed[delivery_id] = handed.get(delivery_id, 0) + 1
        return await deliver(self, run_id, delivery_id)

    monkeypatch.setattr(_remote.Runner, "deliver", counted)
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.2)
    channels = [sandbox.channel("mastodon", f"m{i}") for i in range(3)] + [
        sandbox.channel("webhook", f"w{i}") for i in range(3)]
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db") as client:
        report = client.fan_out(gm.Post(text="国资委：招聘季启动"), channels, at=at)
    assert report.summary() == {"published": 6}
    assert [d.attempts for d in report.deliveries] == [1] * 6
    assert sorted(handed.values()) == [1] * 6
    assert len(sandbox["mastodon"].requests("/api/v1/statuses", "POST")) == 3


# --------------------------------------------------------------------------- Facebook's own schedule


@pytest.fixture
def an_hour_early(monkeypatch):
    """The Graph API and govmedia's check of its window read the clock an hour earlier.

    A time 1.5 s ahead is then an hour ahead for Facebook's window (10 minutes
    to 30 days), while the test waits 1.5 s.
    """
    import govmedia.platforms.facebook as facebook

    monkeypatch.setattr(facebook, "_now", lambda: time.time() - 3600)
    box = Sandbox(platforms=["webhook", "facebook"])
    box["facebook"].clock = lambda: time.time() - 3600
    return box


def test_a_native_facebook_channel_is_scheduled_at_once_and_kept_off_the_feed(an_hour_early,
                                                                              tmp_path):
    sandbox, fake = an_hour_early, an_hour_early["facebook"]
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
    channels = [sandbox.channel("webhook", "w0"),
                sandbox.channel("facebook", "f0", native_schedule=True)]
    seen = []
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db") as client:
        report = client.fan_out(gm.Post(text="国资委新闻发布会明早七点举行"), channels, at=at,
                                progress=lambda d: seen.append((dt.datetime.now(dt.UTC), d)))
    assert report.summary() == {"published": 2}
    states = {d.channel.account: d.receipt.state for d in report.deliveries}
    assert states == {"w0": "published", "f0": "scheduled"}
    when = {d.channel.account: t for t, d in seen}
    assert when["f0"] < at <= when["w0"]  # the native one went at once
    [waiting] = fake.scheduled("f0")
    f0 = next(d.receipt for d in report.deliveries if d.channel.account == "f0")
    assert waiting["id"] == f0.remote_id and f0.url is None
    assert waiting["scheduled_publish_time"] == math.ceil(at.timestamp())
    assert fake.posts() == []  # nothing live on the Page's feed
    [create] = [r for r in fake.requests(fake.create_path, method="POST") if r.account == "f0"]
    assert create.status == 200


def test_a_lost_scheduled_facebook_create_is_found_again_and_never_sent_twice(an_hour_early,
                                                                              tmp_path):
    sandbox, fake = an_hour_early, an_hour_early["facebook"]
    post = gm.Post(text="国资小新：定时发布")
    ch = sandbox.channel("facebook", "f0", native_schedule=True)
    fake.inject("timeout_after", path=fake.create_path, method="POST")  # made, answer lost
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.5)
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db",
                   retry=gm.RetryPolicy.testing()) as client:
        first = client.fan_out(post, [ch], at=at)
        # A plain re-run: the time of the lost create, saved with its claim,
        # sends the look-up to the Page's scheduled posts.
        again = client.fan_out(post, [ch])
        third = client.fan_out(post, [ch], at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.5))
    assert first.deliveries[0].state == "unknown"
    [waiting] = fake.scheduled("f0")
    assert again.deliveries[0].state == "published"
    assert (again.deliveries[0].receipt.state, again.deliveries[0].receipt.remote_id) == (
        "scheduled", waiting["id"])
    assert third.deliveries[0].state == "skipped"
    assert len(fake.requests(fake.create_path, method="POST")) == 1  # created once, found once
    assert fake.requests(fake.scheduled_path) and fake.posts("f0") == []  # looked up, not live


def test_a_time_too_soon_for_facebook_is_refused_before_anything_is_sent(tmp_path):
    sandbox = Sandbox(platforms=["webhook", "facebook"])
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.5)  # under Facebook's 10 minutes
    channels = [sandbox.channel("webhook", "w0"),
                sandbox.channel("facebook", "f0", native_schedule=True)]
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db") as client:
        report = client.fan_out(gm.Post(text="国资小新"), channels, at=at)
    f0 = next(d for d in report.deliveries if d.channel.account == "f0")
    assert (f0.state, f0.attempts) == ("invalid", 0)
    assert "scheduled_publish_time" in str(f0.error) and "seconds ahead" in str(f0.error)
    assert "10 minutes to 30 days ahead" in str(f0.error)
    assert {d.channel.account: d.state for d in report.deliveries}["w0"] == "published"
    assert sandbox["facebook"].requests() == []


# --------------------------------------------------------------------------- YouTube: status.publishAt

MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


@pytest.fixture
def youtube():
    return Sandbox(platforms=["webhook", "youtube"])


def ceil_second(at):
    """The time as publishAt carries it: UTC, Z, rounded up to the second (never earlier)."""
    up = (at + dt.timedelta(microseconds=999_999)).replace(microsecond=0)
    return up.isoformat().replace("+00:00", "Z")


def clip_post():
    clip = gm.Media.from_bytes(MP4 + bytes(2000), filename="railway.mp4")
    return gm.Post(title="中老铁路开通一周年", text="一年来累计发送旅客850万人次", media=(clip,))


def test_a_youtube_channel_with_native_schedule_is_uploaded_at_once_private_with_publish_at(youtube, tmp_path):
    fake = youtube["youtube"]
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
    channels = [youtube.channel("webhook", "w0"),
                youtube.channel("youtube", "@sasac", native_schedule=True, privacy_status="public")]
    seen = []
    with gm.Client(http=youtube.client(), journal=tmp_path / "j.db") as client:
        report = client.fan_out(clip_post(), channels, at=at,
                                progress=lambda d: seen.append((dt.datetime.now(dt.UTC), d)))
    assert report.summary() == {"published": 2}
    states = {d.channel.account: d.receipt.state for d in report.deliveries}
    assert states == {"w0": "published", "@sasac": "scheduled"}
    when = {d.channel.account: t for t, d in seen}
    assert when["@sasac"] < at <= when["w0"]  # the native one went at once
    [start] = fake.requests(r"^/upload/youtube/v3/videos$")
    assert start.at < at.timestamp()
    status = report.deliveries[1].receipt.raw["status"]
    assert status["privacyStatus"] == "private"  # not public before its time
    assert status["publishAt"] == ceil_second(at)
    fake.clock = lambda: at.timestamp() + 2  # its time has come: YouTube publishes it
    [live] = fake.posts("@sasac")
    assert live["status"]["privacyStatus"] == "public" and fake.scheduled() == []


@pytest.mark.parametrize("privacy", [{}, {"privacy_status": "unlisted"}])
def test_native_schedule_on_a_youtube_channel_that_is_not_public_is_refused_when_submitted(youtube, tmp_path,
                                                                                           privacy):
    # YouTube makes a scheduled video public at its time: a private (the
    # default) or unlisted channel did not ask for that.
    at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    with gm.Client(http=youtube.client(), journal=tmp_path / "j.db") as client, pytest.raises(
            gm.ConfigError, match="set privacy_status 'public', or remove native_schedule"):
        client.fan_out(clip_post(), [youtube.channel("youtube", "@sasac", native_schedule=True, **privacy)],
                       at=at)
    assert youtube["youtube"].requests() == []


def test_a_rerun_of_a_natively_scheduled_youtube_delivery_finishes_its_video_never_a_second(youtube, tmp_path):
    fake = youtube["youtube"]
    ch = youtube.channel("youtube", "@sasac", native_schedule=True, privacy_status="public")
    fake.inject("server_error", path=r"^/youtube/v3/videos$", method="GET", times=10)
    journal = tmp_path / "j.db"
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.5)
    with gm.Client(http=youtube.client(), journal=journal, retry=gm.RetryPolicy.testing()) as client:
        first = client.fan_out(clip_post(), [ch], at=at)
    [delivery] = first.deliveries
    [made] = fake.videos  # made, then its processing could not be read
    assert delivery.state == "unknown" and isinstance(delivery.error, gm.DeliveryUnknown)
    assert delivery.error.known["video_id"] == made  # what an operator needs to look it up
    fake.faults.clear()
    fake.clock = lambda: at.timestamp() + 2  # the first run's time has passed
    with gm.Client(http=youtube.client(), journal=journal, retry=gm.RetryPolicy.testing()) as client:
        second = client.fan_out(clip_post(), [ch], at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.5))
    [again] = second.deliveries
    assert again.state == "published" and again.receipt.remote_id == made
    # YouTube published the video the first run scheduled, at its time.
    assert again.receipt.state == "published" and fake.posts()[0]["status"]["privacyStatus"] == "public"
    assert len(fake.videos) == 1 and len(fake.sessions) == 1
