"""Fixtures of the service bot tests (imported by each test module: names are unique)."""

import pytest

import govmedia as gm
from govmedia.testing import Sandbox


@pytest.fixture
def sandbox():
    return Sandbox(platforms=["wechat_oa", "telegram"])


@pytest.fixture
def make_bot(sandbox):
    """A bot sending through the sandbox, with a weather skill and a menu fallback."""

    def make(**options):
        options.setdefault("http", sandbox.async_client())
        options.setdefault("retry", gm.RetryPolicy.testing())
        bot = gm.Bot(**options)

        @bot.skill(r"^天气\s*(?P<city>\S+)")
        def weather(msg, city):
            bot.calls.append(msg)
            return f"{city}：晴，12°C"

        @bot.fallback
        def menu(msg):
            bot.calls.append(msg)
            return "回复“天气 北京”查询天气"

        bot.calls = []
        return bot

    return make
