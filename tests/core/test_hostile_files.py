"""Hostile matrix and post files: every failure is a `ConfigError` naming the file.

Issue 9, item 9: a TOML file nested 500 levels deep raised `RecursionError`
out of `Matrix.from_file`; bytes that are not UTF-8, values of the wrong
type and paths with a NUL in them raised `UnicodeDecodeError`, `TypeError`
or `ValueError`.
"""

import contextlib
import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import govmedia as gm

DEEP_ARRAY = "[" * 500 + "]" * 500
DEEP_TABLE = "{ a = " * 500 + "1" + " }" * 500
MEMBER = '[[members]]\nplatform = "webhook"\naccount = "m1"\noptions = { url = "https://m.example/h" }\n'


def matrix_file(tmp_path, text: str | bytes):
    path = tmp_path / "matrix.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def post_file(tmp_path, front: str, body: str = "# 标题\n\n正文"):
    path = tmp_path / "post.md"
    path.write_text(f"+++\n{front}\n+++\n{body}", encoding="utf-8")
    return path


@pytest.mark.parametrize("text", [
    f"deep = {DEEP_ARRAY}\n",
    f"deep = {DEEP_TABLE}\n",
    MEMBER.replace("options = {", f"labels = {DEEP_ARRAY}\noptions = {{"),
    b"\xff\xfe[[members]]\n",                                  # not UTF-8
    MEMBER.replace('account = "m1"', "account = 5"),
    MEMBER.replace('account = "m1"', 'account = "m1"\nlabels = 5'),
    MEMBER.replace('account = "m1"', 'account = "m1"\nlabels = [1, 2]'),
    MEMBER.replace('account = "m1"', 'account = "m1"\ncredentials = "tok"'),
    MEMBER.replace('account = "m1"', 'account = "m1"\ncredentials = { secret = [1] }'),
    MEMBER.replace('options = { url = "https://m.example/h" }', "options = [1]"),
    "members = 5\n",
    "members = [1, 2]\n",
    "hub = 5\n",
    "[hub]\nplatform = 1\n",
    MEMBER + MEMBER,                                            # the same account twice
])
def test_bad_matrix_files(tmp_path, text):
    path = matrix_file(tmp_path, text)
    with pytest.raises(gm.ConfigError, match=r"matrix\.toml"):
        gm.Matrix.from_file(path)


def test_deep_values_within_tomls_limit_still_load(tmp_path):
    deep = "[" * 200 + "]" * 200  # tomllib reads this; walking it must not fail either
    path = matrix_file(tmp_path, MEMBER.replace("options = {", f"options = {{ deep = {deep}, "))
    # Walked to the end (no RecursionError): the option is then refused by
    # name when the matrix checks its channels.
    with pytest.raises(gm.ConfigError, match=r"members\[0\] webhook:m1: unknown option\(s\) deep"):
        gm.Matrix.from_file(path)
    table = tomllib.loads(path.read_text(encoding="utf-8"))["members"][0]
    channel = gm.Channel(platform="webhook", account="m1", options=table["options"])
    with gm.Client() as client, pytest.raises(gm.ConfigError, match="unknown option"):
        client.check(gm.Post(text="x"), channel)


@pytest.mark.parametrize("front", [
    f"title = {DEEP_ARRAY}",
    f"title = {DEEP_TABLE}",
    "tags = 5",
    "tags = [1]",
    "media = 5",
    'media = "chart.png"',
    "media = [{ path = 5 }]",
    'media = [{ path = "a\\u0000b.png" }]',
    'cover = { path = "no-such-cover.jpg" }',
    "title = 1979-05-27",
    'body_format = "docx"',
    "key = 5",
])
def test_bad_post_files(tmp_path, front):
    path = post_file(tmp_path, front)
    with pytest.raises(gm.ConfigError, match=r"post\.md"):
        gm.Post.from_file(path)


def test_post_file_not_utf8(tmp_path):
    path = tmp_path / "post.md"
    path.write_bytes(b'+++\ntitle = "\xff"\n+++\nbody')
    with pytest.raises(gm.ConfigError, match=r"post\.md.*UTF-8"):
        gm.Post.from_file(path)


def test_model_values_of_the_wrong_type():
    with pytest.raises(gm.ConfigError, match=r"Channel\.labels"):
        gm.Channel(platform="webhook", account="a", labels=5)
    with pytest.raises(gm.ConfigError, match=r"Post\.tags"):
        gm.Post(text="x", tags=[1])
    with pytest.raises(gm.ConfigError, match=r"Post\.tags"):
        gm.Post(text="x").with_variant(platform="weibo", tags=5)
    with pytest.raises(gm.ConfigError, match=r"Media\.path"):
        gm.Media.from_path("cover\x00.jpg")
    with pytest.raises(gm.ConfigError, match=r"Media\.path"):
        gm.Media.from_path(5)
    with pytest.raises(gm.ConfigError):
        gm.Matrix.from_dict([1, 2])


_TOML_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["platform", "account", "labels", "credentials", "options", "url",
                         "base_url", "access_token", "secret", "x"]) | st.text(max_size=5),
        inner, max_size=5),
    max_leaves=15,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["hub", "members", "other"]), _TOML_VALUE, max_size=3))
def test_any_matrix_data_is_a_matrix_or_a_config_error(data):
    with contextlib.suppress(gm.ConfigError):
        gm.Matrix.from_dict(data, env={})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "replace")))
def test_any_bytes_are_a_matrix_or_a_config_error(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("m") / "matrix.toml"
    path.write_bytes(blob)
    assert "matrix.toml" in error_of(lambda: gm.Matrix.from_file(path, env={}), "matrix.toml")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["title", "text", "summary", "tags", "link", "cover",
                                        "media", "key", "body_format", "x"]),
                       _TOML_VALUE, max_size=4))
def test_any_front_matter_is_a_post_or_a_config_error(tmp_path_factory, meta):
    import tomllib

    lines = []
    for key, value in meta.items():
        try:
            lines.append(f"{key} = {_toml(value)}")
        except ValueError:
            return
    path = tmp_path_factory.mktemp("p") / "post.md"
    path.write_text("+++\n" + "\n".join(lines) + "\n+++\nbody", encoding="utf-8")
    try:
        tomllib.loads("\n".join(lines))
    except tomllib.TOMLDecodeError:
        return
    assert "post.md" in error_of(lambda: gm.Post.from_file(path), "post.md")


def error_of(call, default: str) -> str:
    """The ConfigError's message, or *default* when *call* succeeds."""
    try:
        call()
    except gm.ConfigError as exc:
        return str(exc)
    return default


def _toml(value) -> str:
    """A TOML inline value (ValueError for what TOML cannot say: null)."""
    if value is None:
        raise ValueError(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f'"{k}" = {_toml(v)}' for k, v in value.items()) + "}"
