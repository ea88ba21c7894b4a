"""The fault matrix on Kuaishou: chunked uploads and a create nobody deduplicates, under chaos.

Random faults at 25 %, a link that drops, SIGKILLs mid-upload, re-runs with the
same journal: never two videos on an account, never a published delivery
without its video. Deliveries whose publish may have been applied and cannot
be found stay `unknown` (Kuaishou has no idempotency key).
"""

import pytest

from govmedia.testing.faultrun import FaultRun
from govmedia.testing.samples import CLIP_MP4

pytestmark = pytest.mark.integration

POST = """+++
title = "一带一路看国企：中老铁路开通一周年"
text = "一带一路看国企：中老铁路开通一周年，累计发送旅客850万人次"
cover = { path = "cover.jpg" }
media = [ { path = "clip.mp4" } ]
+++
# 中老铁路开通一周年
"""


class VideoRun(FaultRun):
    """FaultRun's matrix, with a video post and small fragments (something to resume)."""

    def _write_inputs(self, work, server, proxied):
        accounts = super()._write_inputs(work, server, proxied)
        (work / "post.md").write_text(POST, encoding="utf-8")
        (work / "clip.mp4").write_bytes(CLIP_MP4 * 20)
        matrix = (work / "matrix.toml").read_text(encoding="utf-8")
        matrix = matrix.replace('"poll_interval": 0.01', '"poll_interval": 0.01, "part_size": 4096, '
                                '"direct_max": 0').replace("poll_interval = 0.01", "poll_interval = "
                                                          "0.01, part_size = 4096, direct_max = 0")
        assert "part_size" in matrix
        (work / "matrix.toml").write_text(matrix, encoding="utf-8")
        return accounts


@pytest.mark.parametrize("seed", [0, 2])
def test_kuaishou_under_faults_and_kills_never_posts_twice_or_loses_a_post(tmp_path, seed):
    outcome = VideoRun(platforms=("kuaishou",), per_platform=8, fault_rate=0.25, cut_rate=0.03,
                       kills=2, seed=seed).run(tmp_path)
    assert outcome.duplicates == 0, outcome
    assert outcome.lost == 0, outcome
    assert outcome.failed == 0, outcome
    assert outcome.posts.get(1, 0) + outcome.posts.get(0, 0) == outcome.deliveries
