"""The govmedia.checks entry-point group: lazy loading, and a gate that fails closed."""

import importlib.metadata
import logging
import sys
import types

import pytest

import govmedia as gm
from govmedia.content import checks as checks_module
from govmedia.content.checks import GROUP, Checks, load_checks

CHANNEL = gm.Channel(platform="webhook", account="cms", options={"url": "https://cms.example/hook"})


@pytest.fixture
def plugin(monkeypatch):
    """An importable module holding checks, as a third-party package would ship it."""
    module = types.ModuleType("govmedia_test_plugin")
    module.imports = 0

    def no_draft(post, channel):
        if "草稿" in (post.title or ""):
            return [gm.Problem(code="draft", message="title still says 草稿", field="title")]
        return []

    def weibo_only(post, channel):
        if channel.platform == "weibo" and post.link is None:
            return [gm.Problem(code="needs_link", message="Weibo share needs a link", field="link")]
        return []

    module.no_draft = no_draft
    module.weibo_only = weibo_only
    module.not_callable = 42
    monkeypatch.setitem(sys.modules, "govmedia_test_plugin", module)
    return module


def _entry(name, value):
    return importlib.metadata.EntryPoint(name=name, value=value, group=GROUP)


def _declare(monkeypatch, *entries):
    monkeypatch.setattr(checks_module, "_entry_points", lambda group: [e for e in entries if e.group == group])


def test_declared_checks_run_on_each_post(monkeypatch, plugin):
    _declare(monkeypatch, _entry("no_draft", "govmedia_test_plugin:no_draft"),
             _entry("weibo_only", "govmedia_test_plugin:weibo_only"))
    checks = load_checks()
    assert checks.names == ("no_draft", "weibo_only")
    assert checks(gm.Post(title="草稿：微招聘", text="正文"), CHANNEL) == [
        gm.Problem(code="draft", message="title still says 草稿", field="title"),
    ]
    weibo = gm.Channel(platform="weibo", account="gzxx")
    assert [p.code for p in checks(gm.Post(title="草稿", text="x"), weibo)] == ["draft", "needs_link"]
    assert checks(gm.Post(title="正式", text="x", link="https://x.org"), weibo) == []


def test_loading_is_lazy(monkeypatch):
    _declare(monkeypatch, _entry("later", "govmedia_not_imported_yet:check"))
    checks = load_checks()
    assert "govmedia_not_imported_yet" not in sys.modules
    assert checks.names == ("later",)


def test_a_check_that_fails_to_import_is_logged_once_and_reported_every_time(monkeypatch, plugin, caplog):
    _declare(monkeypatch, _entry("missing", "govmedia_no_such_module:check"),
             _entry("no_draft", "govmedia_test_plugin:no_draft"))
    checks = load_checks()
    post = gm.Post(title="草稿", text="x")
    with caplog.at_level(logging.WARNING, logger="govmedia.content"):
        first = checks(post, CHANNEL)
        second = checks(post, CHANNEL)
    assert [p.code for p in first] == ["check_unavailable", "draft"]
    assert first == second
    assert "'missing'" in first[0].message
    assert "ModuleNotFoundError" in first[0].message
    assert caplog.text.count("could not be loaded") == 1


def test_a_non_callable_entry_point_is_unavailable(monkeypatch, plugin):
    _declare(monkeypatch, _entry("bad", "govmedia_test_plugin:not_callable"))
    [problem] = load_checks()(gm.Post(text="x"), CHANNEL)
    assert problem.code == "check_unavailable"
    assert "not callable" in problem.message


def test_a_check_that_raises_blocks_instead_of_passing(caplog):
    def broken(post, channel):
        raise RuntimeError("term service down")

    with caplog.at_level(logging.WARNING, logger="govmedia.content"):
        [problem] = Checks({"broken": broken})(gm.Post(text="x"), CHANNEL)
    assert problem.code == "check_failed"
    assert "term service down" in problem.message
    assert "webhook:cms" in caplog.text


def test_a_check_must_return_problems():
    [problem] = Checks({"sloppy": lambda post, channel: ["not a problem"]})(gm.Post(text="x"), CHANNEL)
    assert problem.code == "check_failed"
    assert "returned str" in problem.message
    assert Checks({"none": lambda post, channel: None})(gm.Post(text="x"), CHANNEL) == []


def test_a_name_declared_twice_uses_the_first(monkeypatch, plugin, caplog):
    _declare(monkeypatch, _entry("dup", "govmedia_test_plugin:no_draft"),
             _entry("dup", "govmedia_test_plugin:weibo_only"))
    with caplog.at_level(logging.WARNING, logger="govmedia.content"):
        checks = load_checks()
    assert checks.names == ("dup",)
    assert "declared twice" in caplog.text


def test_a_screen_is_a_check_too():
    from govmedia.content import Screen

    screen = Screen(["违禁"])
    checks = Checks({"screen": lambda post, channel: screen.problems(post)})
    assert [p.code for p in checks(gm.Post(text="違-禁"), CHANNEL)] == ["screened_term"]


def test_the_real_group_is_readable():
    assert isinstance(load_checks(), Checks)
    assert repr(Checks({"a": lambda p, c: []})) == "Checks(['a'])"
