"""``govmedia preview post.md --platform wechat_oa --out preview.html``: what would be sent, as a page.

One HTML page per platform: the problems `check` finds, the fields as they
would be sent, the text, and the body as the platform gets it (shown in a
sandboxed frame: no script in it runs). Nothing is sent and nothing is
uploaded.

Without ``--matrix`` the post is rendered for a sandbox account of each
platform; with it, for the matrix's own account (its options, such as
``script`` or an appended safe-domain link, change what is sent).
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from pathlib import Path
from typing import Any

import govmedia as gm
from govmedia._secrets import mask

__all__ = ["add_parser", "page"]

_STYLE = """
body { font: 15px/1.6 system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 2em auto;
       max-width: 60em; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
.problems { background: #fdecea; border-left: 4px solid #c62828; padding: .5em 1em; }
.ok { background: #e8f5e9; border-left: 4px solid #2e7d32; padding: .5em 1em; }
table { border-collapse: collapse; width: 100%; } td, th { border: 1px solid #ddd; padding: .3em .6em;
  vertical-align: top; text-align: left; } td pre { margin: 0; white-space: pre-wrap; }
pre.text { background: #f6f8fa; padding: 1em; white-space: pre-wrap; }
iframe { width: 100%; min-height: 40em; border: 1px solid #ddd; }
.note { color: #666; font-size: .9em; }
"""


def _value(value: Any) -> str:
    if isinstance(value, str):
        return mask(value)
    return mask(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def page(shown: gm.Rendered, *, source: str, note: str = "") -> str:
    """The HTML page of one `Rendered` preview."""
    esc = html.escape
    channel = shown.channel
    if shown.problems:
        items = "".join(f"<li><code>{esc(p.code)}</code> {esc(p.field or '')}: {esc(p.message)}</li>"
                        for p in shown.problems)
        verdict = (f'<div class="problems"><strong>{len(shown.problems)} problem(s): publish '
                   f"would refuse this post here.</strong><ul>{items}</ul></div>")
    else:
        verdict = '<div class="ok">No problems: <code>publish</code> would send this.</div>'
    fields = "".join(f"<tr><th>{esc(k)}</th><td><pre>{esc(_value(v))}</pre></td></tr>"
                     for k, v in shown.fields.items())
    parts = [
        "<!doctype html>", '<html lang="zh"><head><meta charset="utf-8">',
        f"<title>{esc(channel.platform)} preview: {esc(source)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{esc(channel.platform)} preview of {esc(source)}</h1>",
        (f'<p class="note">For {esc(channel.id)}. Nothing was sent; media are shown by their '
         f"source, not uploaded.{(' ' + esc(note)) if note else ''}</p>"),
        verdict,
        "<h2>Fields as sent</h2>",
        f"<table>{fields}</table>" if fields else "<p>None.</p>",
    ]
    if shown.text is not None:
        parts += ["<h2>Text</h2>", f'<pre class="text">{esc(mask(shown.text))}</pre>']
    if shown.html is not None:
        # sandbox="": no script, no form, no navigation from the frame.
        parts += ["<h2>Body as sent</h2>",
                  f'<iframe sandbox="" srcdoc="{esc(mask(shown.html), quote=True)}"></iframe>']
    parts.append("</body></html>")
    return "\n".join(parts)


def _channels(args: argparse.Namespace) -> tuple[list[gm.Channel], str]:
    """The channel to render for, per platform asked for, and a note on where it came from."""
    wanted = [p for p in (args.platform or "").split(",") if p]
    if args.matrix:
        matrix = gm.Matrix.from_file(args.matrix)
        chosen: dict[str, gm.Channel] = {}
        for channel in matrix:
            if (not wanted or channel.platform in wanted) and channel.platform not in chosen and \
                    (args.account is None or channel.account == args.account):
                chosen[channel.platform] = channel
        missing = [p for p in wanted if p not in chosen]
        if missing or not chosen:
            raise gm.ConfigError(f"{args.matrix} has no account of {', '.join(missing or wanted)}"
                                 + (f" named {args.account!r}" if args.account else ""))
        return [chosen[p] for p in (wanted or list(chosen))], ""
    from govmedia.testing import Sandbox

    for name in wanted:
        gm.platforms.get(name)  # an unknown name is a ConfigError with the nearest one
    try:
        sandbox = Sandbox(platforms=wanted or None)
    except (KeyError, ValueError, gm.ConfigError) as exc:
        raise gm.ConfigError(f"no sandbox account to render for ({exc}): pass --matrix with an "
                             "account of that platform") from None
    names = wanted or list(sandbox.fakes)
    note = "Rendered for a sandbox account: pass --matrix to see your own accounts' options."
    return [sandbox.channel(name) for name in names], note


def _cmd_preview(args: argparse.Namespace) -> int:
    post = gm.Post.from_file(args.post)
    channels, note = _channels(args)
    out = Path(args.out)
    several = len(channels) > 1
    refused = 0
    with gm.Client(journal=False) as client:
        for channel in channels:
            shown = client.render(post, channel)
            refused += not shown.ok
            target = out.with_name(f"{out.stem}-{channel.platform}{out.suffix or '.html'}") \
                if several else out
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(page(shown, source=args.post, note=note), encoding="utf-8")
            except OSError as exc:
                raise gm.ConfigError(f"cannot write {target}: {exc.strerror or exc}") from None
            state = "ok" if shown.ok else f"{len(shown.problems)} problem(s)"
            print(f"{channel.platform:<12} {state:<14} {target}")
    if refused:
        print(f"govmedia: {args.post}: publish would refuse it on {refused} platform(s); the pages "
              "say why", file=sys.stderr)
    return 1 if refused else 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
               parents: list[argparse.ArgumentParser]) -> None:
    """Add ``preview`` to the ``govmedia`` command."""
    preview = sub.add_parser(
        "preview", parents=parents, help="write what each platform would be sent as HTML pages",
        description="Render a post file as each platform would get it (variants, script, fit "
                    "applied; the problems check finds), one HTML page per platform. Nothing is "
                    "sent.")
    preview.add_argument("post", help="Markdown file with front matter (+++ TOML or --- YAML)")
    preview.add_argument("--platform", help="platform name(s), comma-separated (default: every "
                                            "platform of the matrix, or every built-in)")
    preview.add_argument("--matrix", help="render for this matrix's accounts (their options)")
    preview.add_argument("--account", help="with --matrix: the account to render for")
    preview.add_argument("--out", default="preview.html",
                         help="the page to write (several platforms: NAME-PLATFORM.html beside it)")
    preview.set_defaults(func=_cmd_preview)
