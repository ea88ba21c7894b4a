"""``govmedia demo``: the hub on WeChat, Weibo and Douyin, 18 members, real HTTP.

The sandbox fakes are served on loopback; a few accounts are made to fail the
way real platforms fail (a rate limit, two 5xx, writes whose answers are lost,
an endpoint that opted out). The fan-out runs with a journal, prints the
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

# The hub, 国资小新, on its three platforms; then central SOEs' member
# accounts on WeChat and Weibo, and two of their own sites, as in the seed's
# matrix. (platform, account, labels)
HUB = ("wechat_oa", "gh_guozixiaoxin")
MEMBERS = [
    ("weibo", "guozixiaoxin", ("hub",)),
    ("douyin", "guozixiaoxin", ("hub",)),
    ("wechat_oa", "gh_cnpc", ("energy",)),
    ("wechat_oa", "gh_sinopec", ("energy",)),
    ("wechat_oa", "gh_sgcc", ("energy", "grid")),
    ("wechat_oa", "gh_crrc", ("manufacturing", "belt-and-road")),
    ("wechat_oa", "gh_cosco", ("shipping", "belt-and-road")),
    ("wechat_oa", "gh_chinamobile", ("telecom",)),
    ("wechat_oa", "gh_cscec", ("construction", "belt-and-road")),
    ("weibo", "cnpc", ("energy",)),
    ("weibo", "sinopec", ("energy",)),
    ("weibo", "sgcc", ("energy", "grid")),
    ("weibo", "crrc", ("manufacturing", "belt-and-road")),
    ("weibo", "cosco", ("shipping", "belt-and-road")),
    ("weibo", "chinamobile", ("telecom",)),
    ("weibo", "cscec", ("construction", "belt-and-road")),
    ("webhook", "crcc-site", ("own-site", "belt-and-road")),
    ("webhook", "avic-site", ("own-site",)),
]


def _build(server: SandboxServer) -> gm.Matrix:
    sandbox = server.sandbox
    hub = sandbox.channel(*HUB)
    members = []
    for platform, account, labels in MEMBERS:
        ch = sandbox.channel(platform, account)
        members.append(gm.Channel(platform=ch.platform, account=ch.account, labels=labels,
                                  credentials=ch.credentials, options=ch.options))
    return gm.Matrix(hub=hub, members=members)


def _faults(server: SandboxServer) -> list[str]:
    sb = server.sandbox
    weibo, hooks, wechat = sb["weibo"], sb["webhook"], sb["wechat_oa"]
    weibo.inject("rate_limit", path=r"/2/statuses/share\.json$", account="sinopec",
                 retry_after=0.2)
    weibo.inject("timeout_after", path=r"/2/statuses/share\.json$", account="cosco")
    hooks.inject("server_error", path=r"/hooks/crcc-site$", times=2)
    hooks.endpoint("avic-site", gone=True)
    wechat.inject("timeout_after", path=r"/cgi-bin/draft/add$", account="gh_crrc")
    return [
        "sinopec (Weibo) meets a rate limit asking 0.2 s: waited, then sent",
        ("cosco's Weibo post is applied but its answer is lost: unknown, never resent (Weibo "
         "takes no idempotency key)"),
        "crcc-site's webhook answers 500 twice: resent with the same webhook-id",
        "avic-site's webhook answers 410 Gone: the receiver opted out, not retried",
        ("gh_crrc's WeChat draft/add is applied but its answer is lost: unknown, never resent "
         "blindly"),
    ]


def run_demo() -> int:
    """Run the demo; returns the process exit status."""
    post = sample_post()
    with tempfile.TemporaryDirectory() as tmp, SandboxServer() as server:
        matrix = _build(server)
        print("govmedia demo: one post; the hub 国资小新 on WeChat, Weibo and Douyin; central "
              "SOEs on WeChat and Weibo, and two of their own sites")
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
            print("\nThe second run skipped every published account and retried what failed.")
            print("For gh_crrc it looked in the draft box first: the lost draft was there, so it")
            print("submitted that draft instead of making a second one (one article, not two).")
            print("cosco's Weibo post stays unknown: Weibo has no way to look it up, so it is")
            print("never sent twice; an operator checks the account and runs `govmedia runs")
            print("resolve`.\n")
            used = {ch.platform for ch in matrix}
            counts = {p: len(server.sandbox[p].posts()) for p in server.sandbox.fakes if p in used}
            print("Posts now live on the fakes:", ", ".join(f"{p} {n}" for p, n in counts.items()))
            print("Journal runs:")
            for run in client.journal.runs() if client.journal else []:
                summary = ", ".join(f"{k} {v}" for k, v in run.summary.items())
                print(f"  {run.id}  {run.mode}  planned {run.planned}: {summary}")
    return 0
