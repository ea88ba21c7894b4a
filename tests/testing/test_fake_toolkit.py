"""The fake toolkit itself: refusals, body parsers, tokens, idempotency, rate budgets, routes."""

import threading
import time
from typing import ClassVar

import httpx
import pytest

import govmedia as gm
from govmedia.testing import (
    FakePlatform,
    FakeTokens,
    IdempotencyStore,
    RateBudgets,
    Refuse,
    parse_form,
    parse_json,
    parse_multipart,
    parse_params,
    parse_query,
    route,
)

BASE = "https://sandbox.govmedia.test/board"


class Clock:
    def __init__(self, now=1_700_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def refusal(reason):
    return httpx.Response(400, json={"code": 4000, "reason": reason})


class FakeBoard(FakePlatform):
    """A small OAuth platform written with the toolkit, as a new platform's fake would be."""

    name: ClassVar[str] = "board"
    prefix: ClassVar[str] = "/board"
    create_path: ClassVar[str] = r"^/api/posts$"
    rate_limits: ClassVar = {"api": (100, 60.0), "posts": (2, 3600.0)}
    rate_scope: ClassVar = ("api",)

    def __init__(self, base_url="https://sandbox.govmedia.test"):
        super().__init__(base_url)
        self.tokens = FakeTokens(ttl=3600, refresh_ttl=86400, clock=self.now,
                                 refuse=lambda reason: httpx.Response(401, json={"code": 4010, "reason": reason}))
        self.keys = IdempotencyStore(600, clock=self.now)
        self.items = {}
        self.grants = {}

    def channel(self, account="", **options):
        account = account or f"user{len(self.grants) + 1}"
        pair = self.grants[account] = self.tokens.issue(account, app_id="app1", refresh=True)
        return gm.Channel(platform="board", account=account,
                          credentials={"access_token": pair.access.value, "refresh_token": pair.refresh.value},
                          options={"base_url": self.base_url, **options})

    def posts(self, account=None):
        return [p for p in self.items.values() if account is None or p["account"] == account]

    def account_of(self, request):
        token = self.tokens.get(self.bearer(request) or "")
        return token.subject if token else None

    def bad_body(self, reason):
        return refusal(reason)

    # three calls deep: handler -> _create -> _author -> tokens.access raises
    def _author(self, request):
        return self.tokens.access(self.bearer(request), scope=None).subject

    def _create(self, request):
        author = self._author(request)
        body = self.json_body(request)
        if not body.get("text"):
            raise Refuse(422, json={"code": 4220, "reason": "text"})
        item = {"id": str(len(self.items) + 1), "account": author, "text": body["text"]}
        self.items[item["id"]] = item
        return item["id"]

    @route("POST", r"/api/posts", spends=("posts",))
    def _post(self, request, match):
        key = request.headers.get("Idempotency-Key")
        make = lambda: self._create(request)  # noqa: E731
        post_id = self.keys.once(self.account_of(request) or "", key, make) if key else make()
        return httpx.Response(200, json=self.items[post_id])

    @route("POST", r"/oauth/token")
    def _token(self, request, match):
        form = self.form_body(request)
        if form.get("grant_type") != "refresh_token":
            raise Refuse(400, json={"error": "unsupported_grant_type"})
        pair = self.tokens.refresh(form.get("refresh_token"), app_id=form.get("client_id"))
        return httpx.Response(200, json={"access_token": pair.access.value, "refresh_token": pair.refresh.value,
                                         "expires_in": pair.access.expires_in(self.now())})

    @route("GET", r"/api/posts/(?P<id>\d+)")
    def _read_digits(self, request, match):
        return httpx.Response(200, json={"route": "digits"})

    @route("GET", r"/api/posts/(?P<id>\w+)")
    def _read_word(self, request, match):
        return httpx.Response(200, json={"route": "word"})


@pytest.fixture
def board():
    fake = FakeBoard()
    fake.clock = Clock()
    return fake


@pytest.fixture
def http(board):
    with httpx.Client(transport=httpx.MockTransport(board), base_url=board.base_url) as client:
        yield client


def auth(channel):
    return {"Authorization": f"Bearer {channel.credentials['access_token']}"}


# --------------------------------------------------------------------------- refusals


def test_a_refusal_raised_three_calls_deep_is_the_answer(board, http):
    ch = board.channel("sasac")
    no_token = http.post("/api/posts", json={"text": "x"})
    assert (no_token.status_code, no_token.json()) == (401, {"code": 4010, "reason": "missing"})
    bad = http.post("/api/posts", json={"text": "x"}, headers={"Authorization": "Bearer nope"})
    assert bad.json() == {"code": 4010, "reason": "invalid"}
    empty = http.post("/api/posts", json={"text": ""}, headers=auth(ch))
    assert (empty.status_code, empty.json()) == (422, {"code": 4220, "reason": "text"})
    assert board.posts() == []
    assert [r.status for r in board.requests(board.create_path)] == [401, 401, 422]


def test_refuse_takes_a_response_or_a_status():
    made = Refuse(httpx.Response(418, text="teapot"))
    assert made.response.status_code == 418 and made.response.text == "teapot"
    built = Refuse(503, json={"error": "busy"}, headers={"Retry-After": "3"})
    assert built.response.json() == {"error": "busy"} and built.response.headers["Retry-After"] == "3"
    assert Refuse(410, text="gone").response.text == "gone"


def test_a_refusal_outside_a_fake_is_an_ordinary_exception():
    with pytest.raises(Refuse):
        FakeTokens().access("nope")


# --------------------------------------------------------------------------- body parsers


def test_multipart_with_two_files_and_fields():
    request = httpx.Request("POST", BASE, data={"title": "一带一路", "tags[]": ["央企", "国资"]}, files=[
        ("cover", ("封面.jpg", b"\xff\xd8\xff-jpeg", "image/jpeg")),
        ("media", ("clip.mp4", b"\x00\x00\x00\x18ftypmp42\r\n--not-a-boundary", "video/mp4")),
    ])
    form = parse_multipart(request)
    assert form.fields == {"title": "一带一路", "tags": ["央企", "国资"]}
    files = [p for p in form.parts if p.is_file]
    assert [(p.name, p.filename, p.content_type) for p in files] == [
        ("cover", "封面.jpg", "image/jpeg"), ("media", "clip.mp4", "video/mp4")]
    assert form["media"].data == b"\x00\x00\x00\x18ftypmp42\r\n--not-a-boundary"
    assert form["cover"].data == b"\xff\xd8\xff-jpeg"
    assert "cover" in form and form.get("thumb") is None and len(form.getall("tags[]")) == 2
    with pytest.raises(KeyError):
        form["thumb"]


def test_multipart_is_strict():
    def refused(content, ctype="multipart/form-data; boundary=XX"):
        request = httpx.Request("POST", BASE, content=content, headers={"Content-Type": ctype})
        with pytest.raises(Refuse) as caught:
            parse_multipart(request, refuse=refusal)
        return caught.value.response.json()["reason"]

    part = b'--XX\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue\r\n'
    assert parse_multipart(httpx.Request("POST", BASE, content=part + b"--XX--\r\n", headers={
        "Content-Type": "multipart/form-data; boundary=XX"})).fields == {"a": "value"}
    assert refused(part) == "multipart"  # no closing boundary: cut short
    assert refused(part + b"--XX--", ctype="multipart/form-data") == "multipart"  # no boundary given
    assert refused(b"--XX\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XX--") == "multipart"  # no name
    assert refused(b'--XX\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\xfe\r\n--XX--') == "charset"
    # another content type: no parts at all, not a refusal
    assert parse_multipart(httpx.Request("POST", BASE, json={"a": 1})).parts == ()


def test_json_is_utf8_and_an_object():
    def reason(content, **kwargs):
        with pytest.raises(Refuse) as caught:
            parse_json(httpx.Request("POST", BASE, content=content), refuse=refusal, **kwargs)
        return caught.value.response.json()["reason"]

    assert reason("标题".encode("gbk")) == "charset"
    assert reason(b"{'a': 1}") == "syntax"
    assert reason(b'["a"]') == "not_object"
    escaped = b'{"title": "\\u6807\\u9898"}'
    assert parse_json(httpx.Request("POST", BASE, content=escaped)) == {"title": "标题"}
    assert reason(escaped, escapes=False) == "escape"
    literal = b'{"path": "C:\\\\u1234"}'  # an escaped backslash, then "u1234": not an escape
    assert parse_json(httpx.Request("POST", BASE, content=literal), escapes=False) == {"path": "C:\\u1234"}


def test_form_query_and_params():
    assert parse_form(httpx.Request("POST", BASE, content=b"a=1&a=2&b[]=x&b[]=y&c=")) == {
        "a": "2", "b": ["x", "y"], "c": ""}
    with pytest.raises(Refuse) as caught:
        parse_form(httpx.Request("POST", BASE, content=b"a=%FF"), refuse=refusal)
    assert caught.value.response.json()["reason"] == "charset"
    assert parse_query(httpx.Request("GET", BASE + "?ids[]=1&ids[]=2&q=%E5%A4%AE")) == {"ids": ["1", "2"], "q": "央"}
    assert parse_params(httpx.Request("POST", BASE)) == {}
    assert parse_params(httpx.Request("POST", BASE, files={"f": ("a.txt", b"x")}, data={"k": "v"})) == {"k": "v"}


def test_the_fake_refuses_bodies_in_its_own_shape(board, http):
    ch = board.channel("sasac")
    broken = http.post("/api/posts", content=b"{", headers=auth(ch))
    assert (broken.status_code, broken.json()) == (400, {"code": 4000, "reason": "syntax"})


# --------------------------------------------------------------------------- tokens


def test_refresh_rotates_and_an_old_refresh_token_is_refused(board, http):
    ch = board.channel("sasac")
    old_refresh = ch.credentials["refresh_token"]
    form = {"grant_type": "refresh_token", "client_id": "app1", "refresh_token": old_refresh}
    first = http.post("/oauth/token", data=form)
    assert first.status_code == 200 and first.json()["refresh_token"] != old_refresh
    again = http.post("/oauth/token", data=form)
    assert (again.status_code, again.json()) == (401, {"code": 4010, "reason": "refresh_reused"})
    chained = http.post("/oauth/token", data={**form, "refresh_token": first.json()["refresh_token"]})
    assert chained.status_code == 200
    # both access tokens still work (the default): independent of the refresh
    for token in (ch.credentials["access_token"], first.json()["access_token"]):
        assert http.post("/api/posts", json={"text": "x"}, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def slow_clock():
    time.sleep(0.002)  # widens the window between checking a refresh token and spending it
    return 1_700_000_000.0


def test_two_concurrent_refreshes_exactly_one_wins():
    for _ in range(5):
        tokens = FakeTokens(ttl=60, refresh_ttl=600, clock=slow_clock)
        pair = tokens.issue("sasac", app_id="app1", refresh=True)
        start = threading.Barrier(8)
        won, refused = [], []

        def refresh(value=pair.refresh.value):
            start.wait()
            try:
                won.append(tokens.refresh(value, app_id="app1"))
            except Refuse as refusal:
                refused.append(refusal.response.json()["error"])

        threads = [threading.Thread(target=refresh) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1
        assert refused == ["the refresh token was already used"] * 7
        assert list(tokens.refresh_tokens) == [won[0].refresh.value]


def test_two_concurrent_refreshes_through_the_fake(board):
    ch = board.channel("sasac")
    form = {"grant_type": "refresh_token", "client_id": "app1", "refresh_token": ch.credentials["refresh_token"]}
    start = threading.Barrier(2)
    statuses = []

    def refresh():
        with httpx.Client(transport=httpx.MockTransport(board), base_url=board.base_url) as client:
            start.wait()
            statuses.append(client.post("/oauth/token", data=form).status_code)

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 401]


def test_refresh_tokens_expire_renew_or_inherit():
    clock = Clock()
    renew = FakeTokens(ttl=60, refresh_ttl=1000, clock=clock)
    inherit = FakeTokens(ttl=60, refresh_ttl=1000, rotation="inherit", clock=clock)
    a, b = renew.issue("u", refresh=True), inherit.issue("u", refresh=True)
    clock.now += 600
    a2, b2 = renew.refresh(a.refresh.value), inherit.refresh(b.refresh.value)
    assert a2.refresh.expires_at == clock.now + 1000  # a fresh lifetime
    assert b2.refresh.expires_at == b.refresh.expires_at  # Kuaishou: no extension
    clock.now += 400
    with pytest.raises(Refuse) as caught:
        inherit.refresh(b2.refresh.value)
    assert caught.value.response.json()["error"] == "the refresh token has expired"
    assert renew.refresh(a2.refresh.value).access.subject == "u"


def test_refresh_tokens_that_never_rotate_stay_valid():
    """Google keeps one refresh token: each refresh gives a new access token only."""
    clock = Clock()
    tokens = FakeTokens(ttl=3600, rotation="none", revoke_on_refresh=True, clock=clock)
    pair = tokens.issue("u", app_id="app1", refresh=True)
    first = tokens.refresh(pair.refresh.value, app_id="app1")
    second = tokens.refresh(pair.refresh.value, app_id="app1")
    assert first.refresh is second.refresh and second.refresh.value == pair.refresh.value
    assert first.access.value != second.access.value and second.access.value in tokens
    assert pair.access.value not in tokens and first.access.value not in tokens  # revoked
    assert tokens.refresh_tokens == {pair.refresh.value: pair.refresh}
    tokens.revoke(pair.refresh.value)
    with pytest.raises(Refuse) as caught:
        tokens.refresh(pair.refresh.value, app_id="app1")
    assert caught.value.response.json()["error"] == "the refresh token is invalid"


def test_a_refresh_token_of_another_app_is_refused_and_stays_unspent():
    tokens = FakeTokens()
    pair = tokens.issue("u", app_id="app1", refresh=True)
    with pytest.raises(Refuse) as caught:
        tokens.refresh(pair.refresh.value, app_id="app2")
    assert caught.value.response.json()["error"] == "the refresh token is invalid"
    assert tokens.refresh(pair.refresh.value, app_id="app1").access.app_id == "app1"
    with pytest.raises(Refuse):
        tokens.refresh(None)


def test_revoke_on_refresh_and_scopes():
    tokens = FakeTokens(revoke_on_refresh=True)
    pair = tokens.issue("u", scopes=("video.publish",), refresh=True)
    assert tokens.access(pair.access.value, scope="video.publish").scopes == ("video.publish",)
    with pytest.raises(Refuse) as caught:
        tokens.access(pair.access.value, scope="user.info")
    assert caught.value.response.json()["error"] == "the access token lacks a scope"
    fresh = tokens.refresh(pair.refresh.value)
    assert pair.access.value not in tokens and fresh.access.value in tokens
    assert fresh.access.scopes == ("video.publish",)


def test_access_tokens_expire_by_the_clock_and_on_demand():
    clock = Clock()
    tokens = FakeTokens(ttl=7200, clock=clock)
    one, two = tokens.issue("a").access, tokens.issue("b", prefix="plain-").access
    assert two.value.startswith("plain-") and len(tokens) == 2 and set(tokens) == {one.value, two.value}
    clock.now += 7199
    assert tokens.access(one.value).expires_in(clock.now) == 1
    clock.now += 1
    with pytest.raises(Refuse, match="401"):
        tokens.access(one.value)
    forever = FakeTokens(ttl=None, clock=clock)
    token = forever.issue("c").access
    clock.now += 10**9
    assert forever.access(token.value).expires_in(clock.now) is None
    forever.expire(token.value)
    with pytest.raises(Refuse):
        forever.access(token.value)
    forever.revoke(token.value)
    assert token.value not in forever
    with pytest.raises(ValueError, match="rotation"):
        FakeTokens(rotation="sometimes")


def test_token_values_stay_out_of_reprs():
    pair = FakeTokens().issue("sasac", refresh=True)
    assert pair.access.value not in repr(pair) and pair.refresh.value not in repr(pair)


# --------------------------------------------------------------------------- idempotency


def test_idempotency_window_expiry_with_an_injectable_clock(board, http):
    ch = board.channel("sasac")
    headers = {**auth(ch), "Idempotency-Key": "k1"}
    first = http.post("/api/posts", json={"text": "一"}, headers=headers).json()
    assert http.post("/api/posts", json={"text": "二"}, headers=headers).json() == first
    board.clock.now += 599
    assert http.post("/api/posts", json={"text": "二"}, headers=headers).json() == first
    board.clock.now += 1  # the window counts from the first result, a repeat does not extend it
    later = http.post("/api/posts", json={"text": "三"}, headers=headers).json()
    assert later["id"] != first["id"] and len(board.posts()) == 2


def test_idempotency_scopes_failures_and_forgetting():
    clock = Clock()
    keys = IdempotencyStore(60, clock=clock)

    def fail():
        raise Refuse(422, json={"error": "no"})

    with pytest.raises(Refuse):
        keys.once("a", "k", fail)
    assert keys.get("a", "k") is None  # a refusal is not remembered
    assert keys.once("a", "k", lambda: 1) == 1 and keys.once("b", "k", lambda: 2) == 2
    assert keys.once("a", "k", lambda: 3) == 1 and len(keys) == 2
    clock.now += 30
    keys.put("c", "k", 4)
    clock.now += 30
    assert keys.get("a", "k") is None and keys.get("c", "k") == 4 and len(keys) == 1
    keys.put("d", "k", 5)  # expired entries are dropped as new ones come
    assert list(keys._seen) == [("c", "k"), ("d", "k")]


# --------------------------------------------------------------------------- rate budgets


def test_rate_budgets_per_key_in_fixed_windows():
    clock = Clock(1_700_000_100.0)
    budgets = RateBudgets({"posts": (2, 3600.0), "api": (5, 60.0)}, clock=clock)
    assert [budgets.spend("a", "posts").used for _ in range(3)] == [1, 2, 3]
    assert budgets.spend("a", "posts").exhausted and budgets.spend("b", "posts").remaining == 1
    clock.now = 1_700_002_800.0  # the next hour: a new window
    assert budgets.spend("a", "posts").used == 1
    tight = budgets.spend("a", "api", "posts")
    assert tight.name == "posts" and tight.reset_at == 1_700_006_400.0
    budgets.limits["posts"] = (100, 3600.0)  # a test may change a budget at any time
    assert budgets.spend("a", "api", "posts").name == "api"
    with pytest.raises(ValueError):
        budgets.spend("a")


def test_the_fake_enforces_budgets_in_its_own_shape(board, http):
    ch = board.channel("sasac")
    assert http.get("/api/posts/1", headers=auth(ch)).status_code == 200
    board.enforce_limits = True
    assert http.post("/api/posts", json={"text": "1"}, headers=auth(ch)).status_code == 200
    assert http.post("/api/posts", json={"text": "2"}, headers=auth(ch)).status_code == 200
    over = http.post("/api/posts", json={"text": "3"}, headers=auth(ch))
    assert over.status_code == 429 and 0 < int(over.headers["Retry-After"]) <= 3600
    assert len(board.posts()) == 2
    other = board.channel("member")  # another account, its own budget
    assert http.post("/api/posts", json={"text": "4"}, headers=auth(other)).status_code == 200
    board.enforce_limits = False
    assert http.post("/api/posts", json={"text": "5"}, headers=auth(ch)).status_code == 200


def test_a_route_spending_an_unknown_budget_is_caught_when_the_fake_is_made():
    class Typo(FakeBoard):
        @route("POST", r"/api/other", spends=("psots",))
        def _other(self, request, match):
            return httpx.Response(200)

    with pytest.raises(ValueError, match="psots"):
        Typo()

    class ScopeTypo(FakeBoard):
        rate_scope: ClassVar = ("apu",)

    with pytest.raises(ValueError, match="rate_scope spends unknown budgets"):
        ScopeTypo()


# --------------------------------------------------------------------------- routes, faults, contract


def test_routes_first_declared_wins_and_redefinitions_replace(board, http):
    assert http.get("/api/posts/12").json() == {"route": "digits"}
    assert http.get("/api/posts/ab").json() == {"route": "word"}
    assert http.delete("/api/posts/12").status_code == 405
    assert http.get("/api/nothing").status_code == 404

    class Override(FakeBoard):
        @route("GET", r"/api/posts/(?P<id>\d+)")
        def _read_digits(self, request, match):
            return httpx.Response(200, json={"route": "override"})

    fake = Override()
    with httpx.Client(transport=httpx.MockTransport(fake), base_url=fake.base_url) as client:
        assert client.get("/api/posts/12").json() == {"route": "override"}


def test_faults_and_chaos_still_come_first(board, http):
    ch = board.channel("sasac")
    board.inject("server_error", path=board.create_path)
    assert http.post("/api/posts", json={"text": "x"}, headers=auth(ch)).status_code == 500
    board.chaos(1.0, kinds=("busy",), seed=1)
    assert http.post("/api/posts", json={"text": "x"}, headers=auth(ch)).status_code == 503
    assert board.posts() == []


def test_the_contract_is_abstract():
    class Incomplete(FakePlatform):
        create_path: ClassVar[str] = r"^/x$"

        def channel(self, account="", **options):
            return gm.Channel(platform="x", account=account)

    with pytest.raises(TypeError, match="posts"):
        Incomplete()


def test_every_public_name_of_the_toolkit_has_an_example():
    import inspect

    import govmedia.testing as testing

    missing = [name for name in testing.__all__
               if (inspect.isclass(getattr(testing, name)) or inspect.isfunction(getattr(testing, name)))
               and "Example" not in (getattr(testing, name).__doc__ or "")]
    assert missing == []


def test_every_fake_with_fake_tokens_expires_them_and_sets_their_lifetime():
    from govmedia.testing import FakeMastodon, FakeWebhook, FakeX

    x = FakeX()
    ch = x.channel("@sasac")
    x.token_ttl = 60
    assert x.tokens.ttl == 60 and x.token_ttl == 60
    x.expire_tokens()
    assert x.tokens.get(ch.credentials["access_token"]).expires_at <= x.now()
    assert FakeMastodon().token_ttl is None or FakeMastodon().token_ttl > 0
    with pytest.raises(TypeError, match="no expiring tokens"):
        FakeWebhook().expire_tokens()
