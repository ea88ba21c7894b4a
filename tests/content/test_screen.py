"""gm.Screen: listed terms found however they are disguised, at their place in the original text."""

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import govmedia as gm
from govmedia.content import screen as screen_module
from govmedia.content.screen import Hit, Screen
from govmedia.errors import ConfigError

TERMS = ["敏感词", "违禁", "法轮", "SPAM", "一带一路"]


@pytest.fixture(scope="module")
def screen():
    return Screen(TERMS)


def _spelled(text, hits):
    return [(h.term, text[h.start:h.end]) for h in hits]


@pytest.mark.parametrize(("text", "found"), [
    ("这里有敏感词。", [("敏感词", "敏感词")]),
    ("敏-感-词", [("敏感词", "敏-感-词")]),
    ("敏 感\t词", [("敏感词", "敏 感\t词")]),
    ("敏\u200b感\u200d词", [("敏感词", "敏\u200b感\u200d词")]),  # zero-width characters
    ("敏\ufe0f感\u2060词", [("敏感词", "敏\ufe0f感\u2060词")]),  # variation selector, word joiner
    ("敏😀感👍🏽词", [("敏感词", "敏😀感👍🏽词")]),  # emoji are symbols
    ("敏，感。词", [("敏感词", "敏，感。词")]),  # CJK punctuation
    ("敏\n感\n词", [("敏感词", "敏\n感\n词")]),  # line breaks
    ("敏\u0301感词", [("敏感词", "敏\u0301感词")]),  # a stray combining mark
    ("違禁", [("违禁", "違禁")]),  # Traditional -> Simplified
    ("法輪", [("法轮", "法輪")]),
    ("ＳＰＡＭ", [("SPAM", "ＳＰＡＭ")]),  # full-width, case-folded
    ("s.p.a.m", [("SPAM", "s.p.a.m")]),
    ("⼀带⼀路", [("一带一路", "⼀带⼀路")]),  # Kangxi radicals U+2F00 look like 一
    ("今天天气很好", []),
    ("", []),
])
def test_scan_finds_disguised_terms_in_the_original_text(screen, text, found):
    assert _spelled(text, screen.scan(text)) == found


def test_every_occurrence_leftmost_longest_non_overlapping():
    screen = Screen(["国资", "国资委", "委员"])
    text = "国资委员会，国资、国-资-委"
    assert _spelled(text, screen.scan(text)) == [
        ("国资委", "国资委"), ("国资", "国资"), ("国资委", "国-资-委"),
    ]


def test_hits_are_attrs_values_with_original_positions(screen):
    text = "前缀 敏-感词 后缀"
    [hit] = screen.scan(text)
    assert hit == Hit("敏感词", 3, 7)
    assert text[hit.start:hit.end] == "敏-感词"


def test_characters_that_expand_when_folded_keep_positions_right():
    # "ﬁ" folds to two letters and "㍻" to 平成: positions still map back.
    screen = Screen(["file", "平成"])
    text = "一 ﬁle 二 ㍻ 三 fi-le"
    assert _spelled(text, screen.scan(text)) == [("file", "ﬁle"), ("平成", "㍻"), ("file", "fi-le")]


def test_terms_are_folded_like_the_text():
    screen = Screen(["違 禁", "ＳＰＡＭ"])
    assert screen.terms == ("違 禁", "ＳＰＡＭ")
    assert _spelled("违禁spam", screen.scan("违禁spam")) == [("違 禁", "违禁"), ("ＳＰＡＭ", "spam")]


def test_duplicate_and_empty_terms(caplog):
    with caplog.at_level(logging.WARNING, logger="govmedia.content"):
        screen = Screen(["敏感", "敏 感", "敏感", "！！", "", "   "])
    assert screen.terms == ("敏感",)
    assert len(screen) == 1
    assert "'！！' ignored" in caplog.text


def test_an_empty_screen_finds_nothing():
    assert Screen([]).scan("敏感词") == []
    assert repr(Screen(["a", "b"])) == "Screen(<2 terms>)"


def test_terms_must_be_strings():
    with pytest.raises(ConfigError):
        Screen(["敏感", 42])


def test_from_file(tmp_path):
    first = tmp_path / "terms.txt"
    first.write_text("\ufeff# 示例词表（注释）\n敏感词\n\n  违禁  \n\\#话题\n", encoding="utf-8")
    second = tmp_path / "more.txt"
    second.write_text("法轮\n", encoding="utf-8")
    screen = Screen.from_file(first, second)
    assert screen.terms == ("敏感词", "违禁", "#话题", "法轮")


def test_from_file_errors_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        Screen.from_file(tmp_path / "missing.txt")
    bad = tmp_path / "gbk.txt"
    bad.write_bytes("敏感词".encode("gbk"))
    with pytest.raises(ConfigError, match="cannot read"):
        Screen.from_file(bad)


