"""Amplify mode across platforms: boosts where possible, a link to the hub elsewhere."""

import anyio

import govmedia as gm
from govmedia.testing import Sandbox

POST = gm.Post(title="一带一路看国企", text="一带一路看国企：中老铁路开通一周年")


def matrix(sandbox):
    hub = sandbox.channel("mastodon", "sasac")
    members = [sandbox.channel("mastodon", "cnpc"), sandbox.channel("mastodon", "sinopec"),
               sandbox.channel("webhook", "crcc-site")]
    return gm.Matrix(hub=hub, members=members)


def check(sandbox, report):
    assert report.ok, str(report)
    hub_receipt = report.deliveries[0].receipt
    mastodon = sandbox["mastodon"]
    for account in ("cnpc", "sinopec"):
        [boost] = mastodon.posts(account)
        assert boost["reblog"]["id"] == hub_receipt.remote_id  # a boost, not a copy
    [event] = sandbox["webhook"].posts("crcc-site")
    assert event["data"]["link"] == hub_receipt.url
    assert hub_receipt.url in event["data"]["text"]


def test_amplify_boosts_on_the_same_instance_and_links_elsewhere():
    sandbox = Sandbox(platforms=["mastodon", "webhook"])
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as client:
        report = client.fan_out(POST, matrix(sandbox), mode="amplify")
    check(sandbox, report)


def test_amplify_async():
    sandbox = Sandbox(platforms=["mastodon", "webhook"])

    async def main():
        async with gm.AsyncClient(http=sandbox.async_client(), retry=gm.RetryPolicy.testing()) as client:
            return await client.fan_out(POST, matrix(sandbox), mode="amplify")

    check(sandbox, anyio.run(main))


def test_amplify_rerun_boosts_once(tmp_path):
    sandbox = Sandbox(platforms=["mastodon", "webhook"])
    m = matrix(sandbox)
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db") as client:
        client.fan_out(POST, m, mode="amplify")
        again = client.fan_out(POST, m, mode="amplify")
    assert again.summary() == {"skipped": 4}
    assert len(sandbox["mastodon"].posts()) == 3
