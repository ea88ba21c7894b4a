"""`govmedia bot serve MODULE:BOT` over real loopback HTTP, and `govmedia bot say` against it."""

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

import govmedia as gm
from govmedia.cli import main
from govmedia.cli.bot import load_app

SRC = str(Path(gm.__file__).resolve().parent.parent)

BOT_MODULE = textwrap.dedent("""
    import govmedia as gm

    bot = gm.Bot()

    @bot.skill(r"^天气\\s*(?P<city>\\S+)")
    def weather(msg, city):
        return f"{city}：晴，12°C"

    wechat = gm.Channel(platform="wechat_oa", account="gh_demo", credentials={
        "app_id": "wx0123456789abcdef", "callback_token": "tok-serve-1",
        "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"})
    bot.asgi({"/wechat": wechat})
""")

MATRIX = textwrap.dedent("""
    [hub]
    platform = "wechat_oa"
    account = "gh_demo"
    [hub.credentials]
    app_id = "wx0123456789abcdef"
    app_secret = "unused"
    callback_token = "${WX_TOKEN}"
    encoding_aes_key = "${WX_AES_KEY}"
""")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    (tmp_path / "demo_bot.py").write_text(BOT_MODULE, encoding="utf-8")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": SRC}
    process = subprocess.Popen([sys.executable, "-m", "govmedia.cli", "bot", "serve", "demo_bot:bot",
                                "--port", str(port), "--log-level", "warning"],
                               cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/nothing", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield tmp_path, port
    finally:
        process.terminate()
        process.wait(10)


def test_serve_answers_a_follower_over_http(served, monkeypatch, capsys):
    tmp_path, port = served
    (tmp_path / "m.toml").write_text(MATRIX, encoding="utf-8")
    monkeypatch.setenv("WX_TOKEN", "tok-serve-1")
    monkeypatch.setenv("WX_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
    status = main(["bot", "say", f"http://127.0.0.1:{port}/wechat", "天气 北京",
                   "--matrix", str(tmp_path / "m.toml"), "--account", "gh_demo"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert out.splitlines() == ["HTTP 200", "北京：晴，12°C"]
    # a forged one is refused by the served bot
    monkeypatch.setenv("WX_TOKEN", "wrong-token")
    assert main(["bot", "say", f"http://127.0.0.1:{port}/wechat", "天气 北京",
                 "--matrix", str(tmp_path / "m.toml"), "--account", "gh_demo"]) == 1
    assert "HTTP 403" in capsys.readouterr().out


def test_load_app_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lonely_bot.py").write_text("import govmedia as gm\nbot = gm.Bot()\nx = 1\n")
    with pytest.raises(gm.ConfigError, match=r"never called bot\.asgi"):
        load_app("lonely_bot:bot")
    with pytest.raises(gm.ConfigError, match="has no 'nope'"):
        load_app("lonely_bot:nope")
    with pytest.raises(gm.ConfigError, match="neither"):
        load_app("lonely_bot:x")
    with pytest.raises(gm.ConfigError, match="cannot import"):
        load_app("no_such_module_here:bot")
    assert main(["bot", "serve", "nocolon"]) == 2
