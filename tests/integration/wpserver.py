"""A real WordPress on loopback for the integration tests: Debian packages, private MariaDB, php -S.

Stdlib only, so it also runs as a script (``python3 tests/integration/wpserver.py
install|serve``). Facts and command lines: shared/servers.md section 2.

- `install_packages` installs what is missing of `PACKAGES` (once: a machine
  that has them installs nothing);
- `WordPress.start` makes a fresh folder, starts MariaDB on a unix socket
  (``--skip-networking``: no TCP port) and ``php -S`` with several workers on
  127.0.0.1 (one worker deadlocks on WordPress's loopback requests), installs
  WordPress with pretty permalinks, and returns when ``/wp-json/`` answers;
- `WordPress.add_user` makes a user with a role and an application password
  (PHP against ``wp-load.php``: there is no wp-cli in Debian 12);
- `WordPress.stop` ends both servers by process group (php's workers
  outlive their master otherwise) and removes the folder. It is idempotent,
  so a fixture calls it from ``finally`` and ``atexit`` both.

Every process is started in a session of its own (``start_new_session``) and
stopped by its group id, never by name.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["PACKAGES", "WordPress", "install_packages", "interrupt", "missing_packages"]

PACKAGES = ("wordpress", "php-cli", "php-mysql", "mariadb-server")
WORDPRESS_TREE = Path("/usr/share/wordpress")
PHP_WORKERS = 4
ADMIN = "admin"
ADMIN_EMAIL = "admin@example.invalid"

_ROUTER = """<?php
// php -S router: real files are served (or run) as they are, the rest goes to WordPress.
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if ($path !== '/' && is_file(__DIR__ . $path)) {
    return false;
}
$_SERVER['SCRIPT_NAME'] = '/index.php';
$_SERVER['SCRIPT_FILENAME'] = __DIR__ . '/index.php';
require __DIR__ . '/index.php';
"""

_CONFIG = """<?php
define('DB_NAME', 'wordpress');
define('DB_USER', 'wp');
define('DB_PASSWORD', 'wp-password');
define('DB_HOST', 'localhost:{socket}');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
$table_prefix = 'wp_';
define('WP_HOME', '{url}');
define('WP_SITEURL', '{url}');
// Application passwords over plain HTTP need a 'local' environment.
define('WP_ENVIRONMENT_TYPE', 'local');
define('DISABLE_WP_CRON', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_DEBUG', false);
{salts}
if (!defined('ABSPATH')) {{
    define('ABSPATH', __DIR__ . '/');
}}
require_once ABSPATH . 'wp-settings.php';
"""

# Debian's package ships no theme: a minimal one, so posts render as readers see them
# (the_content: wpautop, kses and the rest of core's filters).
_THEME_CSS = "/*\nTheme Name: govmedia test\n*/\n"
_THEME_INDEX = """<?php
while (have_posts()) {
    the_post();
    echo '<article>';
    the_title('<h1>', '</h1>');
    the_content();
    echo '</article>';
}
"""

# Run by `php` in the site's folder: installs WordPress, sets pretty permalinks.
_INSTALL = """<?php
define('WP_INSTALLING', true);
$_SERVER['HTTP_HOST'] = '{host}';
$_SERVER['REQUEST_URI'] = '/';
require __DIR__ . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
$result = wp_install('govmedia integration', '{admin}', '{email}', false, '', wp_slash('{password}'));
update_option('permalink_structure', '/%postname%/');
switch_theme('govmedia');
delete_option('rewrite_rules');
echo json_encode(['user_id' => $result['user_id']]);
"""

# A user with a role and an application password, printed as JSON.
_ADD_USER = """<?php
$_SERVER['HTTP_HOST'] = '{host}';
$_SERVER['REQUEST_URI'] = '/';
require __DIR__ . '/wp-load.php';
$login = $argv[1];
$role = $argv[2];
$user = get_user_by('login', $login);
$id = $user ? $user->ID : wp_insert_user([
    'user_login' => $login, 'user_pass' => wp_generate_password(24),
    'user_email' => $login . '@example.invalid', 'role' => $role,
]);
if (is_wp_error($id)) {{ fwrite(STDERR, $id->get_error_message()); exit(1); }}
$made = WP_Application_Passwords::create_new_application_password($id, ['name' => 'govmedia-' . uniqid()]);
if (is_wp_error($made)) {{ fwrite(STDERR, $made->get_error_message()); exit(1); }}
echo json_encode(['id' => $id, 'login' => $login, 'password' => $made[0]]);
"""


def missing_packages(packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """The Debian packages of *packages* that are not installed."""
    missing = []
    for name in packages:
        found = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name],
                               capture_output=True, text=True, check=False)
        if "install ok installed" not in found.stdout:
            missing.append(name)
    return missing


def install_packages(packages: tuple[str, ...] = PACKAGES) -> float:
    """Install what is missing of *packages* (apt, as root); the seconds it took (0: nothing to do).

    Raises:
        RuntimeError: something is missing and this process cannot install it.
    """
    missing = missing_packages(packages)
    if not missing:
        return 0.0
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise RuntimeError(
            f"WordPress tests need the Debian packages {' '.join(missing)}: install them as root "
            f"(apt-get install -y --no-install-recommends {' '.join(PACKAGES)}) or deselect the "
            "tests with -m 'not integration'"
        )
    started = time.monotonic()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:  # stale package lists: refresh them once
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"apt-get install failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.monotonic() - started


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _salts() -> str:
    import secrets

    names = ("AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT",
             "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT")
    return "\n".join(f"define('{n}', '{secrets.token_hex(24)}');" for n in names)


class WordPress:
    """One WordPress site and its MariaDB, in a temporary folder; see the module docs.

    Attributes:
        url: the site's address (``http://127.0.0.1:PORT``) once started.
        admin: ``(login, application password)`` of the administrator.
        timings: seconds each start phase took (``database``, ``install``, ``ready``, ``total``).
    """

    def __init__(self, *, workers: int = PHP_WORKERS) -> None:
        self.workers = workers
        self.folder: Path | None = None
        self.url = ""
        self.admin: tuple[str, str] = ("", "")
        self.timings: dict[str, float] = {}
        self._db: subprocess.Popen[bytes] | None = None
        self._php: subprocess.Popen[bytes] | None = None

    # ----------------------------------------------------------- start

    def start(self) -> str:
        """Start everything in a fresh folder; the site's address. `stop` on any failure."""
        began = time.monotonic()
        try:
            self.folder = Path(tempfile.mkdtemp(prefix="govmedia-wp-"))
            self._start_database()
            self.timings["database"] = time.monotonic() - began
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            site = self.folder / "wp"
            shutil.copytree(WORDPRESS_TREE, site, symlinks=True)
            # Debian's wp-config.php reads /etc/wordpress; ours is self-contained.
            (site / "wp-config.php").unlink(missing_ok=True)
            (site / "wp-config.php").write_text(_CONFIG.format(
                socket=self.folder / "mysqld.sock", url=self.url, salts=_salts()), encoding="utf-8")
            (site / "router.php").write_text(_ROUTER, encoding="utf-8")
            theme = site / "wp-content" / "themes" / "govmedia"
            theme.mkdir(parents=True)
            (theme / "style.css").write_text(_THEME_CSS, encoding="utf-8")
            (theme / "index.php").write_text(_THEME_INDEX, encoding="utf-8")
            mark = time.monotonic()
            self._php_script("install.php", _INSTALL.format(
                host=f"127.0.0.1:{port}", admin=ADMIN, email=ADMIN_EMAIL, password="not-for-rest-1"))
            self.timings["install"] = time.monotonic() - mark
            self._start_php(port)
            mark = time.monotonic()
            self._wait_ready()
            self.timings["ready"] = time.monotonic() - mark
            self.admin = self.add_user(ADMIN, "administrator")[1:]
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - began
        return self.url

    def _start_database(self) -> None:
        assert self.folder is not None
        data, sock = self.folder / "db", self.folder / "mysqld.sock"
        user = getpass.getuser()
        small = ["--innodb-log-file-size=8M"]  # not a 96 MB redo log per instance
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", f"--user={user}",
                        "--auth-root-authentication-method=normal", "--skip-test-db", *small],
                       check=True, capture_output=True)
        log = (self.folder / "mysqld.log").open("wb")
        self._db = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={sock}",
             "--skip-networking", f"--pid-file={self.folder / 'mysqld.pid'}", f"--user={user}",
             "--innodb-buffer-pool-size=32M", *small, f"--log-error={self.folder / 'mysqld.err'}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 60
        sql = ("CREATE DATABASE wordpress CHARACTER SET utf8mb4; "
               "CREATE USER 'wp'@'localhost' IDENTIFIED BY 'wp-password'; "
               "GRANT ALL ON wordpress.* TO 'wp'@'localhost';")
        while True:
            if self._db.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {self._tail('mysqld.err')}")
            done = subprocess.run(["mariadb", "--no-defaults", "-S", str(sock), "-uroot", "-e", sql],
                                  capture_output=True, text=True, check=False)
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"MariaDB did not start: {done.stderr}")
            time.sleep(0.1)

    def _start_php(self, port: int) -> None:
        assert self.folder is not None
        site = self.folder / "wp"
        log = (self.folder / "php.log").open("wb")
        env = {**os.environ, "PHP_CLI_SERVER_WORKERS": str(self.workers)}
        self._php = subprocess.Popen(
            ["php", "-d", "post_max_size=64M", "-d", "upload_max_filesize=64M",
             "-S", f"127.0.0.1:{port}", "-t", str(site), str(site / "router.php")],
            cwd=site, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        (self.folder / "php.pid").write_text(str(self._php.pid))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            if self._php is not None and self._php.poll() is not None:
                raise RuntimeError(f"php -S exited: {self._tail('php.log')}")
            try:
                with urllib.request.urlopen(f"{self.url}/wp-json/", timeout=5) as answer:
                    if answer.status == 200 and "wp/v2" in json.load(answer).get("namespaces", []):
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"WordPress did not answer at {self.url}: {self._tail('php.log')}")
            time.sleep(0.05)

    def _php_script(self, name: str, source: str, *args: str) -> str:
        assert self.folder is not None
        script = self.folder / "wp" / name
        script.write_text(source, encoding="utf-8")
        try:
            done = subprocess.run(["php", str(script), *args], cwd=script.parent,
                                  capture_output=True, text=True, check=False, timeout=120)
        finally:
            script.unlink(missing_ok=True)  # never served by php -S
        if done.returncode != 0:
            raise RuntimeError(f"php {name} failed: {done.stdout[-1500:]} {done.stderr[-1500:]}")
        return done.stdout.strip().splitlines()[-1]

    def _tail(self, name: str) -> str:
        if self.folder is None:
            return ""
        try:
            return (self.folder / name).read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    # ----------------------------------------------------------- users

    def add_user(self, login: str, role: str) -> tuple[int, str, str]:
        """``(user id, login, application password)`` of a user with *role* (made if new)."""
        answer = json.loads(self._php_script(
            "add-user.php", _ADD_USER.format(host=self.url.removeprefix("http://")), login, role))
        return int(answer["id"]), str(answer["login"]), str(answer["password"])

    # ----------------------------------------------------------- stop

    def stop(self) -> None:
        """Stop php -S (its whole group) and MariaDB, and remove the folder; safe to call twice."""
        for attr in ("_php", "_db"):
            process = getattr(self, attr)
            if process is not None:
                _stop_group(process)
                setattr(self, attr, None)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def _stop_group(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the process group *process* leads, SIGKILL it after *grace* seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(grace)
    # Workers forked by php's master may outlive it by a moment: their group goes too.
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        time.sleep(0.05)


def interrupt(signum: int, frame: object) -> None:
    """A signal handler that unwinds like Ctrl-C, so every ``finally`` runs."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str]) -> int:
    """``install``: the packages; ``serve``: start a site, print its address and admin, wait for Ctrl-C."""
    command = argv[0] if argv else ""
    if command == "install":
        print(f"installed in {install_packages():.1f} s")
        return 0
    if command == "serve":
        install_packages()
        site = WordPress()
        # SIGTERM (and SIGINT, which a background job ignores) end the wait, so
        # `finally` stops the servers: the default SIGTERM would leave them running.
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, interrupt)
        try:
            site.start()
            print(json.dumps({"url": site.url, "admin": site.admin, "timings": site.timings}), flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
        finally:
            site.stop()
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
