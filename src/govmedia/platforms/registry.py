"""Find platform classes by name: built-ins and plugins alike.

Platforms are declared in the entry-point group ``govmedia.platforms``;
govmedia declares its own built-ins there too, exactly as a third-party plugin
would. Classes are imported on first use; a plugin that fails to import is
logged once and raises `ConfigError` only when its name is used.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import pkgutil
import threading
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, cast

from govmedia.errors import ConfigError

__all__ = ["available", "get", "register", "unregister"]

logger = logging.getLogger("govmedia")

GROUP = "govmedia.platforms"

# A built-in is a module of this package named after its platform, whose
# class is the `BasePlatform` subclass with that name: found this way when the
# package metadata (the entry points) is absent, running from a source tree.
_NOT_PLATFORMS = frozenset({"auth", "base", "codes", "options", "registry", "steps", "uploads"})


def _builtins() -> dict[str, str]:
    here = str(Path(__file__).parent)
    return {m.name: f"govmedia.platforms.{m.name}:" for m in pkgutil.iter_modules([here])
            if not m.name.startswith("_") and m.name not in _NOT_PLATFORMS}


def _load(target: str, name: str) -> type[Any]:
    """The class at ``module:Class``; a built-in's path may leave the class out."""
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    if attr:
        return cast("type[Any]", getattr(module, attr))
    for value in vars(module).values():
        if isinstance(value, type) and getattr(value, "name", None) == name and \
                value.__module__ == module_name:
            return value
    raise AttributeError(f"{module_name} defines no platform class named {name!r}")


_lock = threading.RLock()
_paths: dict[str, str | type[Any]] | None = None
_loaded: dict[str, type[Any]] = {}
_failed: dict[str, str] = {}


def _discover() -> dict[str, str | type[Any]]:
    global _paths  # noqa: PLW0603 - the registry is process-wide by design
    with _lock:
        if _paths is None:
            found: dict[str, str | type[Any]] = dict(_builtins())
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
        ConfigError: *name* is unknown (the message lists the valid names and
            the nearest one: ``mastadon``, did you mean ``mastodon``?), or
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
            close = difflib.get_close_matches(name, list(paths), n=1) if isinstance(name, str) else []
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"unknown platform {name!r}{hint}; available: {', '.join(sorted(paths))}"
            )
        if name in _failed:
            raise ConfigError(f"platform {name!r} failed to load: {_failed[name]}")
        target = paths[name]
        if isinstance(target, str):
            try:
                cls = _load(target, name)
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
        builtin = _builtins().get(name)
        if builtin is not None:
            paths[name] = builtin
