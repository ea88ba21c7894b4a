"""Content cost in a WeChat dry run: check() per member for large and ordinary bodies.

Run: .venv/bin/python benchmarks/bench_content.py [--members 10]

For each body (an ordinary article with an image that fits WeChat, a 1 MB
Markdown body, a 1 MB body of punctuation that has no text floor, 10 MB
Markdown and HTML bodies) it times ``client.check`` on the first member and on the others, and
the peak RSS growth. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import resource
import time

import govmedia as gm
from govmedia.testing import Sandbox
from govmedia.testing.samples import CHART_PNG, COVER_JPEG

PARAGRAPH = ("国务院国资委召开中央企业负责人会议，**部署**下一阶段重点工作。"
             "[详情](https://www.sasac.gov.cn/a) ")


def bodies() -> dict[str, str]:
    article = "\n\n".join(["## 一带一路看国企"] + [PARAGRAPH * 2] * 40 + ["![图表](chart.png)"])
    one_mb = "\n\n".join(["## 小标题"] + [PARAGRAPH * 5] * 3000)
    html_page = ("<p>国务院国资委召开中央企业负责人会议，<b>部署</b>下一阶段重点工作。"
                 "<a href='https://www.sasac.gov.cn/a'>详情</a></p>\n")
    return {
        "article (fits)": article,
        "1 MB markdown": one_mb,
        "1 MB of '> - ' (no text)": "> - " * 250_000,
        "10 MB markdown": one_mb * 10,
        "10 MB HTML": html_page * (10_000_000 // len(html_page)),
    }


def _clear_cache() -> None:
    try:  # absent before the cache existed: the script also measures older versions
        from govmedia.content._cache import RENDERED
    except ImportError:
        return
    RENDERED.clear()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=10)
    args = parser.parse_args()
    sandbox = Sandbox(platforms=["wechat_oa"])
    members = [sandbox.channel("wechat_oa", f"gh_member{i}") for i in range(args.members)]
    cover = gm.Media.from_bytes(COVER_JPEG, filename="cover.jpg")
    chart = gm.Media.from_bytes(CHART_PNG, filename="chart.png")
    with gm.Client(http=sandbox.client()) as client:
        for name, body in bodies().items():
            _clear_cache()
            fmt = "html" if "HTML" in name else "markdown"
            post = gm.Post(title="一带一路看国企", body=body, body_format=fmt, cover=cover,
                           media=(chart,))
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            times = []
            for channel in members:
                start = time.perf_counter()
                problems = client.check(post, channel)
                times.append(time.perf_counter() - start)
            grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
            rest = sum(times[1:]) / max(len(times) - 1, 1)
            print(f"{name:28} {len(body):>10,} chars  first {times[0]:7.3f} s  "
                  f"others {rest * 1000:8.2f} ms  total {sum(times):7.2f} s  "
                  f"peak RSS +{grown:6.0f} MB  {sorted({p.code for p in problems})}")


if __name__ == "__main__":
    main()
