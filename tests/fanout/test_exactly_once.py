"""Exactly once, where the review found it broke (issue: exactly-once has holes).

Each test here failed before the point of no return, the cross-attempt
"may have been applied", journal stages and the journal's file checks existed.
"""

import datetime as dt
import sqlite3

import anyio
import pytest

import govmedia as gm
from govmedia.testing import Sandbox
from govmedia.testing.samples import sample_post

FAST = gm.RetryPolicy.testing()


def articles(fake, account):
    """Published articles on one WeChat account (drafts not counted)."""
    return [p for p in fake.posts(account) if p["state"] == "published"]


def drafts_made(fake, account):
    return len(fake.posts(account)) + sum(
        1 for d in fake.drafts.values() if d.state == "deleted")


# --------------------------------------------------------------------- the point of no return


@pytest.mark.parametrize("fault", ["server_error", "busy", "rate_limit_daily", "timeout_after",
                                   "token_expired_twice"])
def test_a_failure_while_polling_is_unknown_and_keeps_the_publish_id(fault):
    """Any failure after freepublish/submit: DeliveryUnknown with the publish_id, never 'safe to retry'."""
    sandbox = Sandbox(platforms=["wechat_oa"])
    fake = sandbox["wechat_oa"]
    ch = sandbox.channel("wechat_oa", "gh_poll")
    get = "/cgi-bin/freepublish/get"
    if fault == "rate_limit_daily":
        fake.inject("rate_limit", path=get, retry_after=None, times=5)   # 45009: a quota
    elif fault == "token_expired_twice":
        fake.inject("token_expired", path=get, times=5)                  # 42001 after a refresh
    else:
        fake.inject(fault, path=get, times=10)
    with gm.Client(http=sandbox.client(), retry=FAST) as client, pytest.raises(gm.DeliveryUnknown) as info:
        client.publish(sample_post(), ch)
    error = info.value
    assert error.known.get("publish_id") and error.known.get("media_id")
    assert "safe to try again" not in str(error)
    assert len(fake.requests("/cgi-bin/freepublish/submit")) == 1


def test_a_rerun_finishes_the_known_publish_job_instead_of_publishing_again(tmp_path):
    """The ten-line repro: one 500 on freepublish/get, then a re-run."""
    sandbox = Sandbox(platforms=["wechat_oa"])
    fake = sandbox["wechat_oa"]
    ch = sandbox.channel("wechat_oa", "gh_rerun")
    fake.inject("server_error", path="/cgi-bin/freepublish/get", times=4)  # every retry of one run
    journal = tmp_path / "j.db"
    with gm.Client(http=sandbox.client(), journal=journal, retry=FAST) as client:
        first = client.fan_out(sample_post(), [ch])
        second = client.fan_out(sample_post(), [ch])
        third = client.fan_out(sample_post(), [ch])
    assert first.deliveries[0].state == "unknown"
    assert second.deliveries[0].state == "published"
    assert third.deliveries[0].state == "skipped"
    assert len(fake.requests("/cgi-bin/draft/add")) == 1
    assert len(fake.requests("/cgi-bin/freepublish/submit")) == 1
    assert len(articles(fake, "gh_rerun")) == 1
    assert second.deliveries[0].receipt.remote_id == articles(fake, "gh_rerun")[0]["article_id"]


def test_a_bug_after_the_create_is_unknown_on_publish_too(monkeypatch):
    """Only GovMediaErrors leave publish(), and after a create they say 'unknown'."""
    from govmedia.platforms.wechat_oa import WeChatOAPlatform

    def broken(self, channel, status, raw):
        raise KeyError("article_id")

    monkeypatch.setattr(WeChatOAPlatform, "_published", broken)
    sandbox = Sandbox(platforms=["wechat_oa"])
    with gm.Client(http=sandbox.client(), retry=FAST) as client, pytest.raises(gm.DeliveryUnknown) as info:
        client.publish(sample_post(), sandbox.channel("wechat_oa", "gh_bug"))
    assert "KeyError" in str(info.value)


