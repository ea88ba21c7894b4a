"""The contract every registered platform keeps, on both clients.

Run against each platform's strict fake: publish; 429 then success; an
expired token refreshed (or refused where tokens cannot be refreshed); a 5xx
and a timeout after sending, which end in one post (platforms that
deduplicate) or `unknown` (the rest), never two; delete.
"""

import anyio
import pytest

import govmedia as gm
from govmedia.testing import Sandbox
from govmedia.testing.samples import sample_post
from govmedia.testing.sandbox import FAKES

PLATFORMS = gm.platforms.available()


def test_every_registered_platform_has_a_fake():
    assert set(PLATFORMS) <= set(FAKES)


@pytest.fixture(params=PLATFORMS)
def setup(request):
    name = request.param
    sandbox = Sandbox(platforms=[name])
    fake = sandbox[name]
    channel = sandbox.channel(name, "contract-acct")
    return name, sandbox, fake, channel, gm.platforms.get(name).capabilities


@pytest.fixture(params=["sync", "async"])
def publish(request):
    """publish(sandbox, post, channel) on the sync or the async client."""

    def run(sandbox, post, channel, action="publish", arg=None):
        if request.param == "sync":
            with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as client:
                return getattr(client, action)(*(arg or (post, channel)))

        async def main():
            async with gm.AsyncClient(http=sandbox.async_client(), retry=gm.RetryPolicy.testing()) as client:
                return await getattr(client, action)(*(arg or (post, channel)))

        return anyio.run(main)

    return run


def live(fake, channel):
    return fake.posts(channel.account)


def test_publish(setup, publish):
    _, sandbox, fake, channel, _ = setup
    receipt = publish(sandbox, sample_post(), channel)
    assert receipt.channel == channel
    assert receipt.state in ("published", "pending", "draft")
    assert len(live(fake, channel)) == 1


def test_rate_limited_then_success(setup, publish):
    _, sandbox, fake, channel, _ = setup
    fake.inject("rate_limit", path=fake.create_path, retry_after=0)
    publish(sandbox, sample_post(), channel)
    assert len(live(fake, channel)) == 1


def test_expired_token(setup, publish):
    _, sandbox, fake, channel, caps = setup
    fake.inject("token_expired", path=fake.create_path)
    if caps.refresh:
        publish(sandbox, sample_post(), channel)
        assert len(live(fake, channel)) == 1
    else:
        with pytest.raises(gm.AuthError):
            publish(sandbox, sample_post(), channel)
        assert live(fake, channel) == []


@pytest.mark.parametrize("fault", ["server_error", "html_error"])
def test_5xx_on_create(setup, publish, fault):
    _, sandbox, fake, channel, caps = setup
    fake.inject(fault, path=fake.create_path)
    if caps.dedupe:
        publish(sandbox, sample_post(), channel)
        assert len(live(fake, channel)) == 1
    else:
        with pytest.raises(gm.DeliveryUnknown):
            publish(sandbox, sample_post(), channel)
        assert len(live(fake, channel)) <= 1


def test_busy_is_retried(setup, publish):
    _, sandbox, fake, channel, _ = setup
    fake.inject("busy", path=fake.create_path)
    try:
        publish(sandbox, sample_post(), channel)
    except gm.DeliveryUnknown:
        # A platform with no busy code of its own answers a bare 503: that
        # may have been applied, so only deduplicating platforms may resend.
        assert not gm.platforms.get(channel.platform).capabilities.dedupe
    else:
        assert len(live(fake, channel)) == 1


def test_timeout_before_send_is_retried(setup, publish):
    _, sandbox, fake, channel, _ = setup
    fake.inject("timeout_before", path=fake.create_path)
    publish(sandbox, sample_post(), channel)
    assert len(live(fake, channel)) == 1


def test_timeout_after_send_never_duplicates(setup, publish):
    _, sandbox, fake, channel, caps = setup
    fake.inject("timeout_after", path=fake.create_path)
    if caps.dedupe:
        publish(sandbox, sample_post(), channel)
    else:
        with pytest.raises(gm.DeliveryUnknown):
            publish(sandbox, sample_post(), channel)
    assert len(live(fake, channel)) == 1


def test_delete(setup, publish):
    _, sandbox, fake, channel, caps = setup
    receipt = publish(sandbox, sample_post(), channel)
    if not caps.delete:
        with pytest.raises(gm.ConfigError, match="cannot delete"):
            publish(sandbox, None, None, "delete", (receipt,))
        return
    publish(sandbox, None, None, "delete", (receipt,))
    assert live(fake, channel) == []


def test_metrics(setup, publish):
    _, sandbox, _, channel, caps = setup
    receipt = publish(sandbox, sample_post(), channel)
    if not caps.metrics:
        with pytest.raises(gm.ConfigError, match="no metrics"):
            publish(sandbox, None, None, "metrics", (receipt,))
        return
    metrics = publish(sandbox, None, None, "metrics", (receipt,))
    assert isinstance(metrics, gm.Metrics)


def test_wrong_credential_key_is_a_config_error(setup, publish):
    name, sandbox, _, channel, _ = setup
    bad = gm.Channel(platform=name, account=channel.account,
                     credentials={**channel.credentials, "not_a_key": "x"}, options=channel.options)
    with pytest.raises(gm.ConfigError, match="not_a_key"):
        publish(sandbox, sample_post(), bad)
