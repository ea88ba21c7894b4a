"""Read a post from a Markdown file with front matter: TOML between ``+++`` lines, or YAML between ``---``.

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

The same in YAML (Jekyll, Hugo and most static-site tools write it this way):

```markdown
---
title: 一带一路看国企
tags: [一带一路看国企]
cover: cover.jpg
media:
  - path: chart.png
    alt: 客货运量
---
# 标题
```

Both take the same keys (`FIELDS`) and refuse the same mistakes; an error
names the file, and the line where the file can say it. A file whose first
line opens a front matter that is never closed is refused rather than sent:
its front matter would otherwise go out as the post's text.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from govmedia.errors import ConfigError

__all__ = ["FIELDS", "read_post_file"]

FIELDS = frozenset({"title", "text", "summary", "tags", "link", "cover", "media", "key", "body_format"})

# tomllib says where, in its message only: "(at line 2, column 9)".
_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)$")
_FENCES = {"+++": "TOML", "---": "YAML"}


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


def _split(p: Path, text: str) -> tuple[str | None, str, int, str]:
    """``(fence, front matter, its first line number, body)``; fence ``None`` when there is none."""
    lines = text.splitlines(keepends=True)
    first = 0
    while first < len(lines) and not lines[first].strip():
        first += 1  # blank lines before the fence: still a front matter, never text
    fence = lines[first].strip() if first < len(lines) else ""
    if fence not in _FENCES:
        return None, "", 0, text
    for end in range(first + 1, len(lines)):
        if lines[end].rstrip() == fence:
            return fence, "".join(lines[first + 1:end]), first + 2, "".join(lines[end + 1:])
    hint = " (a body that starts with a horizontal rule: write the rule as ***)" if fence == "---" else ""
    raise ConfigError(f"{p}, line {first + 1}: front matter opened with {fence} is never closed "
                      f"(end it with a line of {fence}){hint}")


def _toml(p: Path, head: str, line: int) -> Any:
    try:
        return tomllib.loads(head)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = _TOML_AT.search(message)
        if at:
            where = f"{p}, line {int(at[1]) + line - 1}"
            message = message[:at.start()].rstrip()
        else:  # "at end of document": the closing fence is where it went wrong
            where = f"{p}, line {line + head.count(chr(10))}"
            message = message.replace("(at end of document)", "at the end of the front matter")
        raise ConfigError(f"{where}: front matter is not valid TOML: {message}") from None
    except RecursionError:
        raise ConfigError(
            f"{p}: front matter is not valid TOML: arrays or tables nested too deep"
        ) from None


def _yaml(p: Path, head: str, line: int) -> Any:
    import yaml

    class _Loader(yaml.SafeLoader):
        """SafeLoader that refuses a key given twice (YAML keeps the last one silently)."""

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Hashable, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node)
            if not isinstance(key, Hashable):
                continue  # construct_mapping refuses it, saying where
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark)
            seen.add(key)
        return loader.construct_mapping(node)

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        return yaml.load(head, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{p}, line {mark.line + line}" if mark is not None else str(p)
        context = exc.context or ""
        if context and exc.context_mark is not None and exc.context_mark is not mark:
            context += f" (line {exc.context_mark.line + line})"
        what = ", ".join(str(s) for s in (context, exc.problem) if s)
        raise ConfigError(f"{where}: front matter is not valid YAML: {what}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: front matter is not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{p}: front matter is not valid YAML: nested too deep") from None


def _read(p: Path) -> str:
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read post file {str(p)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:  # a NUL in the path
        raise ConfigError(f"cannot read post file {str(p)!r}: {exc}") from None
    return text.removeprefix("\ufeff")  # a byte-order mark would hide the fence


def _front_matter(p: Path, text: str) -> tuple[dict[Any, Any], str]:
    fence, head, line, body = _split(p, text)
    if fence is None:
        return {}, body
    meta = (_toml if fence == "+++" else _yaml)(p, head, line)
    if meta is None:  # an empty YAML front matter
        return {}, body
    if not isinstance(meta, dict):
        raise ConfigError(f"{p}, line {line}: front matter must be keys and values "
                          f"(title, text, ...), got {type(meta).__name__}")
    # YAML's empty value (``summary:``) means "not given", as leaving the key out.
    return {k: v for k, v in meta.items() if v is not None}, body


def read_post_file(
    path: str | os.PathLike[str],
) -> tuple[dict[str, Any], str | None]:
    """The front matter (media entries resolved to keyword arguments) and the body of a post file.

    The caller builds the `Post`; this module knows the file format only.
    """
    p = Path(path)
    meta, body = _front_matter(p, _read(p))
    unknown = sorted(map(str, set(meta) - FIELDS))
    if unknown:
        raise ConfigError(f"{p}: unknown front matter key(s) {', '.join(unknown)}; "
                          f"valid: {', '.join(sorted(FIELDS))}")
    base = p.absolute().parent  # media stay found if the working directory changes
    if "cover" in meta:
        meta["cover"] = _media(meta["cover"], base, f"{p}: cover")
    if "media" in meta:
        if not isinstance(meta["media"], list):
            raise ConfigError(f"{p}: media must be a list of paths or {{ path = ..., alt = ... }}")
        meta["media"] = [_media(m, base, f"{p}: media") for m in meta["media"]]
    return meta, body.strip() or None
