"""A real Synapse homeserver on 127.0.0.1 for the integration tests: installed once, started per session.

How (shared/servers.md, section 1): Synapse from PyPI in a venv of its own,
cached between runs (``$GOVMEDIA_SYNAPSE_CACHE``, else
``~/.cache/govmedia/synapse``; nothing is installed when it is there), a
config generated per session in a temporary folder with SQLite, and an
override file: one client listener on 127.0.0.1 (no federation), a
registration shared secret, no trusted key servers, and every rate limit
relaxed except ``rc_message``, which keeps Synapse's default (0.2 a second,
bursts of 10) so a test can meet it. Users are registered through the admin
API; `Synapse.register(..., limited=False)` lifts the message limit for one
user (``override_ratelimit``), so the other tests run fast.

The server runs in its own process group; `Synapse.stop` ends it by pid
(SIGTERM, then SIGKILL after 10 s), and it is also stopped at interpreter
exit and, on Linux, when the test process dies (``PR_SET_PDEATHSIG``).

``python3 tests/integration/synapse_server.py install`` installs it ahead
(``.ci/run`` does, so a failed install is reported by name).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import hashlib
import hmac
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

SYNAPSE = "matrix-synapse==1.163.2"  # the version servers.md measured
SERVER_NAME = "localhost"
CACHE = Path(os.environ.get("GOVMEDIA_SYNAPSE_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "govmedia" / "synapse")

logger = logging.getLogger("govmedia.tests.synapse")

# Everything but rc_message relaxed: a suite registers users, creates rooms,
# joins and invites far faster than Synapse's defaults allow.
_LAX = {"per_second": 1000, "burst_count": 1000}
RELAXED = {
    "rc_registration": _LAX,
    "rc_login": {"address": _LAX, "account": _LAX, "failed_attempts": _LAX},
    "rc_joins": {"local": _LAX, "remote": _LAX},
    "rc_joins_per_room": _LAX,
    "rc_invites": {"per_room": _LAX, "per_user": _LAX, "per_issuer": _LAX},
    "rc_room_creation": _LAX,
    "rc_admin_redaction": _LAX,
    "rc_media_create": _LAX,
}


def venv_python() -> Path:
    """The Python of Synapse's venv, installed first when absent (once; a lock keeps it single)."""
    venv = CACHE / "venv"
    python = venv / "bin" / "python"
    stamp = CACHE / "installed"
    if stamp.exists() and stamp.read_text() == SYNAPSE and python.exists():
        return python
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be installing right now
        if stamp.exists() and stamp.read_text() == SYNAPSE and python.exists():
            return python
        started = time.monotonic()
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-qq", "--disable-pip-version-check",
                        SYNAPSE], check=True)
        stamp.write_text(SYNAPSE)
        logger.warning("installed %s in %.1f s", SYNAPSE, time.monotonic() - started)
    return python


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _yaml(value: object, indent: int = 0) -> str:
    """YAML for the override file (plain dicts, lists, strings, numbers): no PyYAML needed here."""
    pad = " " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{key}:\n{_yaml(item, indent + 2)}")
            else:
                lines.append(f"{pad}{key}: {_yaml(item).strip()}")
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return f"{pad}[]"
        return "\n".join(f"{pad}- {_yaml(item, indent + 2).strip()}" if not isinstance(item, dict)
                         else f"{pad}-\n{_yaml(item, indent + 2)}" for item in value)
    if isinstance(value, str):
        return pad + '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return pad + ("true" if value else "false")
    return pad + str(value)