def test_a_review_verdict_after_submit_stays_a_content_rejection():
    sandbox = Sandbox(platforms=["wechat_oa"])
    sandbox["wechat_oa"].publish_outcome = 4
    with gm.Client(http=sandbox.client(), retry=FAST) as client, pytest.raises(gm.ContentRejected) as info:
        client.publish(sample_post(), sandbox.channel("wechat_oa", "gh_review"))
    assert type(info.value) is gm.ContentRejected


# --------------------------------------------------------------------- retries keep "may have landed"


def test_an_applied_attempt_is_not_hidden_by_a_later_cleaner_failure(tmp_path):
    """Attempt 1 applied with its answer lost, attempt 2 refused with a 401: unknown, not failed."""
    sandbox = Sandbox(platforms=["mastodon"])
    fake = sandbox["mastodon"]
    ch = sandbox.channel("mastodon", "sasac@social.example")
    fake.inject("timeout_after", path=fake.create_path)
    fake.inject("token_expired", path=fake.create_path)
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", retry=FAST) as client:
        report = client.fan_out(gm.Post(text="中央企业招聘季"), [ch])
        assert report.deliveries[0].state == "unknown"
        assert len(fake.posts(ch.account)) == 1
        again = client.fan_out(gm.Post(text="中央企业招聘季"), [ch])  # within the key's hour
    assert again.deliveries[0].state == "published"
    assert len(fake.posts(ch.account)) == 1  # Mastodon answered the first status again


def test_may_have_landed_is_not_resent_after_the_dedupe_window(tmp_path):
    sandbox = Sandbox(platforms=["mastodon"])
    fake = sandbox["mastodon"]
    ch = sandbox.channel("mastodon", "sasac@social.example")
    fake.inject("timeout_after", path=fake.create_path)
    fake.inject("token_expired", path=fake.create_path)
    post = gm.Post(text="中央企业招聘季")
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", retry=FAST) as client:
        client.fan_out(post, [ch])
    two_hours_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).isoformat()
    db = sqlite3.connect(tmp_path / "j.db")
    db.execute("UPDATE deliveries SET maybe_applied_at=?", (two_hours_ago,))
    db.commit()
    db.close()
    sent = len(fake.requests(fake.create_path))
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", retry=FAST) as client:
        report = client.fan_out(post, [ch])
    assert report.deliveries[0].state == "unknown"
    assert "lapsed" in str(report.deliveries[0].error)
    assert len(fake.requests(fake.create_path)) == sent


def test_a_failed_resend_of_a_delivery_in_doubt_stays_in_doubt(tmp_path):
    """An earlier run may have published it: this run's clean failure proves nothing."""
    sandbox = Sandbox(platforms=["mastodon"])
    fake = sandbox["mastodon"]
    ch = sandbox.channel("mastodon", "sasac@social.example")
    post = gm.Post(text="国资委新闻发布会")
    fake.inject("timeout_after", path=fake.create_path, times=4)
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", retry=FAST) as client:
        first = client.fan_out(post, [ch])
        fake.inject("token_expired", path=fake.create_path)
        second = client.fan_out(post, [ch])
    assert first.deliveries[0].state == "failed"   # resendable: Mastodon dedupes for an hour
    assert second.deliveries[0].state == "unknown"
    assert len(fake.posts(ch.account)) == 1


# --------------------------------------------------------------------- journal stages (WeChat)


def test_a_crash_before_draft_add_is_sent_again(tmp_path):
    sandbox = Sandbox(platforms=["wechat_oa"])
    fake = sandbox["wechat_oa"]
    ch = sandbox.channel("wechat_oa", "gh_crash")

    class Crash(BaseException):
        pass

    def crashing(request):
        if request.url.path.endswith("/media/uploadimg"):
            raise Crash  # the process dies while uploading a body image
        return sandbox(request)

    import httpx

    with gm.Client(http=httpx.Client(transport=httpx.MockTransport(crashing)), journal=tmp_path / "j.db",
                   retry=FAST) as client, pytest.raises(Crash):
        client.fan_out(sample_post(), [ch])
    state = sqlite3.connect(tmp_path / "j.db").execute("SELECT state FROM deliveries").fetchone()[0]
    assert state == "pending"  # never claimed: nothing could exist
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", retry=FAST) as client:
        report = client.fan_out(sample_post(), [ch])
    assert report.deliveries[0].state == "published"
    assert len(fake.requests("/cgi-bin/draft/add")) == 1 and len(articles(fake, "gh_crash")) == 1


