"""The pytest plugin ships the sandbox as fixtures (entry point pytest11)."""

import httpx

import govmedia as gm


def test_sandbox_fixture(govmedia_sandbox):
    channel = govmedia_sandbox.channel("mastodon")
    with gm.Client(http=govmedia_sandbox.client(), retry=gm.RetryPolicy.testing()) as client:
        receipt = client.publish(gm.Post(text="发布会通知"), channel)
    assert govmedia_sandbox["mastodon"].posts()[0]["id"] == receipt.remote_id


def test_served_sandbox_fixture(govmedia_sandbox_server):
    channel = govmedia_sandbox_server.sandbox.channel("webhook", "cms")
    with gm.Client(retry=gm.RetryPolicy.testing()) as client:
        client.publish(gm.Post(text="over real HTTP"), channel)
    with httpx.Client(base_url=govmedia_sandbox_server.base_url) as http:
        assert len(http.get("/_sandbox/posts/webhook").json()) == 1
