"""Workers ready to send at about the same moment share one claim commit.

Each commit of the journal costs about as much for one claim as for sixty
(a transaction, its write-ahead log pages), so a fan-out whose workers each
committed alone spent most of its journal time on commits. Answers that come
in a loop turn apart are the usual case on a real network: the workers they
wake still join the batch that is open.
"""

import asyncio

import httpx
import pytest

import govmedia as gm
from govmedia.journal import Journal
from govmedia.testing import Sandbox


@pytest.mark.anyio
async def test_workers_whose_answers_come_a_turn_apart_share_one_commit(tmp_path, monkeypatch):
    sandbox = Sandbox(platforms=["webhook"])
    sizes: list[int] = []
    real_claim_many = Journal.claim_many

    def counted(self, post_key, claims, **kwargs):
        sizes.append(len(claims))
        return real_claim_many(self, post_key, claims, **kwargs)

    monkeypatch.setattr(Journal, "claim_many", counted)

    async def handle(request: httpx.Request) -> httpx.Response:
        account = int(request.url.path.rsplit("/m", 1)[-1])
        await asyncio.sleep(0) if account % 2 else None  # every other answer a turn later
        return sandbox(request)

    channels = [sandbox.channel("webhook", f"m{i}") for i in range(64)]
    async with gm.AsyncClient(http=httpx.AsyncClient(transport=httpx.MockTransport(handle)),
                              journal=tmp_path / "j.db", concurrency=8) as client:
        report = await client.fan_out(gm.Post(text="国资小新：通知", key="batches"), channels)
    assert report.ok and sum(sizes) == 64
    assert len(sizes) <= 64 // 8 + 1, sizes  # a commit per wave of eight, not per half-wave
