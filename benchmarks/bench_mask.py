"""How long `mask` takes with many registered secrets (a 10,000-channel matrix).

Run by hand, never by the test suite:

    PYTHONPATH=src python benchmarks/bench_mask.py [--secrets 10000] [--old PATH]

Registers N random tokens (shaped like Mastodon tokens, WeChat app secrets
and WordPress application passwords, spaces included) and times `mask` on
~1 kB texts: one with nothing to hide (the common case: a log line, a report
row), one holding three registered secrets and two secret-shaped query
parameters, and a 2 kB Mastodon status JSON (what the journal stores per
published delivery). ``--old PATH`` loads an earlier `_secrets.py` (for
example ``git show REV:src/govmedia/_secrets.py > /tmp/old.py``) and times
it on the same texts, registration included.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import string
import sys
import time
from types import ModuleType


def load(path: str | None) -> ModuleType:
    if path is None:
        from govmedia import _secrets

        return _secrets
    spec = importlib.util.spec_from_file_location("old_secrets", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tokens(n: int, rng: random.Random) -> list[str]:
    alnum = string.ascii_letters + string.digits
    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:  # Mastodon-style access token
            out.append("".join(rng.choices(alnum + "-_", k=43)))
        elif kind == 1:  # WeChat app secret: 32 hex digits
            out.append("".join(rng.choices("0123456789abcdef", k=32)))
        else:  # WordPress application password: six groups of four, spaces between
            out.append(" ".join("".join(rng.choices(alnum, k=4)) for _ in range(6)))
    return out


def texts(secrets: list[str], rng: random.Random) -> dict[str, str]:
    words = ["央企", "招聘", "发布会", "直播", "一带一路", "the", "status", "was", "published", "to", "the", "account", "member", "hub", "delivery", "failed", "retry", "after", "seconds", "quota", "HTTP", "200", "OK"]

    def prose(size: int) -> str:
        text = ""
        while len(text) < size:
            text += rng.choice(words) + " "
        return text[:size]

    plain = ("POST https://social.example/api/v1/statuses -> 200; " + prose(960))[:1024]
    hidden = (
        f"webhook https://hooks.example/in?token=tk-{rng.randrange(10**9)}&sig=abc123 said "
        f"{secrets[17]} {prose(300)} Authorization: Bearer {secrets[4242]} {prose(300)} "
        f"wp {secrets[9998 if len(secrets) > 9998 else -1]} {prose(200)}"
    )[:1024]
    status = json.dumps({
        "id": "109348219237623478", "created_at": "2024-06-12T08:00:00.123Z",
        "visibility": "public", "language": "zh", "url": "https://social.example/@sasac/1",
        "content": "<p>" + prose(900) + "</p>",
        "account": {"id": "1", "username": "sasac", "acct": "sasac",
                    "note": prose(500), "url": "https://social.example/@sasac"},
        "media_attachments": [], "mentions": [], "tags": [], "emojis": [],
    }, ensure_ascii=False)
    return {"1 kB, nothing to hide": plain, "1 kB, 5 secrets": hidden,
            "2 kB status JSON": status}


def per_call(fn, text: str, seconds: float = 0.5) -> float:
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(50):
            fn(text)
        n += 50
        took = time.perf_counter() - start
        if took >= seconds:
            return took / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", type=int, default=10_000)
    parser.add_argument("--old", help="an earlier _secrets.py to compare with")
    args = parser.parse_args()
    rng = random.Random(7)
    secrets = tokens(args.secrets, rng)
    samples = texts(secrets, rng)
    rows = []
    for label, path in (("now", None), ("old", args.old)):
        if label == "old" and path is None:
            continue
        module = load(path)
        for name, text in samples.items():  # with nothing registered
            rows.append((label, 0, name, per_call(module.mask, text)))
        start = time.perf_counter()
        for value in secrets:
            module.remember(value)
        registered = time.perf_counter() - start
        first = time.perf_counter()
        module.mask(samples["1 kB, nothing to hide"])  # the old one compiles here
        first = time.perf_counter() - first
        print(f"{label}: remember x{len(secrets):,}: {registered * 1e3:.1f} ms; "
              f"first mask after it: {first * 1e3:.1f} ms")
        for name, text in samples.items():
            rows.append((label, len(secrets), name, per_call(module.mask, text)))
        leaked = [s for s in secrets[:: max(1, len(secrets) // 500)]
                  if s in module.mask(f"x {s} y")]
        print(f"{label}: sampled secrets left visible: {len(leaked)}")
    print(f"\n{'impl':<5} {'secrets':>8}  {'text':<24} {'per call':>10}")
    for label, count, name, took in rows:
        print(f"{label:<5} {count:>8,}  {name:<24} {took * 1e6:>8.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
