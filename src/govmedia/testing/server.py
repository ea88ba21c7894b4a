"""Serve a `Sandbox` over real HTTP on loopback (``govmedia sandbox``)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import httpx

from govmedia.testing.sandbox import Sandbox

__all__ = ["SandboxServer", "serve"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # http.server's default backlog of 5 resets connections under a fan-out.
    request_queue_size = 256
    sandbox: Sandbox
    delay: float = 0.0

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (killed, timed out) is normal here: stay quiet."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: the fakes keep their own request log."""

    def _control(self, body: bytes) -> tuple[int, Any]:
        """``/_sandbox/``: set up channels and read state from another process."""
        sandbox = self.server.sandbox
        path = self.path.split("?", 1)[0]
        args = json.loads(body or b"{}") if self.command == "POST" else {}
        if path == "/_sandbox/channels" and self.command == "POST":
            made = [sandbox.channel(args["platform"], account, **args.get("options", {}))
                    for account in args.get("accounts") or [args.get("account", "")]]
            out = [{"platform": ch.platform, "account": ch.account,
                    "credentials": dict(ch.credentials), "options": dict(ch.options)} for ch in made]
            return 200, out if "accounts" in args else out[0]
        if path.startswith("/_sandbox/posts/") and self.command == "GET":
            account = httpx.URL(self.path).params.get("account")
            return 200, sandbox[path.rsplit("/", 1)[-1]].posts(account)
        if path.startswith("/_sandbox/requests/") and self.command == "GET":
            # Every request a fake received, with its time (this process's
            # monotonic clock): tests check rate budgets on them.
            return 200, [[r.at, r.method, r.path, r.account, r.status]
                         for r in list(sandbox[path.rsplit("/", 1)[-1]].log)]
        if path == "/_sandbox/delay" and self.command == "POST":
            self.server.delay = float(args.get("seconds", 0))
            return 200, {"delay": self.server.delay}
        if path == "/_sandbox/faults" and self.command == "POST":
            sandbox[args.pop("platform")].inject(args.pop("kind"), **args)
            return 200, {"ok": True}
        if path == "/_sandbox/expire-tokens" and self.command == "POST":
            # Every access token the fake issued so far stops working (a fake
            # with no expiring tokens: TypeError, a 400 naming it).
            sandbox[args["platform"]].expire_tokens()
            return 200, {"ok": True}
        if path == "/_sandbox/chaos" and self.command == "POST":
            for name in args.pop("platforms", None) or list(sandbox.fakes):
                sandbox[name].chaos(**args)
            return 200, {"ok": True}
        return 404, {"error": f"unknown control {self.command} {path}"}

    def _send_json(self, status: int, data: Any) -> None:
        blob = json.dumps(data, ensure_ascii=False, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        self.wfile.write(blob)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/_sandbox/"):
            try:
                self._send_json(*self._control(body))
            except (KeyError, ValueError, TypeError) as exc:
                self._send_json(400, {"error": f"{type(exc).__name__}: {exc}"})
            return
        if self.server.delay:
            time.sleep(self.server.delay)
        url = self.server.sandbox.base_url + self.path
        request = httpx.Request(
            self.command, url, headers=list(self.headers.items()), content=body
        )
        try:
            response = self.server.sandbox(request)
        except httpx.TransportError:
            # An injected timeout: drop the connection with no answer, as a
            # dead proxy would; the client cannot know whether it was applied.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        response.read()
        self.send_response(response.status_code)
        skip = {"content-length", "transfer-encoding", "connection", "content-encoding"}
        for name, value in response.headers.multi_items():
            if name.lower() not in skip:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.content)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


class SandboxServer:
    """A `Sandbox` served on ``http://HOST:PORT`` in a background thread.

    Besides the fakes, ``/_sandbox/`` answers control calls from other
    processes: ``POST /_sandbox/channels {"platform", "account"}`` returns a
    channel (with credentials) that reaches its fake (``"accounts": [...]``:
    a list of them), ``GET
    /_sandbox/posts/PLATFORM`` lists live posts, ``GET /_sandbox/requests/PLATFORM``
    every request received as ``[at, method, path, account, status]``, ``POST /_sandbox/delay
    {"seconds"}`` slows every answer, ``POST /_sandbox/faults {"platform",
    "kind", ...}`` injects a fault, ``POST /_sandbox/chaos {"rate", "kinds",
    "seed", "platforms"}`` fails a share of all requests at random, ``POST
    /_sandbox/expire-tokens {"platform"}`` expires every access token that
    fake issued so far (``expire_tokens``: the next request with one is
    refused as expired, so the client refreshes it).

    Example:
        >>> from govmedia.testing.server import SandboxServer
        >>> with SandboxServer() as server:
        ...     server.base_url.startswith("http://127.0.0.1:")
        True
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 platforms: list[str] | None = None) -> None:
        self._server = _Server((host, port), _Handler)
        real_port = self._server.server_address[1]
        self.base_url = f"http://{host}:{real_port}"
        self.sandbox = Sandbox(self.base_url, platforms=platforms)
        self._server.sandbox = self.sandbox
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def serve(host: str = "127.0.0.1", port: int = 0) -> Iterator[SandboxServer]:
    """Serve a fresh sandbox for the duration of a ``with`` block."""
    server = SandboxServer(host, port).start()
    try:
        yield server
    finally:
        server.stop()
