"""Before a campaign: verify() checks every channel live, render() previews (issue 14, items 7-8)."""

import datetime as dt

import pytest

import govmedia as gm
from govmedia.testing import Sandbox
from govmedia.testing.samples import sample_post

PLATFORMS = ["wechat_oa", "weibo", "mastodon", "webhook", "x", "bluesky", "telegram",
             "matrix_chat", "wordpress", "kuaishou", "facebook", "douyin", "bilibili"]


@pytest.fixture
def sandbox():
    return Sandbox(platforms=PLATFORMS)


def test_every_channel_of_a_matrix_is_checked_without_posting(sandbox):
    matrix = gm.Matrix(hub=sandbox.channel("wechat_oa", "gh_hub"),
                       members=tuple(sandbox.channel(p, f"{p}-1") for p in PLATFORMS[1:]))
    with gm.Client(http=sandbox.client(), journal=False) as client:
        health = client.verify(matrix)
    assert [h.channel for h in health] == list(matrix)
    assert all(h.ok for h in health), [str(h) for h in health if not h.ok]
    checked = {h.channel.platform: h.checked for h in health}
    assert checked["webhook"] is False  # cannot be checked without posting: no request
    assert all(v for p, v in checked.items() if p != "webhook")
    for name in PLATFORMS:  # nothing was published anywhere
        assert sandbox[name].posts() == [], name
    weibo = next(h for h in health if h.channel.platform == "weibo")
    assert weibo.expires_at is not None and weibo.expires_at.tzinfo is not None
    assert weibo.expires_at > dt.datetime.now(dt.UTC)


def test_ip_whitelist_and_missing_permission_are_said_in_words(sandbox):
    fake = sandbox["wechat_oa"]
    outside = sandbox.channel("wechat_oa", "gh_outside")
    fake.app(outside.credentials["app_id"], whitelisted=False)
    no_rights = sandbox.channel("wechat_oa", "gh_unverified")
    fake.app(no_rights.credentials["app_id"], can_publish=False)
    with gm.Client(http=sandbox.client(), journal=False, retry=gm.RetryPolicy.testing()) as c:
        first, second = c.verify([outside, no_rights])
    assert not first.ok and "40164" in first.problem and "whitelist" in first.problem.lower()
    assert not second.ok and "48001" in second.problem


def test_a_revoked_token_is_a_problem_naming_what_to_do(sandbox):
    channel = sandbox.channel("weibo", "revoked")
    sandbox["weibo"].revoke("revoked")
    [health] = gm.Client(http=sandbox.client(), journal=False).verify(channel)
    assert not health.ok and health.problem.startswith("the credentials were refused")
    assert "authoris" in health.problem.lower()
    assert channel.credentials["access_token"] not in health.problem


@pytest.mark.parametrize("platform", ["douyin", "bilibili"])
def test_douyin_and_bilibili_are_checked_by_a_list_read_and_a_revoked_token_shows(sandbox, platform):
    fake = sandbox[platform]
    good, revoked = sandbox.channel(platform, "good"), sandbox.channel(platform, "revoked")
    fake.tokens.revoke(revoked.credentials["access_token"])  # the user took the app's rights back
    if platform == "douyin":
        fake.grants.pop(revoked.credentials["refresh_token"])  # Douyin keeps its own grants
    else:
        fake.tokens.revoke(revoked.credentials["refresh_token"])
    with gm.Client(http=sandbox.client(), journal=False, retry=gm.RetryPolicy.testing()) as c:
        ok, bad = c.verify([good, revoked])
    assert ok.ok and ok.checked
    assert not bad.ok and bad.checked and "authoris" in bad.problem.lower()
    assert revoked.credentials["access_token"] not in bad.problem
    assert fake.posts() == []


def test_an_unusable_channel_is_reported_not_raised(sandbox):
    bad = gm.Channel(platform="mastadon", account="typo")
    [health] = gm.Client(journal=False).verify([bad])
    assert not health.ok and not health.checked and "mastadon" in health.problem


@pytest.mark.anyio
async def test_async_verify(sandbox):
    channels = [sandbox.channel("mastodon", f"m{i}") for i in range(3)]
    async with gm.AsyncClient(http=sandbox.async_client(), journal=False) as client:
        health = await client.verify(channels)
    assert [h.ok for h in health] == [True, True, True]


# --------------------------------------------------------------------- render


def test_render_shows_what_publish_would_send_and_sends_nothing(sandbox):
    post = sample_post()
    with gm.Client(http=sandbox.client(), journal=False) as client:
        shown = {p: client.render(post, sandbox.channel(p, f"{p}-1")) for p in PLATFORMS}
    for name in PLATFORMS:
        assert sandbox[name].requests() == [], name
    assert all(r.ok for r in shown.values()), {p: r.problems for p, r in shown.items() if not r.ok}
    wechat = shown["wechat_oa"]
    assert wechat.fields["title"] == post.title and "<p" in wechat.fields["content"]
    assert wechat.html == wechat.fields["content"]
    assert "#" not in shown["weibo"].text  # statuses/share takes no #话题#
    assert shown["weibo"].fields["status"] == shown["weibo"].text
    assert shown["mastodon"].text.startswith(post.text[:10])


def test_render_carries_the_problems_check_finds(sandbox):
    post = gm.Post(text="x" * 600)
    shown = gm.Client(journal=False).render(post, sandbox.channel("mastodon"))
    assert not shown.ok and shown.problems[0].rule == "mastodon.text.max_length"
