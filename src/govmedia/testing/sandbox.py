"""`Sandbox`: every fake platform behind one handler, for tests and demos."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from govmedia.model import Channel
from govmedia.testing._fake import FakePlatform

if TYPE_CHECKING:
    from govmedia.testing.follower import Follower

__all__ = ["FAKES", "Sandbox", "fake_class"]


class _Fakes(Mapping[str, str]):
    """``{platform: "module:FakeClass"}``, read from each registered platform's ``fake``."""

    def _paths(self) -> dict[str, str]:
        from govmedia.errors import ConfigError
        from govmedia.platforms import registry

        found = {}
        for name in registry.available():
            try:
                path = getattr(registry.get(name), "fake", None)
            except ConfigError:
                continue  # a plugin that failed to load has no fake to serve
            if path:
                found[name] = path
        return found

    def __getitem__(self, name: str) -> str:
        return self._paths()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths())

    def __len__(self) -> int:
        return len(self._paths())


FAKES: Mapping[str, str] = _Fakes()
"""Each platform's fake, as its class declares it (``fake``)."""


def fake_class(name: str) -> type[FakePlatform]:
    """The fake class for platform *name*."""
    module, _, attr = FAKES[name].partition(":")
    cls: type[FakePlatform] = getattr(importlib.import_module(module), attr)
    return cls


class Sandbox:
    """Fakes of the built-in platforms, reachable through one transport.

    Use `client` / `async_client` (an `httpx.MockTransport`) in-process, or
    serve it on loopback with ``govmedia sandbox``.

    Example:
        >>> import govmedia as gm
        >>> from govmedia.testing import Sandbox
        >>> sandbox = Sandbox()
        >>> with gm.Client(http=sandbox.client()) as client:
        ...     r = client.publish(gm.Post(text="国资小新：今日发布"), sandbox.channel("webhook"))
        >>> len(sandbox["webhook"].events())
        1
    """

    def __init__(
        self, base_url: str = "https://sandbox.govmedia.test", platforms: list[str] | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        names = platforms if platforms is not None else list(FAKES)
        self.fakes: dict[str, FakePlatform] = {n: fake_class(n)(self.base_url) for n in names}

    def __getitem__(self, name: str) -> Any:
        return self.fakes[name]

    def channel(self, platform: str, account: str = "", **options: Any) -> Channel:
        """A channel of *platform* that reaches its fake."""
        return self.fakes[platform].channel(account, **options)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Route *request* to the fake that owns its URL."""
        for fake in self.fakes.values():
            if fake.owns(request):
                return fake(request)
        raise httpx.ConnectError(f"sandbox: nothing listens at {request.url}", request=request)

    def transport(self) -> httpx.MockTransport:
        """An `httpx.MockTransport` over the fakes (works for sync and async clients)."""
        return httpx.MockTransport(self)

    def client(self, **kwargs: Any) -> httpx.Client:
        """An `httpx.Client` whose requests go to the fakes."""
        return httpx.Client(transport=self.transport(), **kwargs)

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An `httpx.AsyncClient` whose requests go to the fakes."""
        return httpx.AsyncClient(transport=self.transport(), **kwargs)

    def follower(self, bot: Any) -> Follower:
        """A `Follower` that writes to *bot* (an ASGI app, or the URL it is served at).

        It reads what the bot sent back through these fakes with `Follower.inbox`.
        """
        from govmedia.testing.follower import Follower

        return Follower(bot, sandbox=self)
