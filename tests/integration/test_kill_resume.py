"""A fan-out process killed with SIGKILL mid-run, then resumed, posts once per account.

Real processes and real HTTP on loopback: `govmedia sandbox` serves the fakes
in one process, `govmedia fan-out` runs in another and is killed while
deliveries are in flight; the second run uses the same journal.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = pytest.mark.integration

PLATFORMS = ("webhook", "mastodon")
PER_PLATFORM = 12


@pytest.fixture
def sandbox_url():
    proc = subprocess.Popen([sys.executable, "-m", "govmedia.cli", "sandbox", "--port", "0",
                             "--platforms", ",".join(PLATFORMS)], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:"), line
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


def toml_channel(ch):
    def table(d):
        return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in d.items()) + " }"

    return (f'[[members]]\nplatform = "{ch["platform"]}"\naccount = "{ch["account"]}"\n'
            f"credentials = {table(ch['credentials'])}\noptions = {table(ch['options'])}\n")


def published(journal):
    if not journal.exists():
        return 0
    db = sqlite3.connect(journal)
    try:
        return db.execute("SELECT count(*) FROM deliveries WHERE state='published'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


@pytest.fixture
def http(sandbox_url):
    with httpx.Client(base_url=sandbox_url) as client:
        yield client


def test_sigkill_mid_fan_out_then_resume_posts_exactly_once(http, tmp_path):
    channels = [http.post("/_sandbox/channels", json={"platform": p, "account": f"{p}-{i}"}).json()
                for p in PLATFORMS for i in range(PER_PLATFORM)]
    (tmp_path / "matrix.toml").write_text("".join(map(toml_channel, channels)), encoding="utf-8")
    (tmp_path / "post.md").write_text(
        '+++\ntitle = "一带一路看国企"\ntext = "一带一路看国企：中老铁路开通一周年"\n+++\n正文', encoding="utf-8")
    journal = tmp_path / "journal.db"
    cmd = [sys.executable, "-m", "govmedia.cli", "fan-out", str(tmp_path / "post.md"),
           "--matrix", str(tmp_path / "matrix.toml"), "--journal", str(journal),
           "--concurrency", "3", "--quiet"]

    http.post("/_sandbox/delay", json={"seconds": 0.08})
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while published(journal) < 5 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = published(journal)
    assert 5 <= done_before < len(channels), "the kill must land mid-run"

    http.post("/_sandbox/delay", json={"seconds": 0})
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert second.returncode == 0, second.stdout + second.stderr
    assert published(journal) == len(channels)

    for ch in channels:
        posts = http.get(f"/_sandbox/posts/{ch['platform']}", params={"account": ch["account"]}).json()
        assert len(posts) == 1, ch["account"]
