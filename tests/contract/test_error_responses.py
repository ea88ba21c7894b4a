"""No platform's credentials survive on an error's response, on either client.

An error keeps the answer it came with (``exc.response``), and the answer
keeps the request it answers: the request as sent, with the token in the
query (WeChat, Kuaishou), the path (Telegram), a header (every Bearer, Douyin's
``access-token``) or a form. Users log and print that object, so the request
it holds must be the masked copy, whatever the platform. Run against every
registered platform's fake with faults on its create.
"""

import anyio
import pytest

import govmedia as gm
from govmedia._secrets import PUBLIC_CREDENTIALS, mask
from govmedia.testing import Sandbox
from govmedia.testing.samples import sample_post

PLATFORMS = gm.platforms.available()
FAULTS = {
    "server_error": {"times": 20},
    "token_expired": {"times": 20},
    "rate_limit": {"times": 20, "retry_after": 100_000},  # above the wait cap: raised at once
}


def failure(name, client, fault):
    """The error a publish to *name*'s fake ends with when *fault* hits every create."""
    sandbox = Sandbox(platforms=[name])
    fake = sandbox[name]
    channel = sandbox.channel(name, "leak-acct")
    fake.inject(fault, path=fake.create_path, **FAULTS[fault])
    post = sample_post()
    if client == "sync":
        with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing(),
                       journal=False) as sync:
            with pytest.raises(gm.PlatformError) as caught:
                sync.publish(post, channel)
        return channel, caught.value

    async def main():
        async with gm.AsyncClient(http=sandbox.async_client(), retry=gm.RetryPolicy.testing(),
                                  journal=False) as aio:
            return await aio.publish(post, channel)

    with pytest.raises(gm.PlatformError) as caught:
        anyio.run(main)
    return channel, caught.value


def chain(error):
    """*error* and every error it came from (evolve keeps the cause)."""
    while error is not None:
        if isinstance(error, gm.PlatformError):
            yield error
        error = error.__cause__


@pytest.mark.parametrize("client", ["sync", "async"])
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("name", PLATFORMS)
def test_an_errors_response_holds_no_credential(name, fault, client):
    channel, error = failure(name, client, fault)
    secrets = [value for key, value in channel.credentials.items()
               if key not in PUBLIC_CREDENTIALS and isinstance(value, str) and len(value) >= 6]
    responses = [e.response for e in chain(error) if e.response is not None]
    assert responses, f"{name}: {type(error).__name__} carries no response"
    for response in responses:
        sent = response.request
        texts = [str(sent.url), *(f"{k}: {v}" for k, v in sent.headers.multi_items()),
                 sent.content.decode("utf-8", "replace")]
        for text in texts:
            for secret in secrets:
                assert secret not in text, (name, fault, text[:300])
            # Tokens fetched or refreshed on the way are registered secrets too.
            assert mask(text) == text, (name, fault, text[:300])
