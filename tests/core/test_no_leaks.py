"""No secret shows up anywhere a user can see or store it (issue 9, item 8).

One fan-out over platforms that echo everything they get (the request URL,
the ``Authorization`` header, the token alone) must keep every secret out of
reprs, the report (rows, text, HTML, pandas), pickles, the journal's file,
``govmedia runs show`` and the log records of govmedia's and httpx's loggers.
"""

import copy
import json
import logging
import pickle
import sqlite3

import httpx
import pytest

import govmedia as gm
from govmedia.cli import main

TOKEN = "tok-Mastodon-9f8e7d6c5b4a"        # a credential
HOOK_TOKEN = "hookTok-5544332211aa"         # in a webhook URL's ?token=
HOOK_SIG = "hookSig-AbCdEf-998877"          # in the same URL's ?sig=
BAD_TOKEN = "badTok-6677889900bb"           # in the URL of a webhook that fails
BASE_TOKEN = "baseTok-1122334455cc"         # in a Mastodon base_url?access_token= (refused)
SECRETS = (TOKEN, HOOK_TOKEN, HOOK_SIG, BAD_TOKEN, BASE_TOKEN)


def assert_clean(text, where=""):
    if isinstance(text, bytes):
        for secret in SECRETS:
            assert secret.encode() not in text, (where, secret)
        return
    for secret in SECRETS:
        assert secret not in text, (where, secret, text[:2000])


def echo(request):
    """Every platform here echoes what it got: headers, URL, bare tokens."""
    seen = {"url": str(request.url), "headers": dict(request.headers)}
    if request.url.host == "social.example":
        return httpx.Response(200, json={
            "id": "1093", "url": "https://social.example/@sasac/1093",
            "visibility": "public", "echo": seen, "note": f"your token is {TOKEN}",
        })
    if request.url.host == "cms.example":
        return httpx.Response(200, json={
            "url": f"https://cms.example/p/1?token={HOOK_TOKEN}", "echo": seen,
            "received": f"signature {HOOK_SIG} ok",
        })
    # a receiver that fails, quoting the request (its URL carries BAD_TOKEN)
    return httpx.Response(500, text=f"upstream refused {request.url} with {BAD_TOKEN}")


def channels():
    return [
        gm.Channel(platform="mastodon", account="sasac@social.example",
                   credentials={"access_token": TOKEN},
                   options={"base_url": "https://social.example"}),
        gm.Channel(platform="mastodon", account="cnpc@social.example",
                   credentials={"access_token": "tok-other-000111"},
                   options={"base_url": f"https://social.example/?access_token={BASE_TOKEN}"}),
        gm.Channel(platform="webhook", account="cms@intranet",
                   options={"url": f"https://cms.example/hook?token={HOOK_TOKEN}&sig={HOOK_SIG}"}),
        gm.Channel(platform="webhook", account="bad@intranet",
                   options={"url": f"https://bad.example/hook?token={BAD_TOKEN}"}),
    ]


