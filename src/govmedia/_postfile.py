"""Read a post from a Markdown file with TOML front matter between ``+++`` lines.

```markdown
+++
title = "一带一路看国企"
text = "一带一路看国企 https://example.org/a/1"
tags = ["一带一路看国企"]
link = "https://example.org/a/1"
cover = "cover.jpg"              # paths are relative to this file
media = [{ path = "chart.png", alt = "客货运量" }]
+++
# 标题

正文……
```
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from govmedia.errors import ConfigError
from govmedia.model import Media, Post

__all__ = ["load_post"]

_FIELDS = {"title", "text", "summary", "tags", "link", "cover", "media", "key", "body_format"}


def _media(value: Any, base: Path, where: str) -> Media:
    if isinstance(value, str):
        value = {"path": value}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: a media entry is a path or {{ path = ..., alt = ... }}")
    if "url" in value:
        return Media.from_url(value["url"], alt=value.get("alt"))
    if not isinstance(value.get("path"), str):
        raise ConfigError(f"{where}: a media entry needs a path (a string) or a url")
    path = Path(value["path"])
    return Media.from_path(path if path.is_absolute() else base / path, alt=value.get("alt"))


def load_post(path: str | Path) -> Post:
    """Build a `Post` from a Markdown file; the body is what follows the front matter."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read post file {str(p)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return _post(p, text)
    except ConfigError as exc:
        if str(exc).startswith(str(p)):
            raise
        raise ConfigError(f"{p}: {exc}") from None


def _post(p: Path, text: str) -> Post:
    meta: dict[str, Any] = {}
    body = text
    if text.startswith("+++"):
        head, sep, rest = text[3:].partition("\n+++")
        if not sep:
            raise ConfigError(f"{p}: front matter opened with +++ is never closed")
        try:
            meta = tomllib.loads(head)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: front matter is not valid TOML: {exc}") from None
        except RecursionError:
            raise ConfigError(
                f"{p}: front matter is not valid TOML: arrays or tables nested too deep"
            ) from None
        body = rest.split("\n", 1)[1] if "\n" in rest else ""
    unknown = sorted(set(meta) - _FIELDS)
    if unknown:
        raise ConfigError(f"{p}: unknown front matter key(s) {', '.join(unknown)}; "
                          f"valid: {', '.join(sorted(_FIELDS))}")
    base = p.parent
    if "cover" in meta:
        meta["cover"] = _media(meta["cover"], base, f"{p}: cover")
    if "media" in meta:
        if not isinstance(meta["media"], list):
            raise ConfigError(f"{p}: media must be a list of paths or {{ path = ..., alt = ... }}")
        meta["media"] = tuple(_media(m, base, f"{p}: media") for m in meta["media"])
    return Post(body=body.strip() or None, **meta)