def test_thousands_of_terms_from_a_file(tmp_path):
    terms = [f"词{i:05d}" for i in range(5000)]
    path = tmp_path / "big.txt"
    path.write_text("\n".join(terms), encoding="utf-8")
    screen = Screen.from_file(path)
    assert len(screen) == 5000
    assert _spelled("内容含词-04999。", screen.scan("内容含词-04999。")) == [("词04999", "词-04999")]


def test_problems_name_the_field_and_where(screen):
    post = gm.Post(
        title="关于违禁品的通知", body="# 标题\n\n正文有敏-感词", text="短文", summary="摘要",
        tags=("国企", "SPAM"), link="https://example.org/fa-lun",
        cover=gm.Media.from_bytes(b"\x89PNG", filename="c.png", alt="一带一路封面"),
        media=(gm.Media.from_bytes(b"\x89PNG", filename="a.png", alt="无"),
               gm.Media.from_bytes(b"\x89PNG", filename="b.png", alt="違禁圖")),
    )
    problems = screen.problems(post)
    assert [(p.code, p.field) for p in problems] == [
        ("screened_term", "title"),
        ("screened_term", "body"),
        ("screened_term", "tags"),
        ("screened_term", "cover.alt"),
        ("screened_term", "media[1].alt"),
    ]
    assert problems[0].message == "screened term '违禁' at characters 2-4: '违禁'"
    assert problems[2].message == "screened term 'SPAM' in tag 2 at characters 0-4: 'SPAM'"
    assert problems[4].message == "screened term '违禁' at characters 0-2: '違禁'"


def test_the_link_is_screened_too():
    problems = Screen(["falun"]).problems(gm.Post(text="x", link="https://example.org/fa-lun"))
    assert [p.field for p in problems] == ["link"]


def test_without_opencc_traditional_is_not_folded(monkeypatch, caplog):
    # Documented degradation: without OpenCC, Traditional spellings are not folded.
    monkeypatch.setattr(screen_module, "_t2s", lambda: None)
    monkeypatch.setattr(screen_module, "_FOLDERS", {})
    screen = Screen(["违禁"])
    assert screen.folds_traditional is False
    assert screen.scan("違禁") == []
    assert _spelled("违-禁", screen.scan("违-禁")) == [("违禁", "违-禁")]


def test_traditional_folding_can_be_switched_off():
    screen = Screen(["违禁"], traditional=False)
    assert screen.scan("違禁") == []


def test_normalize_shows_what_scan_sees(screen):
    assert screen.normalize("國資 委-ＡＢＣ😀\u200b") == "国资委abc"


# ------------------------------------------------------------------ properties

_TERM_CHARS = "敏感词违禁国资委央企改革發展頭髮"
_FILLER = "今天天气很好我们一起学习进步交流合作共赢abcXYZ0123"
_SEPARATORS = st.lists(
    st.sampled_from([" ", "-", "_", ".", "·", "，", "。", "\u200b", "\u200c", "\u200d", "\u2060",
                     "\ufeff", "\u3000", "\t", "\n", "😀", "👍🏽", "★", "~", "|", "/", "\ufe0f"]),
    max_size=3,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    term=st.text(alphabet=_TERM_CHARS, min_size=2, max_size=6),
    seps=st.lists(_SEPARATORS, min_size=5, max_size=5),
    before=st.text(alphabet=_FILLER, max_size=30),
    after=st.text(alphabet=_FILLER, max_size=30),
)
def test_screening_finds_every_planted_term_under_random_separators(term, seps, before, after):
    planted = term[0] + "".join(seps[i % 5] + ch for i, ch in enumerate(term[1:]))
    text = before + planted + after
    screen = Screen([term, "不会出现的词"])
    hits = screen.scan(text)
    assert [(h.term, text[h.start:h.end]) for h in hits] == [(term, planted)]


@settings(max_examples=100, deadline=None)
@given(
    terms=st.lists(st.text(alphabet=_TERM_CHARS, min_size=2, max_size=4), min_size=1, max_size=5),
    order=st.randoms(use_true_random=False),
    sep=_SEPARATORS,
)
def test_every_planted_term_is_found_among_many(terms, order, sep):
    screen = Screen(terms)
    planted = list(dict.fromkeys(screen.normalize(t) for t in terms))
    order.shuffle(planted)
    # the filler shares no character with the terms, so no hit can straddle it
    text = "起首" + "。中间的话。".join(sep.join(p) for p in planted) + "末了"
    assert {h.term for h in screen.scan(text)} == set(screen.terms)


def test_scanning_from_many_threads_gives_the_same_hits(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(screen_module, "_FOLDERS", {})  # a folder that has learned nothing yet
    screen = Screen(["敏感词", "file", "平成"])
    texts = [f"第{i}段 ﬁle ㍻ 敏-感\u200b词 {chr(0x4E00 + 50 * i)}・{chr(0x3400 + i)}" for i in range(64)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(screen.scan, texts))
    for text, hits in zip(texts, results, strict=True):
        assert _spelled(text, hits) == [("file", "ﬁle"), ("平成", "㍻"), ("敏感词", "敏-感\u200b词")]
