"""The fault matrix, small: random faults at 30 %, a link that drops, SIGKILLs, re-runs.

Real processes and real HTTP on loopback (`govmedia.testing.faultrun`). The
bigger run, with the counts printed, is ``python benchmarks/fault_matrix.py``.
"""

import pytest

from govmedia.testing.faultrun import FaultRun

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("seed", [1, 2])
def test_faults_kills_and_a_flaky_link_never_post_twice_or_lose_a_post(tmp_path, seed):
    outcome = FaultRun(per_platform=8, fault_rate=0.3, cut_rate=0.03, kills=2, seed=seed).run(tmp_path)
    assert outcome.duplicates == 0, outcome
    assert outcome.lost == 0, outcome
    assert outcome.failed == 0, outcome          # everything that could be sent was sent
    assert outcome.unknown_live <= outcome.unknown
    assert outcome.posts.get(1, 0) + outcome.posts.get(0, 0) == outcome.deliveries