def test_a_lost_answer_to_draft_add_is_found_in_the_draft_box_and_submitted(tmp_path):
    sandbox = Sandbox(platforms=["wechat_oa"])
    fake = sandbox["wechat_oa"]
    ch = sandbox.channel("wechat_oa", "gh_lost")
    fake.inject("timeout_after", path="/cgi-bin/draft/add")
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", retry=FAST) as client:
        first = client.fan_out(sample_post(), [ch])
        second = client.fan_out(sample_post(), [ch])
    assert first.deliveries[0].state == "unknown"
    assert second.deliveries[0].state == "published"
    assert len(fake.requests("/cgi-bin/draft/add")) == 1   # the draft was not made twice
    assert len(fake.drafts) == 1 and len(articles(fake, "gh_lost")) == 1
    assert fake.requests("/cgi-bin/draft/batchget")


def test_a_draft_add_that_never_landed_is_sent_again_once_the_lists_say_so(tmp_path):
    sandbox = Sandbox(platforms=["wechat_oa"])
    fake = sandbox["wechat_oa"]
    ch = sandbox.channel("wechat_oa", "gh_never")
    fake.inject("server_error", path="/cgi-bin/draft/add")  # a bare 500: may have landed; here it did not
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", retry=FAST) as client:
        first = client.fan_out(sample_post(), [ch])
        second = client.fan_out(sample_post(), [ch])
    assert first.deliveries[0].state == "unknown"
    assert second.deliveries[0].state == "published"
    assert len(fake.drafts) == 1 and len(articles(fake, "gh_never")) == 1


def test_a_published_article_found_in_the_publish_records_is_not_made_again(tmp_path):
    """The run died after the job finished but before its outcome was written."""
    sandbox = Sandbox(platforms=["wechat_oa"])
    fake = sandbox["wechat_oa"]
    ch = sandbox.channel("wechat_oa", "gh_done")
    fake.inject("timeout_after", path="/cgi-bin/draft/add")
    journal = tmp_path / "j.db"
    with gm.Client(http=sandbox.client(), journal=journal, retry=FAST) as client:
        client.fan_out(sample_post(), [ch])
    # Someone (an earlier run, an operator) submitted the draft meanwhile.
    with gm.Client(http=sandbox.client(), retry=FAST) as client:
        draft = fake.posts("gh_done")[0]
        client._drive(client._pipeline.run_flow(  # the platform's own submit-and-wait
            client._platform(ch), ch,
            client._platform(ch)._finish(draft["media_id"], ch, _opts(ch), {"media_id": draft["media_id"]},
                                         "gm-key")))
    with gm.Client(http=sandbox.client(), journal=journal, retry=FAST) as client:
        report = client.fan_out(sample_post(), [ch])
    assert report.deliveries[0].state == "published"
    assert report.deliveries[0].receipt.remote_id == articles(fake, "gh_done")[0]["article_id"]
    assert len(fake.requests("/cgi-bin/freepublish/submit")) == 1


def _opts(ch):
    from govmedia.platforms.wechat_oa import WeChatOAPlatform

    return WeChatOAPlatform().opts(ch)


def test_a_submit_whose_answer_was_lost_is_left_unknown_never_resubmitted(tmp_path):
    sandbox = Sandbox(platforms=["wechat_oa"])
    fake = sandbox["wechat_oa"]
    ch = sandbox.channel("wechat_oa", "gh_submit")
    fake.inject("timeout_after", path="/cgi-bin/freepublish/submit")
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", retry=FAST) as client:
        first = client.fan_out(sample_post(), [ch])
        second = client.fan_out(sample_post(), [ch])
    assert [first.deliveries[0].state, second.deliveries[0].state] == ["unknown", "unknown"]
    assert "发表记录" in str(second.deliveries[0].error)
    assert len(fake.requests("/cgi-bin/freepublish/submit")) == 1
    assert len(fake.requests("/cgi-bin/draft/add")) == 1


