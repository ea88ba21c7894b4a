"""Redis connections for the stores workers share (rate budgets, tokens, the queue), made alike."""

from __future__ import annotations

from typing import Any

from govmedia.errors import ConfigError

__all__ = ["connect"]


def connect(url: str, *, what: str, timeout: float = 2.0) -> Any:
    """A redis-py client for *url* (it connects on first use), with *timeout* on every call.

    Raises:
        ConfigError: redis-py is not installed; the message names *what* needs it.

    Example:
        >>> from govmedia._redis import connect
        >>> client = connect("redis://127.0.0.1:6379/0", what="a redis:// token store")
        >>> client.connection_pool.connection_kwargs["socket_timeout"]
        2.0
    """
    try:
        import redis
    except ImportError:  # pragma: no cover - the extra is installed in tests
        from govmedia._extras import install_hint

        raise ConfigError(f"{what} needs redis-py: {install_hint('redis')}") from None
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                health_check_interval=30)
