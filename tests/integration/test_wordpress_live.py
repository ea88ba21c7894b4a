"""A real WordPress, started by the tests: publish through govmedia, read back through its REST API.

The session fixture installs the Debian packages once (skipped when present),
starts MariaDB on a unix socket and ``php -S`` with four workers on 127.0.0.1
in a temporary folder, installs WordPress and makes application passwords
(tests/integration/wpserver.py), and stops both servers by process group on
every path: ``finally``, ``atexit``, and SIGTERM turned into an interrupt for
the session. A lost answer is made by a proxy that forwards the create to
WordPress, waits for the whole answer (the post exists), then closes the
connection without a byte.

The facts the platform module and the fake mark "verified on 6.1" are checked
here against the real server (`test_the_facts_govmedia_relies_on`).
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import signal
import socket
import threading
import time

import httpx
import pytest
from wpserver import WordPress, install_packages, interrupt

import govmedia as gm
from govmedia.testing.samples import CHART_PNG, COVER_JPEG

pytestmark = pytest.mark.integration


class _Report:
    """Write a line to the terminal past pytest's output capture (start and stop times)."""

    def __init__(self, config):
        self.terminal = config.pluginmanager.get_plugin("terminalreporter")
        self.capture = config.pluginmanager.get_plugin("capturemanager")

    def __call__(self, line):
        if self.terminal is None:
            return
        if self.capture is None:
            self.terminal.write_line(line)
            return
        with self.capture.global_and_fixture_disabled():
            self.terminal.write_line(line)


@pytest.fixture(scope="session")
def wordpress(request):
    """A running WordPress site for the session; everything stopped on every way out."""
    report = _Report(request.config)
    began = time.monotonic()
    installed = install_packages()
    site = WordPress()
    atexit.register(site.stop)  # a session that dies past pytest's teardown
    previous = signal.signal(signal.SIGTERM, interrupt)  # pytest's teardown runs on SIGTERM too
    try:
        site.start()
        timings = ", ".join(f"{k} {v:.1f} s" for k, v in site.timings.items())
        report(f"WordPress at {site.url}: packages {installed:.1f} s "
               f"({'installed' if installed else 'present'}); start {timings}; "
               f"ready after {time.monotonic() - began:.1f} s")
        yield site
    finally:
        mark = time.monotonic()
        site.stop()
        atexit.unregister(site.stop)
        signal.signal(signal.SIGTERM, previous)
        report(f"WordPress stopped in {time.monotonic() - mark:.1f} s")


@pytest.fixture(scope="session")
def admin(wordpress):
    return wordpress.admin


def channel_for(site, login, password, account=None, base_url=None, **options):
    return gm.Channel(platform="wordpress", account=account or f"{login}@127.0.0.1",
                      credentials={"username": login, "app_password": password},
                      options={"base_url": base_url or site.url, **options})


def rest(site, user, password):
    """An httpx client on the site's REST API, signed in as *user*."""
    return httpx.Client(base_url=f"{site.url}/wp-json/wp/v2", auth=(user, password), timeout=30)


def marker_of(post, channel):
    from govmedia._pipeline import derive_key

    return f"<!-- govmedia:{derive_key(post.key, 'wordpress', channel.account)} -->"


def with_marker(api, marker):
    """Every post (any status, trash included) whose raw content carries *marker*."""
    found = api.get("/posts", params={"search": marker[5:-4], "context": "edit", "per_page": 100,
                                      "status": "publish,future,draft,pending,private,trash"})
    found.raise_for_status()
    return [p for p in found.json() if marker in p["content"]["raw"]]


# --------------------------------------------------------------------------- publish and read back


