"""The platform registry: built-ins through entry points, plugins, failures."""

import logging

import pytest

import govmedia as gm
from govmedia.platforms import registry


def test_builtins_are_declared_as_entry_points():
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="govmedia.platforms")}
    assert {"webhook", "mastodon", "wechat_oa"} <= names
    assert {"webhook", "mastodon", "wechat_oa"} <= set(gm.platforms.available())


def test_unknown_platform_lists_valid_names():
    with pytest.raises(gm.ConfigError) as info:
        gm.platforms.get("myspace")
    assert "webhook" in str(info.value) and "mastodon" in str(info.value)


def test_register_and_replace():
    class Board(gm.BasePlatform):
        name = "board"

    gm.platforms.register("board", Board)
    try:
        assert gm.platforms.get("board") is Board
        with pytest.raises(gm.ConfigError, match="already"):
            gm.platforms.register("board", Board)
        gm.platforms.register("board", Board, replace=True)
    finally:
        gm.platforms.unregister("board")
    assert "board" not in gm.platforms.available()


def test_broken_plugin_is_logged_and_raises_only_when_used(caplog):
    gm.platforms.register("broken", "no_such_module_xyz:Thing")
    try:
        assert "broken" in gm.platforms.available()
        with caplog.at_level(logging.WARNING, logger="govmedia"), pytest.raises(gm.ConfigError, match="failed to load"):
            gm.platforms.get("broken")
        assert "broken" in caplog.text
        ch = gm.Channel(platform="broken", account="x")
        with pytest.raises(gm.ConfigError, match="failed to load"):
            gm.Client().check(gm.Post(text="x"), ch)
    finally:
        gm.platforms.unregister("broken")


def test_every_platform_satisfies_the_protocol():
    for name in gm.platforms.available():
        cls = gm.platforms.get(name)
        assert isinstance(cls(), gm.platforms.Platform), name
        assert cls.name == name
        assert isinstance(cls.capabilities, gm.Capabilities)
    assert registry.GROUP == "govmedia.platforms"
