"""`Post.tags` rendered in each platform's hashtag style."""

import pytest

from govmedia.content.hashtags import (
    PLATFORM_STYLES,
    has_tag,
    hashtag,
    render_tags,
    style_for,
    tag_line,
    weibo_topics,
)
from govmedia.errors import ConfigError

TAGS = ("一带一路看国企", "央企人事调整", "Belt and Road")


@pytest.mark.parametrize(("platform", "expected"), [
    ("weibo", ["#一带一路看国企#", "#央企人事调整#", "#BeltandRoad#"]),
    ("x", ["#一带一路看国企", "#央企人事调整", "#BeltAndRoad"]),
    ("mastodon", ["#一带一路看国企", "#央企人事调整", "#BeltAndRoad"]),
    ("bluesky", ["#一带一路看国企", "#央企人事调整", "#BeltAndRoad"]),
    ("douyin", ["#一带一路看国企", "#央企人事调整", "#BeltAndRoad"]),
    ("kuaishou", ["#一带一路看国企", "#央企人事调整", "#BeltAndRoad"]),
    ("wechat_oa", []),
    ("wordpress", []),
    ("youtube", []),
    ("webhook", []),
])
def test_each_platform_writes_tags_its_own_way(platform, expected):
    assert render_tags(TAGS, platform) == expected


def test_weibo_share_endpoint_gets_no_topics():
    # shared/platforms/weibo.md: statuses/share "must not contain #话题#".
    assert render_tags(TAGS, "weibo", endpoint="statuses/share") == []
    assert style_for("weibo", endpoint="statuses/share") == "none"
    assert render_tags(TAGS, "weibo", endpoint="proxy/article/publish")[0] == "#一带一路看国企#"


def test_weibo_topics_are_found_so_share_can_refuse_them():
    assert weibo_topics("今天 #一带一路看国企# 更新，#  # 不算") == ["一带一路看国企"]
    assert weibo_topics("没有话题 #半个") == []


@pytest.mark.parametrize(("tag", "style", "expected"), [
    ("#国企", "x", "#国企"),  # a leading # is not doubled
    ("＃国企", "mastodon", "#国企"),
    ("COVID-19", "x", "#COVID19"),
    ("2024", "x", None),  # X, Mastodon and Bluesky do not link an all-digit tag
    ("2024", "mastodon", None),
    ("2024年", "bluesky", "#2024年"),
    ("国企 改革", "weibo", "#国企改革#"),
    ("a#b", "weibo", "#ab#"),
    ("   ", "x", None),
    ("!!!", "x", None),
    ("国企改革", "none", None),
    ("é\u0301t\u00e9", "x", "#é\u0301t\u00e9"),  # combining marks stay in a tag
    ("中" * 65, "bluesky", None),  # Bluesky #tag <= 64 graphemes (bluesky.md)
    ("中" * 64, "bluesky", "#" + "中" * 64),
])
def test_tag_character_rules(tag, style, expected):
    # Mastodon's rule (word characters, one letter) is from its HASHTAG_RE, not
    # the fact sheet (unverified against the newest release).
    assert hashtag(tag, style) == expected


def test_repeats_are_dropped_case_insensitively():
    assert render_tags(["SOE", "soe", "#SOE", "国企"], "x") == ["#SOE", "#国企"]


def test_tag_line_joins_with_spaces():
    assert tag_line(["央企", "国企改革"], "x") == "#央企 #国企改革"
    assert tag_line(["央企"], "wechat_oa") == ""


def test_style_can_be_forced_and_unknown_styles_are_refused():
    assert render_tags(["央企"], "wechat_oa", style="x") == ["#央企"]
    with pytest.raises(ConfigError):
        hashtag("央企", "instagram")  # type: ignore[arg-type]


def test_platform_table_covers_the_fact_sheet_platforms_with_topics():
    assert {"weibo", "x", "mastodon", "bluesky", "douyin", "kuaishou"} <= set(PLATFORM_STYLES)
    # Telegram and Facebook are not on the fact sheets: both clients link a
    # #word, so tags go out as #tag (unverified; Facebook declares it on its class).
    assert render_tags(["央企"], "telegram") == render_tags(["央企"], "facebook") == ["#央企"]


@pytest.mark.parametrize(("text", "tag", "style", "expected"), [
    ("招聘季开始了 #央企", "央企", "hash", True),
    ("#央企 招聘季", "#央企", "hash", True),                 # the tag given with its #
    ("＃央企 招聘季", "央企", "hash", True),                 # a full-width ＃
    ("#央企改革 开始了", "央企", "hash", False),              # runs on into more tag letters
    ("央企 招聘季", "央企", "hash", False),                   # no # at all
    ("a#央企", "央企", "hash", False),                        # glued to a word: no hashtag
    ("&#央企;", "央企", "hash", False),                       # an HTML entity, not a tag
    ("see #beltandroad", "Belt and Road", "x", True),        # case-insensitive, as rendered
    ("#COVID19 cases", "COVID-19", "x", True),
    ("#一带一路看国企# 开通", "一带一路看国企", "weibo", True),
    ("#一带一路看国企 开通", "一带一路看国企", "weibo", False),  # Weibo needs the closing #
    ("#2024 年", "2024", "hash", False),                      # no letter: never a hashtag
    ("#央企", "央企", "none", False),
])
def test_has_tag_finds_a_tag_already_in_the_text(text, tag, style, expected):
    assert has_tag(text, tag, style) is expected
