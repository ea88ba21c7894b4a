"""Real processes for the distributed tests: `govmedia sandbox`, `govmedia worker`, Redis, PostgreSQL.

Every process is started here in a process group of its own and stopped by
its pid on every path (SIGTERM, then SIGKILL after 10 s).
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = pytest.mark.distributed


def _stop(proc, sig=signal.SIGTERM, timeout=10.0):
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


class Sandbox:
    """``govmedia sandbox`` in a process of its own, with its control API."""

    def __init__(self, platforms):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "govmedia.cli", "sandbox", "--port", "0", "--platforms",
             ",".join(platforms)], stdout=subprocess.PIPE, text=True, start_new_session=True)
        line = self.proc.stdout.readline()
        self.url = line.strip().rsplit(" ", 1)[-1]
        assert self.url.startswith("http://127.0.0.1:"), line
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def channels(self, platform, accounts):
        return self.http.post("/_sandbox/channels",
                              json={"platform": platform, "accounts": list(accounts)}).json()

    def posts(self, platform):
        return self.http.get(f"/_sandbox/posts/{platform}").json()

    def requests(self, platform):
        return self.http.get(f"/_sandbox/requests/{platform}").json()

    def stop(self):
        self.http.close()
        _stop(self.proc)
        self.proc.stdout.close()


def matrix_toml(channels, *, hub=None):
    def table(d):
        return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in d.items()) + " }"

    head = "" if hub is None else (
        f'[hub]\nplatform = "{hub["platform"]}"\naccount = "{hub["account"]}"\n'
        f"credentials = {table(hub['credentials'])}\noptions = {table(hub['options'])}\n")
    return head + "".join(f'[[members]]\nplatform = "{c["platform"]}"\naccount = "{c["account"]}"\n'
                   f"credentials = {table(c['credentials'])}\noptions = {table(c['options'])}\n"
                   for c in channels)


def to_channel(c):
    import govmedia as gm

    return gm.Channel(platform=c["platform"], account=c["account"], credentials=c["credentials"],
                      options=c["options"])


class Workers:
    """``govmedia worker`` processes on one broker and journal; `start` adds one, `kill` one."""

    def __init__(self, *, matrix, journal, broker, rate_store, rate_limits, log_dir,
                 concurrency=32, sweep_every=1.0, claim_idle=3.0, token_store=None, env=None):
        self.command = [sys.executable, "-m", "govmedia.cli"]
        self.args = ["worker", "--matrix", str(matrix),
                     "--journal", journal, "--broker", broker, "--rate-store", rate_store,
                     "--concurrency", str(concurrency), "--sweep-every", str(sweep_every), "--claim-idle", str(claim_idle)]
        for limit in rate_limits:
            self.args += ["--rate-limit", limit]
        if token_store is not None:
            self.args += ["--token-store", token_store]
        # Added to this process's environment (the default token file is the test's own).
        self.env = None if env is None else {**os.environ, **env}
        self.log_dir = log_dir
        self.procs = []

    def start(self, n=1, *, command=None):
        """Start *n* workers; *command* runs instead of ``python -m govmedia.cli`` (a faulty one)."""
        for _ in range(n):
            log = (self.log_dir / f"worker-{len(self.procs)}.log").open("w")
            self.procs.append(subprocess.Popen([*(command or self.command), *self.args], stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True,
                                               env=self.env))
            log.close()

    def kill(self, index):
        """SIGKILL one worker, as the kernel's OOM killer or a power cut would."""
        _stop(self.procs[index], signal.SIGKILL)

    def logs(self):
        return "\n".join(p.read_text(errors="replace")[-3000:]
                         for p in sorted(self.log_dir.glob("worker-*.log")))

    def stop(self):
        for proc in self.procs:
            _stop(proc)


@pytest.fixture
def redis_url(redis_server):
    """The session's Redis, emptied for this test."""
    import redis

    with redis.Redis(unix_socket_path=str(redis_server.socket)) as r:
        r.flushall()
    return redis_server.url()


@pytest.fixture
def pg_journal(postgres_server):
    return postgres_server.fresh()


def wait_for(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