def test_publish_text_and_images_then_read_them_back(wordpress, admin, tmp_path):
    login, password = admin
    ch = channel_for(wordpress, login, password)
    post = gm.Post(
        title="一带一路看国企：中老铁路开通一周年",
        body="一年来累计发送旅客 **850 万人次**。\n\n![客货运量](chart.png)\n\n<script>alert(1)</script>",
        summary="中老铁路开通一年，客货两旺。", tags=("一带一路看国企", "A & B"),
        link="https://example.org/a/2023-12-03",
        cover=gm.Media.from_bytes(COVER_JPEG, filename="cover.jpg", alt="中老铁路列车"),
        media=(gm.Media.from_bytes(CHART_PNG, filename="chart.png", alt="客货运量柱状图"),),
    )
    with rest(wordpress, login, password) as api:
        api.post("/tags", json={"name": "A & B"}).raise_for_status()  # stored as "A &amp; B"
        with gm.Client(journal=tmp_path / "j.db") as client:
            assert client.check(post, ch) == []
            receipt = client.publish(post, ch)
        got = api.get(f"/posts/{receipt.remote_id}", params={"context": "edit"}).json()
        assert (got["status"], got["title"]["raw"], got["excerpt"]["raw"]) == (
            "publish", post.title, post.summary)
        assert receipt.url == got["link"] and receipt.state == "published"
        content = got["content"]["raw"]
        assert "<strong>850 万人次</strong>" in content and "<script" not in content
        assert marker_of(post, ch) in content
        assert 'href="https://example.org/a/2023-12-03"' in content
        # The cover is the featured image; both files went up byte for byte.
        cover = api.get(f"/media/{got['featured_media']}").json()
        assert cover["alt_text"] == "中老铁路列车"
        assert httpx.get(cover["source_url"]).content == COVER_JPEG
        [chart] = [m for m in api.get("/media", params={"search": "chart", "per_page": 100}).json()
                   if m["source_url"] in content]
        assert chart["alt_text"] == "客货运量柱状图"
        assert httpx.get(chart["source_url"]).content == CHART_PNG
        # Tags by name: one made, one found (term_exists: its name is kept escaped).
        names = sorted(api.get(f"/tags/{t}").json()["name"] for t in got["tags"])
        assert names == ["A &amp; B", "一带一路看国企"]
        # Readers see the page without the marker making an empty paragraph.
        page = httpx.get(receipt.url).text
        assert "850 万人次" in page and marker_of(post, ch) in page
        assert f"<p>{marker_of(post, ch)}</p>" not in page
        # Metrics: the approved comments.
        with gm.Client(journal=False) as client:
            assert client.metrics(receipt).comments == 0
            api.post("/comments", json={"post": int(receipt.remote_id), "content": "点赞"}).raise_for_status()
            assert client.metrics(receipt).comments == 1
            client.delete(receipt)
            assert api.get(f"/posts/{receipt.remote_id}", params={"context": "edit"}).json()["status"] == "trash"
            client.delete(receipt)  # in the trash already: no error


def test_a_fan_out_to_several_users(wordpress, tmp_path):
    users = [wordpress.add_user(login, role) for login, role in
             (("hub", "editor"), ("cnpc", "author"), ("sinopec", "author"), ("chinalco", "author"))]
    channels = [channel_for(wordpress, login, password) for _, login, password in users]
    post = gm.Post(title="央企人事调整", body="任免通知：……", tags=("央企人事调整",),
                   cover=gm.Media.from_bytes(COVER_JPEG, filename="cover.jpg"))
    with gm.Client(journal=tmp_path / "j.db", concurrency=4) as client:
        report = client.fan_out(post, channels)
        again = client.fan_out(post, channels)
    assert report.ok, report.summary()
    assert [d.state for d in again.deliveries] == ["skipped"] * 4
    with rest(wordpress, *wordpress.admin) as api:
        tag_ids = set()
        for (user_id, _, _), ch, delivery in zip(users, channels, report.deliveries, strict=True):
            mine = api.get("/posts", params={"author": user_id, "context": "edit", "per_page": 100,
                                             "search": marker_of(post, ch)[5:-4]}).json()
            assert [str(p["id"]) for p in mine] == [delivery.receipt.remote_id]
            assert mine[0]["featured_media"] > 0
            tag_ids.update(mine[0]["tags"])
        assert len(tag_ids) == 1  # one tag, whoever made it


def test_a_contributor_cannot_publish_but_can_submit_for_review(wordpress, tmp_path):
    _, login, password = wordpress.add_user("intern", "contributor")
    post = gm.Post(title="投稿：基层风采", body="正文")
    with gm.Client(journal=False) as client:
        with pytest.raises(gm.PlatformError) as info:
            client.publish(post, channel_for(wordpress, login, password))
        assert info.value.code == "rest_cannot_publish" and "pending" in info.value.hint
        receipt = client.publish(post, channel_for(wordpress, login, password, status="pending"))
    assert (receipt.state, receipt.url) == ("pending", None)


def test_a_wrong_application_password_is_an_auth_error(wordpress):
    ch = channel_for(wordpress, "admin", "AAAA BBBB CCCC DDDD EEEE FFFF")
    with gm.Client(journal=False) as client, pytest.raises(gm.AuthError) as info:
        client.publish(gm.Post(title="t", body="x"), ch)
    assert "application password" in info.value.hint