class Synapse:
    """One Synapse process in *workdir*: `start`, `register`, `create_room`, `stop`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.secret = secrets.token_hex(24)
        self.process: subprocess.Popen[bytes] | None = None
        self.timings: dict[str, float] = {}
        self.admin_token: str | None = None
        import httpx  # here, so `python3 synapse_server.py install` needs nothing but the stdlib

        self.http = httpx.Client(base_url=self.url, timeout=30)

    # ----------------------------------------------------------- life

    def start(self) -> None:
        """Install (when needed), generate the config, start on 127.0.0.1 and wait for /health."""
        began = time.monotonic()
        python = venv_python()
        self.timings["install"] = time.monotonic() - began
        conf, data = self.workdir / "conf", self.workdir / "data"
        conf.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        subprocess.run(
            [str(python), "-m", "synapse.app.homeserver", "--server-name", SERVER_NAME,
             "--config-path", str(conf / "homeserver.yaml"), "--generate-config", "--report-stats=no",
             "--data-directory", str(data), "--config-directory", str(conf)],
            check=True, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.timings["generate"] = time.monotonic() - began
        overrides = {
            "listeners": [{"port": self.port, "bind_addresses": ["127.0.0.1"], "type": "http",
                           "tls": False, "x_forwarded": False,
                           "resources": [{"names": ["client"], "compress": False}]}],
            "registration_shared_secret": self.secret,
            "trusted_key_servers": [],
            "report_stats": False,
            "suppress_key_server_warning": True,
            **RELAXED,
        }
        (conf / "overrides.yaml").write_text(_yaml(overrides) + "\n")
        log = (self.workdir / "synapse.out").open("wb")
        began = time.monotonic()
        self.process = subprocess.Popen(
            [str(python), "-m", "synapse.app.homeserver", "-c", str(conf / "homeserver.yaml"),
             "-c", str(conf / "overrides.yaml")],
            cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
            start_new_session=sys.platform != "linux",
        )
        log.close()
        atexit.register(self.stop)
        try:
            self._wait_ready(began)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, began: float, timeout: float = 120.0) -> None:
        import httpx

        assert self.process is not None
        while time.monotonic() - began < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"Synapse exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if self.http.get("/health").status_code == 200:
                    self.timings["ready"] = time.monotonic() - began
                    return
            time.sleep(0.1)
        raise RuntimeError(f"Synapse not ready after {timeout:g} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        """The end of Synapse's own log (and its stdout), for a failure message."""
        text = ""
        for name in ("synapse.out", "homeserver.log"):
            path = self.workdir / name
            if path.exists():
                text += f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return text

    def stop(self) -> None:
        """SIGTERM by pid, SIGKILL after 10 s; safe to call twice."""
        process, self.process = self.process, None
        self.http.close()
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    # ----------------------------------------------------------- users and rooms

    def register(self, username: str, *, admin: bool = False, limited: bool = False) -> dict[str, str]:
        """A new user through the shared-secret admin API: ``user_id``, ``access_token``, ``device_id``.

        Unless *limited*, the user's message rate limit is lifted (``override_ratelimit``).
        """
        nonce = self.http.get("/_synapse/admin/v1/register").raise_for_status().json()["nonce"]
        password = secrets.token_urlsafe(12)
        mac = hmac.new(self.secret.encode(), b"\0".join(
            [nonce.encode(), username.encode(), password.encode(), b"admin" if admin else b"notadmin"]),
            hashlib.sha1).hexdigest()
        user = self.http.post("/_synapse/admin/v1/register", json={
            "nonce": nonce, "username": username, "password": password, "admin": admin, "mac": mac,
        }).raise_for_status().json()
        if admin and self.admin_token is None:
            self.admin_token = user["access_token"]
        if not limited:
            self.override_ratelimit(user["user_id"])
        return {"user_id": user["user_id"], "access_token": user["access_token"],
                "device_id": user["device_id"], "password": password}

    def override_ratelimit(self, user_id: str) -> None:
        """Lift *user_id*'s message rate limit (0 = unlimited; verified in servers.md)."""
        if self.admin_token is None:
            self.register("gm-admin", admin=True, limited=True)
            self.override_ratelimit("@gm-admin:" + SERVER_NAME)
        self.http.post(f"/_synapse/admin/v1/users/{quote(user_id, safe='')}/override_ratelimit",
                       json={"messages_per_second": 0, "burst_count": 0},
                       headers=self.auth(self.admin_token or "")).raise_for_status()

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        """The Authorization header of *token*."""
        return {"Authorization": f"Bearer {token}"}

    def create_room(self, owner: dict[str, str], *, members: tuple[dict[str, str], ...] = ()) -> str:
        """A private room of *owner*, with *members* invited and joined."""
        room = self.http.post("/_matrix/client/v3/createRoom", headers=self.auth(owner["access_token"]),
                              json={"preset": "private_chat",
                                    "invite": [m["user_id"] for m in members]}).raise_for_status()
        room_id: str = room.json()["room_id"]
        for member in members:
            self.http.post(f"/_matrix/client/v3/join/{quote(room_id, safe='')}",
                           headers=self.auth(member["access_token"]), json={}).raise_for_status()
        return room_id

    def messages(self, room_id: str, reader: dict[str, str], *, limit: int = 100) -> list[dict[str, object]]:
        """The room's ``m.room.message`` events as *reader* sees them, oldest first (Synapse's own API)."""
        answer = self.http.get(
            f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/messages",
            params={"dir": "b", "limit": limit, "filter": '{"types":["m.room.message"]}'},
            headers=self.auth(reader["access_token"])).raise_for_status().json()
        return list(reversed(answer["chunk"]))


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        sys.exit("usage: synapse_server.py install")
    began = time.monotonic()
    print(f"{SYNAPSE} ready in {venv_python().parent.parent} ({time.monotonic() - began:.1f} s)")