def test_a_refused_submit_keeps_its_draft_and_a_rerun_submits_that_draft(tmp_path):
    sandbox = Sandbox(platforms=["wechat_oa"])
    fake = sandbox["wechat_oa"]
    ch = sandbox.channel("wechat_oa", "gh_refused")
    fake.inject("rate_limit", path="/cgi-bin/freepublish/submit", retry_after=None)  # 45009 quota
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", retry=FAST) as client:
        first = client.fan_out(sample_post(), [ch])
        second = client.fan_out(sample_post(), [ch])
    assert first.deliveries[0].state == "unknown"
    assert second.deliveries[0].state == "published"
    assert len(fake.requests("/cgi-bin/draft/add")) == 1 and len(articles(fake, "gh_refused")) == 1


def test_another_live_run_sending_a_delivery_is_left_alone(tmp_path):
    """A row 'sending' by a run whose process still runs is not recovered (it may be mid-flight)."""
    sandbox = Sandbox(platforms=["webhook"])
    ch = sandbox.channel("webhook", "m1")
    post = gm.Post(text="发布会")
    journal = gm.Journal(tmp_path / "j.db")
    run = journal.start_run(post_key=post.key, title=None, mode="broadcast", planned=[(ch, "member")])
    assert journal.claim(run, post.key, ch, expect="pending", idem_key="k")
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", retry=FAST) as client:
        report = client.fan_out(post, [ch])
    assert report.deliveries[0].state == "unknown" and run in str(report.deliveries[0].error)
    assert sandbox["webhook"].log == []
    journal.close()  # the first run is gone now: its row is in doubt, and webhook dedupes
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", retry=FAST) as client:
        assert client.fan_out(post, [ch]).deliveries[0].state == "published"


# --------------------------------------------------------------------- the journal's file


def _members(sandbox, n):
    return [sandbox.channel("webhook", f"m{i}") for i in range(n)]


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_journal_deleted_or_replaced_mid_run_stops_the_run_and_says_so(tmp_path, how):
    sandbox = Sandbox(platforms=["webhook"])
    channels = _members(sandbox, 30)
    path = tmp_path / "j.db"
    done = []

    def progress(delivery):
        done.append(delivery)
        if len(done) == 5:
            if how == "deleted":
                path.unlink()
            else:
                other = tmp_path / "other.db"
                gm.Journal(other).close()
                other.replace(path)

    with gm.Client(http=sandbox.client(), journal=path, retry=FAST, concurrency=2) as client, \
            pytest.raises(gm.JournalError) as info:
        client.fan_out(gm.Post(text="国资小新：发布会"), channels, progress=progress)
    error = info.value
    assert error.path == str(path) and how in str(error)
    report = error.report
    assert report is not None and len(report.deliveries) == 30
    sent = len(sandbox["webhook"].posts())
    assert report.summary()["published"] == sent        # every live post is in the report
    assert sent < 30                                     # sending stopped
    assert all(d.state in ("published", "failed") for d in report.deliveries)


def test_a_full_disk_keeps_every_known_outcome_and_ends_in_a_journal_error(tmp_path):
    sandbox = Sandbox(platforms=["webhook"])
    channels = _members(sandbox, 40)
    path = tmp_path / "j.db"
    done = []

    with gm.Client(http=sandbox.client(), journal=path, retry=FAST, concurrency=4) as client:
        def progress(delivery):
            done.append(delivery)
            if len(done) == 6:  # the disk fills up: no page can be added any more
                pages = client.journal._db.execute("PRAGMA page_count").fetchone()[0]
                client.journal._db.execute(f"PRAGMA max_page_count={pages}")

        with pytest.raises(gm.JournalError) as info:
            client.fan_out(gm.Post(text="国资小新：发布会" * 20), channels, progress=progress)
    error = info.value
    assert "full" in str(error) and str(path) in str(error)
    live = len(sandbox["webhook"].posts())
    assert error.report.summary()["published"] == live    # none of the 'published' lost
    # What the journal holds never says more than was sent; the rest follows the resume rules.
    db = sqlite3.connect(path)
    states = dict(db.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall())
    db.close()
    assert states.get("published", 0) <= live