# --------------------------------------------------------------------------- a lost answer


class LoseAnswers:
    """A TCP proxy to WordPress that loses the answer to chosen requests after WordPress applied them.

    For a request matching (*method*, *path*) it forwards the request, reads
    WordPress's whole answer (the post exists by then), and closes the
    client's connection without sending a byte: what a timeout or a reset
    after the write looks like to the client.
    """

    def __init__(self, upstream: str, method: str, path: str, times: int = 1) -> None:
        self.upstream = httpx.URL(upstream)
        self.method, self.path, self.times = method.encode(), path.encode(), times
        self.lost: list[bytes] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
            head, _, body = head.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method, target, _ = lines[0].split(b" ", 2)
            length = next((int(line.split(b":", 1)[1]) for line in lines[1:]
                           if line.lower().startswith(b"content-length:")), 0)
            while len(body) < length:
                body += conn.recv(65536)
            with socket.create_connection((self.upstream.host, self.upstream.port)) as up:
                # One request per connection: WordPress's php -S answers Connection: close.
                kept = [line for line in lines[1:] if not line.lower().startswith(b"connection:")]
                up.sendall(b"\r\n".join([lines[0], *kept, b"Connection: close"]) + b"\r\n\r\n" + body)
                answer = b""
                while chunk := up.recv(65536):
                    answer += chunk
            if method == self.method and target.split(b"?")[0] == self.path and self.times > 0:
                self.times -= 1
                self.lost.append(answer)
                return  # applied upstream; the client gets nothing
            conn.sendall(answer)


def test_a_create_whose_answer_was_lost_is_reconciled_without_a_duplicate(wordpress, tmp_path):
    _, login, password = wordpress.add_user("xinhua", "editor")
    proxy = LoseAnswers(wordpress.url, "POST", "/wp-json/wp/v2/posts")
    try:
        ch = channel_for(wordpress, login, password, base_url=proxy.url, settle_time=5)
        post = gm.Post(title="国资小新：今日发布", body="正文", tags=("国资小新",),
                       cover=gm.Media.from_bytes(COVER_JPEG, filename="cover.jpg"))
        journal = tmp_path / "j.db"
        with gm.Client(journal=journal) as client:
            first = client.fan_out(post, [ch])
        assert first.deliveries[0].state == "unknown"
        assert len(proxy.lost) == 1 and b"201 Created" in proxy.lost[0]
        with rest(wordpress, login, password) as api:
            [made] = with_marker(api, marker_of(post, ch))  # WordPress has it, the client never heard
            began = time.monotonic()
            with gm.Client(journal=journal) as client:
                second = client.fan_out(post, [ch])
                third = client.fan_out(post, [ch])
            assert time.monotonic() - began < 5  # found at the first look: no settle wait
            assert second.deliveries[0].state == "published"
            assert second.deliveries[0].receipt.remote_id == str(made["id"])
            assert second.deliveries[0].receipt.url == made["link"]
            assert third.deliveries[0].state == "skipped"
            assert len(with_marker(api, marker_of(post, ch))) == 1  # no duplicate
            assert len(proxy.lost) == 1
    finally:
        proxy.close()


def test_publish_twice_after_a_lost_answer_creates_nothing_new(wordpress, tmp_path, monkeypatch):
    """The same through `publish` in a notebook: the default journal settles the second call."""
    monkeypatch.setenv("GOVMEDIA_JOURNAL", str(tmp_path / "default.db"))
    _, login, password = wordpress.add_user("notebook", "author")
    proxy = LoseAnswers(wordpress.url, "POST", "/wp-json/wp/v2/posts")
    try:
        ch = channel_for(wordpress, login, password, base_url=proxy.url, settle_time=0)
        post = gm.Post(title="微招聘：中国石化", body="招聘 200 人")
        with gm.Client() as client:
            with pytest.raises(gm.DeliveryUnknown):
                client.publish(post, ch)
            receipt = client.publish(post, ch)
        with rest(wordpress, login, password) as api:
            [made] = with_marker(api, marker_of(post, ch))
        assert receipt.remote_id == str(made["id"])
    finally:
        proxy.close()


# --------------------------------------------------------------------------- the facts relied on


