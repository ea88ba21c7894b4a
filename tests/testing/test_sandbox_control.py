"""The served sandbox's control calls (``/_sandbox/...``), as another process makes them."""

import httpx

import govmedia as gm
from govmedia.testing.samples import CLIP_MP4, COVER_JPEG
from govmedia.testing.server import SandboxServer


def test_expire_tokens_over_http_makes_the_next_publish_refresh_its_token():
    with SandboxServer(platforms=["kuaishou", "webhook"]) as server, \
            httpx.Client(base_url=server.base_url) as http:
        channel = gm.Channel(**http.post("/_sandbox/channels",
                                         json={"platform": "kuaishou", "account": "hub"}).json())
        assert http.post("/_sandbox/expire-tokens", json={"platform": "kuaishou"}).json() == {"ok": True}
        post = gm.Post(text="国资小新：令牌过期", media=(gm.Media.from_bytes(CLIP_MP4, filename="clip.mp4"),),
                       cover=gm.Media.from_bytes(COVER_JPEG, filename="cover.jpg"))
        with gm.Client(retry=gm.RetryPolicy.testing()) as client:
            client.publish(post, channel)
        requests = http.get("/_sandbox/requests/kuaishou").json()
        assert [r[2] for r in requests].count("/oauth2/refresh_token") == 1
        assert len(http.get("/_sandbox/posts/kuaishou").json()) == 1
        # A fake that keeps no expiring tokens says so; an unknown one too.
        refused = http.post("/_sandbox/expire-tokens", json={"platform": "webhook"})
        assert refused.status_code == 400 and "no expiring tokens" in refused.json()["error"]
        assert http.post("/_sandbox/expire-tokens", json={"platform": "nowhere"}).status_code == 400
