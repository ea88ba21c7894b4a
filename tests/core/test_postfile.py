"""Post files: TOML (+++) and YAML (---) front matter, read alike; a front matter never goes out as text.

Issue 14, item 3: a post file with YAML front matter was published with
``title: "通知"`` as its text on 20 accounts.
"""

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import govmedia as gm
from govmedia.testing import Sandbox

TOML = """+++
title = "通知"
summary = "摘要"
tags = ["通知", "国资"]
link = "https://example.org/a/1"
cover = "cover.png"
media = [{ path = "chart.png", alt = "客货运量" }]
+++
# 标题

正文
"""

YAML = """---
title: "通知"
summary: 摘要
tags: [通知, 国资]
link: https://example.org/a/1
cover: cover.png
media:
  - path: chart.png
    alt: 客货运量
---
# 标题

正文
"""

PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)


def write(tmp_path, text, name="post.md", newline=None):
    (tmp_path / "cover.png").write_bytes(PNG)
    (tmp_path / "chart.png").write_bytes(PNG)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline=newline)
    return path


def test_yaml_and_toml_front_matter_make_the_same_post(tmp_path):
    toml_post = gm.Post.from_file(write(tmp_path, TOML, "a.md"))
    yaml_post = gm.Post.from_file(write(tmp_path, YAML, "b.md"))
    assert yaml_post == toml_post
    assert yaml_post.key == toml_post.key
    assert yaml_post.title == "通知" and yaml_post.body == "# 标题\n\n正文"
    assert yaml_post.media[0].alt == "客货运量"
    assert yaml_post.cover.path == str(tmp_path / "cover.png")


def test_a_yaml_front_matter_is_never_sent_as_the_text(tmp_path):
    sandbox = Sandbox(platforms=["mastodon"])
    post = gm.Post.from_file(write(tmp_path, '---\ntitle: "通知"\ntext: 今天下午三点开会\n---\n'))
    with gm.Client(http=sandbox.client(), journal=False) as client:
        client.publish(post, sandbox.channel("mastodon"))
    (status,) = sandbox["mastodon"].posts()
    assert "title" not in status["content"] and "今天下午三点开会" in status["content"]


@pytest.mark.parametrize("text", [
    "\ufeff---\ntitle: 通知\n---\n正文",          # a byte-order mark before the fence
    "---\r\ntitle: 通知\r\n---\r\n正文\r\n",        # Windows line ends
    "\n\n---\ntitle: 通知\n---\n正文",              # blank lines before the fence
    "---   \ntitle: 通知\n---\t\n正文",              # spaces after the fences
    '\ufeff+++\r\ntitle = "通知"\r\n+++\r\n正文',
])
def test_front_matter_is_found_where_editors_put_it(tmp_path, text):
    post = gm.Post.from_file(write(tmp_path, text, newline=""))
    assert (post.title, post.body) == ("通知", "正文")


def test_empty_values_and_an_empty_front_matter(tmp_path):
    post = gm.Post.from_file(write(tmp_path, "---\ntitle: 通知\nsummary:\n---\n正文"))
    assert post.summary is None
    assert gm.Post.from_file(write(tmp_path, "---\n---\n正文")).body == "正文"


@pytest.mark.parametrize(("text", "expected"), [
    ('---\ntitle: "通知\nsummary: x\n---\n正文', r"post\.md, line 4: .*not valid YAML.*quoted scalar \(line 2\)"),
    ("---\ntitle: a\n  b: c\n---\n正文", r"post\.md, line 3: .*not valid YAML: mapping values"),
    ("---\ntitle: a\ntitle: b\n---\n正文", r"post\.md, line 3: .*key 'title' is given twice"),
    ("---\n- a\n- b\n---\n正文", r"post\.md, line 2: front matter must be keys and values"),
    ("---\ntitle: a\n正文", r"post\.md, line 1: front matter opened with --- is never closed"),
    ("---\ntitel: a\n---\n正文", r"post\.md: unknown front matter key\(s\) titel"),
    ("---\n[a]: 1\n---\n正文", r"post\.md, line 2: .*unhashable key"),
    ("---\ntitle: !!python/object/apply:os.system [echo]\n---\n正文", r"post\.md, line 2: .*constructor"),
    ("---\ntitle: 2024-01-01\n---\n正文", r"post\.md: Post\.title: must be a string, got date"),
    ("---\ncover: no-such.jpg\n---\n正文", r"post\.md: .*no-such\.jpg"),
    ('+++\ntitle = "a"\nsummary = \n+++\n正文', r"post\.md, line 3: front matter is not valid TOML"),
    ('+++\ntitle = "a"\nbody', r"post\.md, line 1: front matter opened with \+\+\+ is never closed"),
    ('+++\ntitle = "a"\n---\n正文', r"never closed"),   # fences do not mix
])
def test_a_broken_front_matter_names_the_file_and_line(tmp_path, text, expected):
    with pytest.raises(gm.ConfigError, match=expected):
        gm.Post.from_file(write(tmp_path, text))


def test_deep_yaml_is_a_config_error(tmp_path):
    with pytest.raises(gm.ConfigError, match=r"post\.md"):
        gm.Post.from_file(write(tmp_path, "---\ntitle: " + "[" * 2000 + "]" * 2000 + "\n---\nx"))


_YAML_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10)
    | st.dates(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["title", "text", "summary", "tags", "link", "cover",
                                        "media", "key", "body_format", "x"]),
                       _YAML_VALUE, max_size=4) | st.text(max_size=60))
def test_any_yaml_front_matter_is_a_post_or_a_config_error_naming_the_file(tmp_path_factory, meta):
    head = yaml.safe_dump(meta, allow_unicode=True) if isinstance(meta, dict) else meta
    path = tmp_path_factory.mktemp("p") / "post.md"
    path.write_text(f"---\n{head}\n---\nbody", encoding="utf-8")
    assert "post.md" in error_of(lambda: gm.Post.from_file(path), "post.md")


def error_of(call, default: str) -> str:
    try:
        call()
    except gm.ConfigError as exc:
        return str(exc)
    return default