def test_the_facts_govmedia_relies_on(wordpress, admin):
    """What the platform and the fake say is "verified on 6.1", checked on the running site."""
    login, password = admin
    with rest(wordpress, login, password) as api:
        def upload(md5):
            return api.post("/media", content=CHART_PNG, headers={
                "Content-Type": "image/png", "Content-Disposition": 'attachment; filename="fact.png"',
                "Content-MD5": md5})

        # Content-MD5: hex accepted, RFC 1864 base64 refused.
        assert upload(hashlib.md5(CHART_PNG).hexdigest()).status_code == 201
        refused = upload(base64.b64encode(hashlib.md5(CHART_PNG).digest()).decode())
        assert (refused.status_code, refused.json()["code"]) == (412, "rest_upload_hash_mismatch")
        # filename*= is an invalid disposition; SVG is not allowed (a 500).
        star = api.post("/media", content=CHART_PNG, headers={
            "Content-Type": "image/png", "Content-Disposition": "attachment; filename*=UTF-8''a.png"})
        assert star.json()["code"] == "rest_upload_invalid_disposition"
        svg = api.post("/media", content=b"<svg xmlns='http://www.w3.org/2000/svg'/>", headers={
            "Content-Type": "image/svg+xml", "Content-Disposition": 'attachment; filename="x.svg"'})
        assert (svg.status_code, svg.json()["code"]) == (500, "rest_upload_sideload_error")
        # A bad featured_media or tag id is dropped without an error.
        odd = api.post("/posts", json={"title": "fact", "featured_media": 999_999, "tags": [999_999]})
        assert odd.status_code == 201 and (odd.json()["featured_media"], odd.json()["tags"]) == (0, [])
        # term_exists names the tag; rest_invalid_param names the field.
        api.post("/tags", json={"name": "事实"})
        exists = api.post("/tags", json={"name": "事实"}).json()
        assert exists["code"] == "term_exists" and isinstance(exists["data"]["term_id"], int)
        untrashable = api.delete(f"/tags/{exists['data']['term_id']}")
        assert (untrashable.status_code, untrashable.json()["code"]) == (501, "rest_trash_not_supported")
        _, author, author_password = wordpress.add_user("factauthor", "author")
        with rest(wordpress, author, author_password) as as_author:  # an Author makes tags, never removes them
            assert as_author.post("/tags", json={"name": "作者的标签"}).status_code == 201
            refused = as_author.delete(f"/tags/{exists['data']['term_id']}", params={"force": "true"})
            assert (refused.status_code, refused.json()["code"]) == (403, "rest_cannot_delete")
        assert api.delete(f"/tags/{exists['data']['term_id']}", params={"force": "true"}).json()["deleted"]
        bad = api.post("/posts", json={"title": "fact", "status": "bogus"}).json()
        assert bad["code"] == "rest_invalid_param" and "status" in bad["data"]["params"]
        # An empty post is refused; a comment alone is not empty.
        assert api.post("/posts", json={"title": "", "content": ""}).json()["code"] == "empty_content"
        # Trash, then 410; force, then 404.
        post_id = odd.json()["id"]
        assert api.delete(f"/posts/{post_id}").json()["status"] == "trash"
        assert api.delete(f"/posts/{post_id}").json()["code"] == "rest_already_trashed"
        assert api.delete(f"/posts/{post_id}", params={"force": "true"}).json()["deleted"] is True
        assert api.delete(f"/posts/{post_id}").json()["code"] == "rest_post_invalid_id"
        # The list counts in X-WP-Total; the marker survives kses and wpautop inside a paragraph.
        kept = api.post("/posts", json={"title": "fact", "status": "publish",
                                        "content": "<p>正文<!-- govmedia:gm-fact --></p>"}).json()
        assert "<p>正文<!-- govmedia:gm-fact --></p>" in kept["content"]["rendered"]
        trailing = api.post("/posts", json={"title": "fact", "status": "draft",
                                            "content": "<p>正文</p>\n<!-- govmedia:gm-fact2 -->"}).json()
        assert "<p><!-- govmedia:gm-fact2 --></p>" in trailing["content"]["rendered"]  # why it goes inside
        comments = api.get("/comments", params={"post": kept["id"], "per_page": 1})
        assert comments.headers["X-WP-Total"] == "0"
    # A wrong application password: anonymous, 401 rest_not_logged_in where sign-in is needed.
    with rest(wordpress, login, "AAAABBBBCCCCDDDDEEEEFFFF") as wrong:
        me = wrong.get("/users/me")
        assert (me.status_code, me.json()["code"]) == (401, "rest_not_logged_in")
        assert wrong.get("/posts").status_code == 200
        assert wrong.post("/posts", json={"title": "x"}).json()["code"] == "rest_cannot_create"
