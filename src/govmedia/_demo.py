"""``govmedia demo``: a hub and 20 member accounts, three platforms, real HTTP.

The sandbox fakes are served on loopback; a few accounts are made to fail the
way real platforms fail (a 429, two 5xx, a timeout after the write, an endpoint
that opted out, an expired token). The fan-out runs with a journal, prints the
report, then runs again to show what a re-run does.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import govmedia as gm
from govmedia.testing.samples import sample_post
from govmedia.testing.server import SandboxServer

__all__ = ["run_demo"]

# (platform, account, labels): central SOEs' member accounts, as in the 国资小新 matrix.
MEMBERS = [
    ("mastodon", "cnpc", ("energy",)),
    ("mastodon", "sinopec", ("energy",)),
    ("mastodon", "cnooc", ("energy",)),
    ("mastodon", "sgcc", ("energy", "grid")),
    ("mastodon", "chinamobile", ("telecom",)),
    ("mastodon", "chinatelecom", ("telecom",)),
    ("mastodon", "crrc", ("manufacturing", "belt-and-road")),
    ("mastodon", "cosco", ("shipping", "belt-and-road")),
    ("webhook", "sasac-app", ("own-app",)),
    ("webhook", "cscec-app", ("own-app", "belt-and-road")),
    ("webhook", "crcc-site", ("own-site", "belt-and-road")),
    ("webhook", "powerchina-site", ("own-site", "belt-and-road")),
    ("webhook", "avic-site", ("own-site",)),
    ("webhook", "comac-app", ("own-app",)),
    ("wechat_oa", "gh_cnpc", ("energy",)),
    ("wechat_oa", "gh_sgcc", ("energy", "grid")),
    ("wechat_oa", "gh_crrc", ("manufacturing", "belt-and-road")),
    ("wechat_oa", "gh_cosco", ("shipping", "belt-and-road")),
    ("wechat_oa", "gh_chinamobile", ("telecom",)),
    ("wechat_oa", "gh_cscec", ("construction", "belt-and-road")),
]


def _build(server: SandboxServer) -> gm.Matrix:
    sandbox = server.sandbox
    hub = sandbox.channel("wechat_oa", "gh_guozixiaoxin")
    members = []
    for platform, account, labels in MEMBERS:
        ch = sandbox.channel(platform, account)
        members.append(gm.Channel(platform=ch.platform, account=ch.account, labels=labels,
                                  credentials=ch.credentials, options=ch.options))
    return gm.Matrix(hub=hub, members=members)


def _faults(server: SandboxServer) -> list[str]:
    sb = server.sandbox
    mastodon, hooks, wechat = sb["mastodon"], sb["webhook"], sb["wechat_oa"]
    mastodon.inject("rate_limit", path=r"/api/v1/statuses$", account="sinopec", retry_after=0.2)
    mastodon.inject("rate_limit", path=r"/api/v1/statuses$", account="cosco", retry_after=3600)
    hooks.inject("server_error", path=r"/hooks/cscec-app$", times=2)
    hooks.endpoint("avic-site", gone=True)
    wechat.inject("timeout_after", path=r"/cgi-bin/draft/add$", account="gh_crrc")
    return [
        "sinopec (Mastodon) meets a 429 asking 0.2 s: waited, then sent",
        "cosco (Mastodon) meets a 429 asking an hour: not waited for, failed now",
        "cscec-app's webhook answers 500 twice: resent with the same webhook-id",
        "avic-site's webhook answers 410 Gone: the receiver opted out, not retried",
        ("gh_crrc's WeChat draft/add is applied but its answer is lost: unknown, never resent "
         "blindly"),
    ]


def run_demo() -> int:
    """Run the demo; returns the process exit status."""
    post = sample_post()
    with tempfile.TemporaryDirectory() as tmp, SandboxServer() as server:
        matrix = _build(server)
        print("govmedia demo: one post, a hub and 20 member accounts on three platforms")
        print(f"  sandbox fakes at {server.base_url} (real HTTP on loopback)")
        print(f"  post  {post.title}  (key {post.key[:12]}…)")
        print(f"  matrix {matrix!r}\n")
        print("Injected faults:")
        for line in _faults(server):
            print(f"  - {line}")
        journal = Path(tmp) / "govmedia.db"
        retry = gm.RetryPolicy(wait_initial=0.05, wait_jitter=0.05)
        with gm.Client(journal=journal, retry=retry, concurrency=8) as client:
            for n in (1, 2):
                started = time.perf_counter()
                report = client.fan_out(post, matrix)
                took = time.perf_counter() - started
                title = "First run" if n == 1 else "Second run, same post key, same journal"
                print(f"\n{title} ({took:.2f} s): ok={report.ok}")
                print(str(report))
            print("\nThe second run skipped every published account and retried what failed")
            print("(cosco's hour has not passed on a real platform; the fake forgets at once).")
            print("For gh_crrc it looked in the draft box first: the lost draft was there, so it")
            print("submitted that draft instead of making a second one (one article, not two).\n")
            counts = {p: len(server.sandbox[p].posts()) for p in server.sandbox.fakes}
            print("Posts now live on the fakes:", ", ".join(f"{p} {n}" for p, n in counts.items()))
            print("Journal runs:")
            for run in client.journal.runs() if client.journal else []:
                summary = ", ".join(f"{k} {v}" for k, v in run.summary.items())
                print(f"  {run.id}  {run.mode}  planned {run.planned}: {summary}")
    return 0
