"""nginx on 127.0.0.1 as the receiver of every benchmark.

One worker process, access log off on the throughput paths, so the receiver
stays light next to the client on a 2-core machine. Two paths:

* ``/fast/...``: answers every POST at once with a small JSON body;
* ``/slow/...``: answers after 100 ms (``echo_sleep`` from Debian's
  ``libnginx-mod-http-echo``, which ``nginx-light`` pulls in), the latency of
  a real platform, so a run measures concurrency rather than CPU;
* ``/logged/...``: like ``/fast`` but writes each arrival time (``$msec``) to
  ``arrivals.log``: the rate-limiter benchmark reads it.

Run standalone to poke at it: ``python3 benchmarks/receiver.py`` serves until
Ctrl-C and prints the port.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
SLOW_SECONDS = 0.1

_CONF = """\
{load_echo}
{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 8192;
    multi_accept on;
}}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_buffer_size 64k;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    default_type application/json;
    log_format arrivals '$msec $request_uri $status';
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location /fast/ {{
            return 200 '{{"ok":true}}';
        }}
        location /logged/ {{
            access_log {prefix}/arrivals.log arrivals;
            return 200 '{{"ok":true}}';
        }}
        location /slow/ {{
            {slow}
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    """The nginx executable, or None when it is not installed."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process from /proc (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[0] is the state (field 3 of stat); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


class Nginx:
    """A private nginx on 127.0.0.1 that lives as long as the ``with`` block."""

    def __init__(self) -> None:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed: apt-get install -y nginx-light")
        self.binary = binary
        self.port = free_port()
        self.prefix = Path(tempfile.mkdtemp(prefix="govmedia-bench-nginx-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.slow = ECHO_MODULE.exists()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def arrivals(self) -> Path:
        return self.prefix / "arrivals.log"

    def _user(self) -> str:
        if os.geteuid() != 0:
            return ""
        # As root nginx drops its worker to an unprivileged user; Debian's
        # package creates www-data for that.
        try:
            pwd.getpwnam("www-data")
        except KeyError:
            return "user nobody nogroup;"
        return "user www-data;"

    def __enter__(self) -> Self:
        self.prefix.chmod(0o755)
        slow = (f"echo_sleep {SLOW_SECONDS}; echo '{{\"ok\":true}}';" if self.slow
                else "return 501;")
        conf = _CONF.format(
            load_echo=f"load_module {ECHO_MODULE};" if self.slow else "",
            user=self._user(), prefix=self.prefix, port=self.port, slow=slow,
        )
        (self.prefix / "nginx.conf").write_text(conf)
        check = subprocess.run([self.binary, "-t", "-p", str(self.prefix), "-c", "nginx.conf"],
                               capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise RuntimeError(f"nginx refused the config:\n{check.stderr}")
        self.process = subprocess.Popen(
            [self.binary, "-p", str(self.prefix), "-c", "nginx.conf", "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"nginx exited: {(self.prefix / 'error.log').read_text()}") from None
                time.sleep(0.05)
        else:
            raise RuntimeError("nginx did not start listening in 10 s")
        return self

    def cpu_seconds(self) -> float:
        """CPU used so far by the master and its worker."""
        if self.process is None:
            return 0.0
        pids = [self.process.pid, *_children(self.process.pid)]
        return sum(_cpu_seconds(p) for p in pids)

    def clear_arrivals(self) -> None:
        # nginx appends (O_APPEND), so truncating in place is safe while it runs.
        if self.arrivals.exists():
            self.arrivals.write_text("")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: workers finish and exit
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.prefix, ignore_errors=True)


if __name__ == "__main__":
    with Nginx() as server:
        print(f"nginx on {server.base} (fast: /fast/, 100 ms: /slow/, logged: /logged/); Ctrl-C stops")
        try:
            assert server.process is not None
            server.process.wait()
        except KeyboardInterrupt:
            pass
