"""Find platform classes by name: built-ins and plugins alike.

Platforms are declared in the entry-point group ``govmedia.platforms``;
govmedia declares its own built-ins there too, exactly as a third-party plugin
would. Classes are imported on first use; a plugin that fails to import is
logged once and raises `ConfigError` only when its name is used.
"""

from __future__ import annotations

import importlib
import logging
import threading
from importlib.metadata import entry_points
from typing import Any

from govmedia.errors import ConfigError

__all__ = ["available", "get", "register", "unregister"]

logger = logging.getLogger("govmedia")

GROUP = "govmedia.platforms"

# Built-ins, used when the package metadata is absent (running from a source
# tree without an install); the installed entry points say the same.
_BUILTINS = {
    "webhook": "govmedia.platforms.webhook:WebhookPlatform",
    "mastodon": "govmedia.platforms.mastodon:MastodonPlatform",
    "wechat_oa": "govmedia.platforms.wechat_oa:WeChatOAPlatform",
}

_lock = threading.RLock()
_paths: dict[str, str | type[Any]] | None = None
_loaded: dict[str, type[Any]] = {}
_failed: dict[str, str] = {}


def _discover() -> dict[str, str | type[Any]]:
    global _paths  # noqa: PLW0603 - the registry is process-wide by design
    with _lock:
        if _paths is None:
            found: dict[str, str | type[Any]] = dict(_BUILTINS)
            for ep in entry_points(group=GROUP):
                found[ep.name] = ep.value
            _paths = found
        return _paths


def available() -> list[str]:
    """Names of every registered platform, sorted.

    Example:
        >>> import govmedia as gm
        >>> {"mastodon", "webhook", "wechat_oa"} <= set(gm.platforms.available())
        True
    """
    return sorted(_discover())


def get(name: str) -> type[Any]:
    """The platform class registered as *name*, imported on first use.

    Raises:
        ConfigError: *name* is unknown (the message lists the valid names), or
            its plugin failed to import (the message says why).

    Example:
        >>> import govmedia as gm
        >>> gm.platforms.get("webhook").__name__
        'WebhookPlatform'
    """
    paths = _discover()
    with _lock:
        if name in _loaded:
            return _loaded[name]
        if name not in paths:
            raise ConfigError(
                f"unknown platform {name!r}; available: {', '.join(sorted(paths))}"
            )
        if name in _failed:
            raise ConfigError(f"platform {name!r} failed to load: {_failed[name]}")
        target = paths[name]
        if isinstance(target, str):
            try:
                module_name, _, attr = target.partition(":")
                cls = getattr(importlib.import_module(module_name), attr)
            except Exception as exc:
                _failed[name] = f"{type(exc).__name__}: {exc}"
                logger.warning("govmedia platform plugin %r (%s) failed to load: %s", name, target, exc)
                raise ConfigError(f"platform {name!r} failed to load: {_failed[name]}") from exc
        else:
            cls = target
        _loaded[name] = cls
        loaded: type[Any] = cls
        return loaded


def register(name: str, cls_or_path: type[Any] | str, *, replace: bool = False) -> None:
    """Register a platform class (or a lazy ``"module:Class"`` path) as *name*.

    Args:
        name: the platform name channels use.
        cls_or_path: the class, or where to import it from on first use.
        replace: allow replacing an existing registration.

    Example:
        >>> import govmedia as gm
        >>> class NoticePlatform(gm.BasePlatform):
        ...     name = "notice"
        >>> gm.platforms.register("notice", NoticePlatform)
        >>> gm.platforms.get("notice") is NoticePlatform
        True
        >>> gm.platforms.unregister("notice")
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(f"platform names are identifiers like 'wechat_oa', got {name!r}")
    paths = _discover()
    with _lock:
        if name in paths and not replace:
            raise ConfigError(f"platform {name!r} is registered already; pass replace=True")
        paths[name] = cls_or_path
        _loaded.pop(name, None)
        _failed.pop(name, None)


def unregister(name: str) -> None:
    """Remove a registration made with `register` (built-ins come back on reload)."""
    paths = _discover()
    with _lock:
        paths.pop(name, None)
        _loaded.pop(name, None)
        _failed.pop(name, None)
        if name in _BUILTINS:
            paths[name] = _BUILTINS[name]
