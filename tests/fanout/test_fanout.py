"""Fan-out: full reports under partial failure, re-runs, resume, amplify, dry run."""

import itertools

import pytest

import govmedia as gm
from govmedia.testing import Sandbox

POST = gm.Post(title="微招聘", text="央企2024届校园招聘启动 https://example.org/jobs")


def client(sandbox, **kw):
    return gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing(), **kw)


@pytest.fixture
def sandbox():
    return Sandbox(platforms=["webhook"])


def members(sandbox, n=8, **kw):
    return [sandbox.channel("webhook", f"member{i}", **kw) for i in range(n)]


def test_partial_failure_gives_a_full_report_and_no_exception(sandbox):
    chs = members(sandbox)
    hook = sandbox["webhook"]
    hook.inject("rate_limit", path="/member1$", retry_after=3600)     # beyond the wait cap
    hook.inject("server_error", path="/member2$", times=10)           # never recovers
    hook.endpoint("member3", gone=True)                                # 410
    hook.inject("rate_limit", path="/member4$", retry_after=0)        # recovers
    with client(sandbox) as c:
        report = c.fan_out(POST, chs)
    states = {d.channel.account: d.state for d in report.deliveries}
    assert states == {"member0": "published", "member1": "failed", "member2": "failed",
                      "member3": "failed", "member4": "published", "member5": "published",
                      "member6": "published", "member7": "published"}
    assert not report.ok
    assert report.summary() == {"published": 5, "failed": 3}
    errors = {d.channel.account: d.error for d in report.deliveries}
    assert isinstance(errors["member1"], gm.RateLimited) and errors["member1"].retry_after == 3600
    assert isinstance(errors["member2"], gm.TransientError)
    assert "opted out" in str(errors["member3"])
    assert [d.channel.account for d in report.deliveries] == [c.account for c in chs]  # plan order


def test_rerun_skips_published_and_retries_the_rest(sandbox, tmp_path):
    chs = members(sandbox, 4)
    sandbox["webhook"].inject("server_error", path="/member2$", times=4)  # every attempt of run 1
    with client(sandbox, journal=tmp_path / "j.db") as c:
        first = c.fan_out(POST, chs)
        assert first.summary() == {"published": 3, "failed": 1}
        second = c.fan_out(POST, chs)
    assert second.summary() == {"published": 1, "skipped": 3}
    skipped = second.by_state("skipped")
    assert all(d.receipt is not None and d.receipt.remote_id for d in skipped)
    assert len(sandbox["webhook"].posts()) == 4


def test_dry_run_sends_nothing_and_writes_nothing(sandbox, tmp_path):
    chs = members(sandbox, 3)
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", require_approvals=1) as c:
        refused = c.fan_out(POST, chs, dry_run=True)
        report = c.fan_out(POST.approve("张三"), chs, dry_run=True)
        assert c.journal.runs() == []
    assert sandbox["webhook"].log == []
    assert report.summary() == {"pending": 3} and report.ok
    assert refused.summary() == {"invalid": 3} and not refused.ok


def test_an_unusable_channel_stops_the_fan_out_before_anything_is_sent(sandbox, tmp_path):
    """Issue 14, item 4: a broken channel was one ``invalid`` row after the others were sent.

    Every channel is checked first (a list is made a `Matrix`), dry run or
    not; one error names each bad one.
    """
    chs = [*members(sandbox, 3), gm.Channel(platform="webhook", account="broken"),
           gm.Channel(platform="mastadon", account="a@social.example")]
    for dry_run in (True, False):
        with client(sandbox, journal=tmp_path / "j.db") as c, \
                pytest.raises(gm.ConfigError) as info:
            c.fan_out(POST, chs, dry_run=dry_run)
        message = str(info.value)
        assert "2 of 5 channel(s) cannot be used" in message
        assert "members[3] webhook:broken: missing option(s) url" in message
        assert ("members[4] mastadon:a@social.example: unknown platform 'mastadon' "
                "(did you mean 'mastodon'?)") in message
    assert sandbox["webhook"].log == []
    with gm.Journal(tmp_path / "j.db") as journal:
        assert journal.runs() == []


def test_amplify_hub_first_then_members(sandbox):
    hub = sandbox.channel("webhook", "hub")
    matrix = gm.Matrix(hub=hub, members=members(sandbox, 5))
    with client(sandbox) as c:
        report = c.fan_out(POST, matrix, mode="amplify", concurrency=3)
    assert report.ok and report.deliveries[0].channel == hub
    log = sandbox["webhook"].requests()
    assert log[0].account == "hub"
    assert min(r.at for r in log[1:]) >= log[0].at


