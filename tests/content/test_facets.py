"""Bluesky rich text: facets whose UTF-8 byte offsets slice back to the right text."""

from hypothesis import given, settings
from hypothesis import strategies as st

from govmedia.content.facets import LINK, MENTION, TAG, find_mentions, rich_text

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"


def _slices(rt):
    data = rt.text.encode("utf-8")
    return [data[f["index"]["byteStart"]:f["index"]["byteEnd"]].decode("utf-8") for f in rt.facets]


def test_link_mention_and_tag_facets_in_lexicon_shape():
    # Shape from shared/platforms/bluesky.md "Facets": index{byteStart, byteEnd},
    # features[] of app.bsky.richtext.facet#link{uri} / #mention{did} / #tag{tag}.
    # ✨ is 3 bytes and each Chinese character 3: the mention starts at byte 17.
    rt = rich_text("✨ 国资小新 @sasac.bsky.social 发布 https://www.sasac.gov.cn/a.html #国企改革",
                   resolve={"sasac.bsky.social": DID}.get)
    assert rt.facets == (
        {"index": {"byteStart": 17, "byteEnd": 35}, "features": [{"$type": MENTION, "did": DID}]},
        {"index": {"byteStart": 43, "byteEnd": 74},
         "features": [{"$type": LINK, "uri": "https://www.sasac.gov.cn/a.html"}]},
        {"index": {"byteStart": 75, "byteEnd": 88}, "features": [{"$type": TAG, "tag": "国企改革"}]},
    )
    assert _slices(rt) == ["@sasac.bsky.social", "https://www.sasac.gov.cn/a.html", "#国企改革"]
    assert rt.unresolved == ()
    assert rt.record_fields()["facets"][0]["features"][0]["did"] == DID


def test_without_a_resolver_mentions_are_left_for_the_platform():
    rt = rich_text("请关注 @sasac.bsky.social 和 @gov.example.cn")
    assert rt.facets == ()
    assert rt.unresolved == ("sasac.bsky.social", "gov.example.cn")
    assert rt.text == "请关注 @sasac.bsky.social 和 @gov.example.cn"


def test_a_resolver_may_know_only_some_handles():
    rt = rich_text("@a.example.com @b.example.com", resolve={"a.example.com": DID}.get)
    assert [f["features"][0]["$type"] for f in rt.facets] == [MENTION]
    assert rt.unresolved == ("b.example.com",)


def test_bare_domains_link_with_https():
    rt = rich_text("详见example.com/news。")
    assert rt.facets[0]["features"][0]["uri"] == "https://example.com/news"
    assert _slices(rt) == ["example.com/news"]


def test_shortened_links_keep_the_full_uri():
    long_link = "https://www.sasac.gov.cn/n2588025/n2588119/c30000000/content.html"
    rt = rich_text(f"详情 {long_link}", shorten_links=True)
    assert rt.text == "详情 www.sasac.gov.cn/n2588025/…"
    assert rt.facets[0]["features"][0]["uri"] == long_link
    assert _slices(rt) == ["www.sasac.gov.cn/n2588025/…"]


def test_tags_end_at_punctuation_and_need_a_letter():
    rt = rich_text("#国企改革。 #2024 #一带一路! 正文#不是标签")
    assert [f["features"][0]["tag"] for f in rt.facets] == ["国企改革", "一带一路"]
    assert _slices(rt) == ["#国企改革", "#一带一路"]


def test_no_facet_inside_a_link_and_emails_are_not_mentions():
    rt = rich_text("https://example.org/#section 邮件 office@sasac.example.cn")
    assert [f["features"][0]["$type"] for f in rt.facets] == [LINK]
    assert find_mentions("office@sasac.example.cn") == []


def test_plain_text_has_no_facets_key():
    assert rich_text("国资小新").record_fields() == {"text": "国资小新"}


# ------------------------------------------------------------------ properties

_filler = st.text(alphabet="国资委央企 abc，。👍🏽\U0001f468\u200d\U0001f469\u200d\U0001f467é\n", max_size=12)
_entity = st.sampled_from([
    ("https://example.org/a?b=1", "https://example.org/a?b=1"),
    ("https://www.sasac.gov.cn/n1/c2.html", "https://www.sasac.gov.cn/n1/c2.html"),
    ("@sasac.bsky.social", "@sasac.bsky.social"),
    ("@gov.example.cn", "@gov.example.cn"),
    ("#国企改革", "#国企改革"),
    ("#BeltAndRoad", "#BeltAndRoad"),
    ("#一带一路👍", "#一带一路👍"),
])


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.tuples(_filler, _entity), min_size=1, max_size=8), tail=_filler)
def test_facet_byte_offsets_always_slice_back_to_the_entity(parts, tail):
    text = "".join(f"{filler} {entity} " for filler, (entity, _) in parts) + tail
    rt = rich_text(text, resolve=lambda handle: DID)
    expected = [shown for _, (_, shown) in parts]
    assert _slices(rt) == expected
    data = rt.text.encode("utf-8")
    for facet in rt.facets:
        start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
        assert 0 <= start < end <= len(data)
        feature = facet["features"][0]
        if feature["$type"] == TAG:
            assert data[start:end].decode() == "#" + feature["tag"]
        if feature["$type"] == LINK:
            assert data[start:end].decode() == feature["uri"]


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=200))
def test_any_text_gives_facets_on_character_boundaries(text):
    rt = rich_text(text, resolve=lambda handle: DID, shorten_links=True)
    data = rt.text.encode("utf-8")
    last_end = 0
    for facet in rt.facets:
        start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
        assert last_end <= start < end <= len(data)
        data[start:end].decode("utf-8")  # raises if an offset splits a character
        last_end = end
