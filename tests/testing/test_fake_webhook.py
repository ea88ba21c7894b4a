"""The webhook fake is strict: it verifies like the reference receiver."""

import httpx

from govmedia.testing import FakeWebhook


def test_rejects_what_a_receiver_rejects():
    fake = FakeWebhook()
    ch = fake.channel("cms")
    http = httpx.Client(transport=httpx.MockTransport(fake))
    url = ch.options["url"]
    assert http.post(url, json={"type": "post.published"}).status_code == 400  # no headers
    bad = http.post(url, json={"type": "post.published"}, headers={
        "webhook-id": "msg_1", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"})
    assert bad.status_code == 400  # too old
    import time

    forged = http.post(url, json={"type": "post.published"}, headers={
        "webhook-id": "msg_1", "webhook-timestamp": str(int(time.time())), "webhook-signature": "v1,AAAA"})
    assert forged.status_code == 401
    assert fake.events() == []


def test_gone_endpoint_answers_410():
    fake = FakeWebhook()
    fake.endpoint("old", gone=True)
    http = httpx.Client(transport=httpx.MockTransport(fake))
    assert http.post(f"{fake.base_url}/hooks/old", content=b"{}").status_code == 410