def test_amplify_hub_failure_sends_nothing_for_members(sandbox):
    matrix = gm.Matrix(hub=sandbox.channel("webhook", "hub"), members=members(sandbox, 4))
    sandbox["webhook"].endpoint("hub", gone=True)
    with client(sandbox) as c:
        report = c.fan_out(POST, matrix, mode="amplify")
    assert [d.state for d in report.deliveries] == ["failed"] * 5
    assert all("hub failed" in str(d.error) for d in report.deliveries[1:])
    assert [r.account for r in sandbox["webhook"].requests()] == ["hub"]


def test_amplify_needs_a_hub(sandbox):
    with client(sandbox) as c, pytest.raises(gm.ConfigError, match="hub"):
        c.fan_out(POST, members(sandbox, 2), mode="amplify")


def test_variants_apply_per_platform_and_label(sandbox):
    post = (POST.with_variant(platform="webhook", text="webhook text")
                .with_variant(label="overseas", text="overseas text"))
    chs = [sandbox.channel("webhook", "home"),
           gm.Channel(platform="webhook", account="abroad", labels=("overseas",),
                      credentials=sandbox.channel("webhook", "abroad").credentials,
                      options={"url": f"{sandbox['webhook'].base_url}/hooks/abroad"})]
    with client(sandbox) as c:
        c.fan_out(post, chs)
    texts = {p["account"]: p["data"]["text"] for p in sandbox["webhook"].posts()}
    assert texts == {"home": "webhook text", "abroad": "overseas text"}


def test_progress_is_called_once_per_delivery(sandbox):
    seen = []
    with client(sandbox) as c:
        c.fan_out(POST, members(sandbox, 6), progress=seen.append)
    assert sorted(d.channel.account for d in seen) == [f"member{i}" for i in range(6)]


def test_rate_budget_holds_across_the_fan_out(sandbox):
    chs = members(sandbox, 6)
    with client(sandbox, rate_limits={"webhook": gm.RateLimit(20, burst=1)}, concurrency=6) as c:
        c.fan_out(POST, chs)
    times = sorted(r.at for r in sandbox["webhook"].requests())
    # 20/s shared by every member: one every 50 ms. Slots are booked exactly;
    # threads wake a little late at times, so single gaps may shrink a bit.
    assert times[-1] - times[0] >= 5 * 0.05 * 0.95
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.025


def test_per_account_budgets_do_not_slow_other_accounts(sandbox):
    chs = members(sandbox, 4)
    limits = {f"webhook:{ch.account}": gm.RateLimit(1, per=60) for ch in chs}
    with client(sandbox, rate_limits=limits, concurrency=4) as c:
        report = c.fan_out(POST, chs)
    assert report.ok  # one request per account fits each budget: nobody waited a minute


def test_campaign_metrics_add_up(sandbox):
    with client(sandbox) as c:
        report = c.fan_out(POST, members(sandbox, 2))
        metrics = c.metrics(report)
    assert len(metrics.rows) == 2 and metrics.totals.views is None  # webhooks count nothing


@pytest.mark.anyio
async def test_async_fan_out_matches_sync(sandbox):
    chs = members(sandbox, 10)
    sandbox["webhook"].inject("server_error", path="/member7$", times=10)
    async with gm.AsyncClient(http=sandbox.async_client(), retry=gm.RetryPolicy.testing(),
                              concurrency=4, journal=False) as c:
        report = await c.fan_out(POST, chs)
        again = await c.fan_out(POST, gm.Matrix(hub=chs[0], members=chs[1:]), mode="amplify")
    assert report.summary() == {"published": 9, "failed": 1}
    assert again.deliveries[0].state == "published"




def test_progress_accepts_a_bar_with_update(sandbox):
    class Bar:  # the shape of tqdm.auto.tqdm and similar bars
        n = 0

        def update(self, k):
            self.n += k

    bar = Bar()
    with client(sandbox) as c:
        c.fan_out(POST, members(sandbox, 4), progress=bar)
    assert bar.n == 4


def test_report_repr_is_short(sandbox):
    with client(sandbox) as c:
        report = c.fan_out(POST, members(sandbox, 50))
    assert repr(report).startswith("Report(mode='broadcast'") and len(repr(report)) < 200