@pytest.fixture
def run(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    journal = tmp_path / "journal.db"
    http = httpx.Client(transport=httpx.MockTransport(echo))
    with gm.Client(http=http, journal=journal, retry=gm.RetryPolicy.testing()) as client:
        report = client.fan_out(gm.Post(text="国资小新：发布会直播"), usable())
    http.close()
    return report, journal


def usable():
    """The channels a fan-out takes: the refused base_url is left out (see the test below)."""
    return [ch for ch in channels() if ch.account != "cnpc@social.example"]


def test_a_fan_out_refuses_the_base_url_token_without_showing_it(caplog):
    """A matrix is checked before anything is sent; the refusal names the channel, masked."""
    caplog.set_level(logging.DEBUG)
    http = httpx.Client(transport=httpx.MockTransport(echo))
    with pytest.raises(gm.ConfigError) as info, gm.Client(http=http, journal=False) as client:
        client.fan_out(gm.Post(text="国资小新：发布会直播"), channels())
    assert "members[1] mastodon:cnpc@social.example: option base_url" in str(info.value)
    assert_clean(str(info.value))
    assert_clean(repr(info.value))
    assert_clean(caplog.text)


def test_the_run_did_what_this_test_relies_on(run):
    report, _ = run
    states = {d.channel.account: d.state for d in report.deliveries}
    assert states == {"sasac@social.example": "published", "cms@intranet": "published",
                      "bad@intranet": "failed"}
    echoed = report.deliveries[0].receipt.raw["echo"]["headers"]
    assert echoed["authorization"] == "Bearer " + TOKEN  # the platform did echo it


def test_reprs_and_messages(run):
    report, _ = run
    assert_clean(repr(report))
    for d in report.deliveries:
        assert_clean(repr(d), "delivery")
        assert_clean(repr(d.channel), "channel")
        assert_clean(str(d.channel), "channel")
        if d.receipt is not None:
            assert_clean(repr(d.receipt), "receipt")
        if d.error is not None:
            assert_clean(str(d.error), "error")
            assert_clean(repr(d.error), "error")
    assert "token=***" in repr(report.deliveries[1].channel)


def test_report_rows_text_and_html(run):
    report, _ = run
    assert_clean(json.dumps(report.rows(), ensure_ascii=False), "rows")
    assert_clean(str(report), "str")
    assert_clean(report._repr_html_(), "html")
    assert report.rows()[1]["url"] == "https://cms.example/p/1?token=***"


def test_report_to_pandas(run):
    pytest.importorskip("pandas")
    report, _ = run
    assert_clean(report.to_pandas().to_csv(), "pandas")


def test_pickles(run):
    report, _ = run
    assert_clean(pickle.dumps(report), "report pickle")
    for d in report.deliveries:
        assert_clean(pickle.dumps(d), "delivery pickle")
        assert_clean(pickle.dumps(d.channel), "channel pickle")
        if d.receipt is not None:
            assert_clean(pickle.dumps(d.receipt), "receipt pickle")
    back = pickle.loads(pickle.dumps(report.deliveries[1]))
    assert back.channel == report.deliveries[1].channel
    assert back.receipt.raw["response"]["echo"]["url"].startswith(
        "https://cms.example/hook?token=***")
    assert back.receipt.url == "https://cms.example/p/1?token=***"


def test_copies_keep_the_real_values():
    ch = channels()[2]
    for copied in (copy.copy(ch), copy.deepcopy(ch)):
        assert copied.options["url"] == ch.options["url"]
    creds = channels()[0]
    assert copy.deepcopy(creds).credentials["access_token"] == TOKEN
    receipt = gm.Receipt(channel=ch, remote_id="1", url=f"https://x.example/?sig={HOOK_SIG}",
                         raw={"a": [1, {"b": HOOK_SIG}]})
    deep = copy.deepcopy(receipt)
    assert deep.url == receipt.url and deep.raw == receipt.raw
    assert deep.raw["a"] is not receipt.raw["a"]


def test_journal_file(run):
    _, journal = run
    for path in journal.parent.iterdir():  # the database, its WAL and shared memory
        assert_clean(path.read_bytes(), path.name)
    with sqlite3.connect(journal) as db:
        raw, url = db.execute(
            "SELECT receipt_raw, url FROM deliveries WHERE account='sasac@social.example'").fetchone()
        message = db.execute(
            "SELECT error_message FROM deliveries WHERE account='bad@intranet'").fetchone()[0]
    assert json.loads(raw)["echo"]["headers"]["authorization"] == "***"
    assert url == "https://social.example/@sasac/1093"
    assert "upstream refused" in message


def test_cli_runs_and_runs_show(run, capsys):
    report, journal = run
    assert main(["runs", "--journal", str(journal)]) == 0
    assert main(["runs", "show", report.run_id, "--journal", str(journal)]) == 0
    out = capsys.readouterr().out
    assert_clean(out, "cli")
    assert "token=***" in out


def test_cli_masks_what_an_older_journal_holds(run, capsys):
    report, journal = run
    with sqlite3.connect(journal) as db:  # written unmasked, as an older govmedia did
        db.execute("UPDATE outcomes SET url=?, error_message=NULL WHERE account='cms@intranet'",
                   (f"https://cms.example/p/1?sig={HOOK_SIG}",))
        db.execute("UPDATE outcomes SET error_message=? WHERE account='bad@intranet'",
                   (f"refused https://bad.example/hook?token={BAD_TOKEN}",))
    assert main(["runs", "show", report.run_id, "--journal", str(journal)]) == 0
    assert_clean(capsys.readouterr().out, "cli")


def test_log_records(run, caplog):
    records = caplog.get_records("setup")  # the run is the fixture's
    assert records, "the run logged nothing: nothing was checked"
    for record in records:
        if record.name.split(".")[0] in ("govmedia", "httpx", "httpcore"):
            assert_clean(record.getMessage(), record.name)
    assert {r.name for r in records} >= {"govmedia", "httpx"}


def test_mastodon_base_url_token_in_the_config_error():
    with pytest.raises(gm.ConfigError) as info, gm.Client() as client:
        client.check(gm.Post(text="x"), channels()[1])
    assert_clean(str(info.value))
    assert "base_url" in str(info.value)


def test_a_platform_echoing_a_harvested_value_alone():
    """The sig travels in the URL only; the receiver quotes it bare in an error."""
    ch = gm.Channel(platform="webhook", account="echo@intranet",
                    options={"url": f"https://cms.example/in?sig={HOOK_SIG}"})

    def refuse(request):
        return httpx.Response(400, json={"message": f"signature {HOOK_SIG} does not match"})

    http = httpx.Client(transport=httpx.MockTransport(refuse))
    with pytest.raises(gm.ContentRejected) as info, gm.Client(http=http) as client:
        client.publish(gm.Post(text="x"), ch)
    assert_clean(str(info.value))
    assert "does not match" in str(info.value)
