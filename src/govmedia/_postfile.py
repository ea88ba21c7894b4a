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

import os
import tomllib
from pathlib import Path
from typing import Any

from govmedia.errors import ConfigError

__all__ = ["FIELDS", "read_post_file"]

FIELDS = frozenset({"title", "text", "summary", "tags", "link", "cover", "media", "key", "body_format"})


def _media(value: Any, base: Path, where: str) -> dict[str, Any]:
    """A media entry as keyword arguments: ``{"url": ...}`` or ``{"path": ...}`` (absolute)."""
    if isinstance(value, str):
        value = {"path": value}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: a media entry is a path or {{ path = ..., alt = ... }}")
    if "url" in value:
        return {"url": value["url"], "alt": value.get("alt")}
    if not isinstance(value.get("path"), str):
        raise ConfigError(f"{where}: a media entry needs a path (a string) or a url")
    path = Path(value["path"])
    return {"path": path if path.is_absolute() else base / path, "alt": value.get("alt")}


def read_post_file(  # noqa: C901 - one refusal per way a file can be wrong
    path: str | os.PathLike[str],
) -> tuple[dict[str, Any], str | None]:
    """The front matter (media entries resolved to keyword arguments) and the body of a post file.

    The caller builds the `Post`; this module knows the file format only.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read post file {str(p)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
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
    unknown = sorted(set(meta) - FIELDS)
    if unknown:
        raise ConfigError(f"{p}: unknown front matter key(s) {', '.join(unknown)}; "
                          f"valid: {', '.join(sorted(FIELDS))}")
    base = p.parent
    if "cover" in meta:
        meta["cover"] = _media(meta["cover"], base, f"{p}: cover")
    if "media" in meta:
        if not isinstance(meta["media"], list):
            raise ConfigError(f"{p}: media must be a list of paths or {{ path = ..., alt = ... }}")
        meta["media"] = [_media(m, base, f"{p}: media") for m in meta["media"]]
    return meta, body.strip() or None