def test_async_fan_out_raises_the_journal_error_too(tmp_path):
    sandbox = Sandbox(platforms=["webhook"])
    channels = _members(sandbox, 10)
    path = tmp_path / "j.db"

    async def main():
        async with gm.AsyncClient(http=sandbox.async_client(), journal=path, retry=FAST) as client:
            seen = []

            def progress(delivery):
                seen.append(delivery)
                if len(seen) == 2:
                    path.unlink()

            return await client.fan_out(gm.Post(text="通知"), channels, progress=progress)

    with pytest.raises(gm.JournalError):
        anyio.run(main)


# --------------------------------------------------------------------- the journal by default


def test_the_journal_is_on_by_default_and_each_test_has_its_own(govmedia_journal):
    """A notebook cell run twice publishes once: the default journal remembers it."""
    sandbox = Sandbox(platforms=["webhook"])
    channels = _members(sandbox, 3)
    post = gm.Post(text="国资小新：发布会")
    with gm.Client(http=sandbox.client()) as client:
        first = client.fan_out(post, channels)
        again = client.fan_out(post, channels)
        assert client.journal.path == str(govmedia_journal)
    assert first.summary() == {"published": 3} and again.summary() == {"skipped": 3}
    assert len(sandbox["webhook"].posts()) == 3


def test_journal_false_turns_it_off_and_a_dry_run_creates_no_file(govmedia_journal):
    sandbox = Sandbox(platforms=["webhook"])
    post = gm.Post(text="通知")
    channels = _members(sandbox, 2)
    with gm.Client(http=sandbox.client()) as client:
        client.fan_out(post, channels, dry_run=True)
    assert not govmedia_journal.exists()
    with gm.Client(http=sandbox.client(), journal=False) as client:
        assert client.journal is None
        first = client.fan_out(post, channels)
        second = client.fan_out(post, channels)   # sent again: nothing remembers the first
    assert first.summary() == second.summary() == {"published": 2}
    assert len(sandbox["webhook"].requests()) == 4 and not govmedia_journal.exists()


def test_threads_opening_a_new_journal_at_once_all_get_it(tmp_path):
    """Twelve threads' first publish opened and migrated one new file together ("duplicate column")."""
    path = tmp_path / "new.db"
    errors: list[BaseException] = []
    journals: list[gm.Journal] = []

    def open_it():
        try:
            journals.append(gm.Journal(path))
        except BaseException as exc:
            errors.append(exc)

    import threading

    threads = [threading.Thread(target=open_it) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(journals) == 12
    for journal in journals:
        journal.close()


def test_another_programs_sqlite_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    with pytest.raises(gm.ConfigError, match=r"app\.db.* database of another program.*tables: users"):
        gm.Journal(path)
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"users"}  # nothing of ours was added to it
    with pytest.raises(gm.ConfigError, match="another program"):
        gm.Client(journal=path).fan_out(gm.Post(text="x"), [])


def test_a_file_that_is_not_sqlite_is_a_clear_error_naming_it(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("这不是数据库" * 200)
    with pytest.raises(gm.ConfigError, match=r"notes\.txt.* is not an SQLite database"):
        gm.Journal(path)
    assert path.read_text() == "这不是数据库" * 200


def test_a_journal_is_stamped_and_an_unstamped_old_one_still_opens(tmp_path):
    path = tmp_path / "old.db"
    gm.Journal(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x676D6A6C
        db.execute("PRAGMA application_id=0")  # as journals were before the stamp
    gm.Journal(path).close()
