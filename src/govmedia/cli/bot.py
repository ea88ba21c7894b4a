"""``govmedia bot``: serve a bot (``serve MODULE:BOT``), or write to one as a follower (``say``).

Kept apart from `govmedia.cli`, which only hooks it in with `add_bot_command`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from govmedia._extras import install_hint
from govmedia.errors import ConfigError

__all__ = ["add_parser", "load_app"]


def add_parser(sub: Any, parents: list[Any]) -> None:
    """Add ``govmedia bot serve`` and ``govmedia bot say`` to the parser's subcommands *sub*."""
    bot = sub.add_parser("bot", help="serve a service bot, or write to one as a follower",
                         parents=parents)
    verbs = bot.add_subparsers(dest="bot_command", required=True)
    serve = verbs.add_parser("serve", help="serve MODULE:BOT over HTTP (the bot extra's uvicorn)",
                             parents=parents)
    serve.add_argument("target", metavar="MODULE:BOT",
                       help="a gm.Bot whose module called bot.asgi({...}), or that app itself")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info",
                       choices=("critical", "error", "warning", "info", "debug"))
    serve.set_defaults(func=_cmd_serve)
    say = verbs.add_parser("say", help="send a signed WeChat callback or Telegram update to a bot",
                           parents=parents)
    say.add_argument("url", help="the bot's webhook URL, e.g. http://127.0.0.1:8000/wechat")
    say.add_argument("text")
    say.add_argument("--matrix", required=True, help="matrix TOML holding the channel (secrets from env)")
    say.add_argument("--account", required=True, help="the channel's account in the matrix")
    say.add_argument("--user", default=None, help="the follower (OpenID, or a Telegram user id)")
    say.set_defaults(func=_cmd_say)


def load_app(target: str) -> Any:
    """The ASGI app named by ``MODULE:NAME`` (a `Bot` stands for the app its last `asgi` made).

    Example:
        >>> load_app("no_colon")
        Traceback (most recent call last):
        ...
        govmedia.errors.ConfigError: give the bot as MODULE:NAME (e.g. mybot:bot), got 'no_colon'
    """
    module_name, _, name = target.partition(":")
    if not module_name or not name:
        raise ConfigError(f"give the bot as MODULE:NAME (e.g. mybot:bot), got {target!r}")
    sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}") from None
    try:
        value = getattr(module, name)
    except AttributeError:
        raise ConfigError(f"{module_name} has no {name!r}") from None
    from govmedia.bot import Bot

    if isinstance(value, Bot):
        if value.app is None:
            raise ConfigError(f"{target} is a gm.Bot whose module never called bot.asgi({{path: "
                              "channel}}): call it there, or name the app it returns")
        return value.app
    if not callable(value):
        raise ConfigError(f"{target} is neither a gm.Bot nor an ASGI app")
    return value


def _cmd_serve(args: argparse.Namespace) -> int:
    app = load_app(args.target)
    try:
        import uvicorn
    except ImportError:
        raise ConfigError("govmedia bot serve needs an ASGI server: "
                          f"{install_hint('uvicorn')}") from None
    paths = ", ".join(getattr(app, "paths", ()) or ("?",))
    print(f"govmedia bot serving {paths} on http://{args.host}:{args.port} (Ctrl-C stops it)",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, lifespan="on",
                server_header=False)
    return 0


def _cmd_say(args: argparse.Namespace) -> int:
    import anyio

    from govmedia.matrix import Matrix
    from govmedia.testing.follower import Follower

    matrix = Matrix.from_file(args.matrix)
    channel = next((c for c in matrix if c.account == args.account), None)
    if channel is None:
        raise ConfigError(f"no channel with account {args.account!r} in {args.matrix}")
    base, _, path = args.url.partition("://")
    host, _, rest = path.partition("/")
    follower = Follower(f"{base}://{host}")

    async def go() -> Any:
        try:
            if channel.platform == "wechat_oa":
                return await follower.wechat("/" + rest, channel, args.text,
                                             user=args.user or "o_govmedia_follower")
            if channel.platform == "telegram":
                return await follower.telegram("/" + rest, channel, args.text,
                                               user=int(args.user or 42))
            raise ConfigError(f"bot say sends to wechat_oa and telegram bots, not {channel.platform}")
        finally:
            await follower.aclose()

    heard = anyio.run(go)
    print(f"HTTP {heard.status}")
    if heard.reply is not None:
        print(heard.reply)
    return 0 if heard.status == 200 else 1
