"""Screening speed: 1 MB of Chinese text against 10,000 terms.

Run: .venv/bin/python benchmarks/bench_screen.py [--terms 10000] [--megabytes 1]

Prints build and scan timings; not a test (timings depend on the machine).
The text mixes Simplified and Traditional characters, punctuation, spaces,
zero-width characters and a few emoji, so the normalisation path that maps
positions back to the original text is exercised, not only the fast path.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from govmedia.content.screen import Screen

COMMON = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 3000))
TRADITIONAL = "國資委發佈會議總體經濟與產業結構調整體系問題實現關於監督檢查開發應對"
NOISE = ["，", "。", "、", " ", "\u200b", "——", "“", "”", "😀", "\n", "-", "Ａ", "1"]


def make_text(rng: random.Random, size_bytes: int) -> str:
    parts: list[str] = []
    size = 0
    while size < size_bytes:
        run = "".join(rng.choice(COMMON) for _ in range(rng.randint(4, 30)))
        if rng.random() < 0.1:
            run += rng.choice(TRADITIONAL)
        run += rng.choice(NOISE)
        parts.append(run)
        size += len(run.encode("utf-8"))
    return "".join(parts)


def make_terms(rng: random.Random, count: int) -> list[str]:
    return ["".join(rng.choice(COMMON) for _ in range(rng.randint(2, 6))) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--terms", type=int, default=10_000)
    parser.add_argument("--megabytes", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    rng = random.Random(20240601)
    text = make_text(rng, int(args.megabytes * 1_000_000))
    terms = make_terms(rng, args.terms)
    planted = rng.sample(terms, 50)
    text += "".join("，" + "-".join(term) for term in planted)

    t0 = time.perf_counter()
    screen = Screen(terms)
    build = time.perf_counter() - t0

    first = time.perf_counter()
    hits = screen.scan(text)
    cold = time.perf_counter() - first
    runs = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        screen.scan(text)
        runs.append(time.perf_counter() - t0)

    found = {h.term for h in hits}
    print(f"text: {len(text.encode('utf-8')) / 1e6:.2f} MB, {len(text):,} characters")
    print(f"terms: {len(screen):,} distinct (of {len(terms):,}); OpenCC folding: {screen.folds_traditional}")
    print(f"build Screen: {build * 1000:.0f} ms")
    print(f"scan, first call (learns the characters): {cold * 1000:.0f} ms")
    print(f"scan, warm: median {statistics.median(runs) * 1000:.0f} ms, "
          f"best {min(runs) * 1000:.0f} ms over {len(runs)} runs")
    print(f"hits: {len(hits):,}; planted terms found: {len(set(planted) & found)}/{len(planted)}")


if __name__ == "__main__":
    main()
