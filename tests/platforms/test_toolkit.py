"""The platform toolkit: declared options, auth, error tables, helpers, token store.

A made-up platform ("relay") with a rotating refresh token, an app-scoped
token and an error table exercises each piece the way a plugin author would.
"""

import threading
import typing

import anyio
import httpx
import pytest
import respx

import govmedia as gm
from govmedia.platforms import (
    BasePlatform,
    Code,
    ErrorTable,
    FetchedToken,
    Header,
    LengthRule,
    Option,
    Query,
    Rule,
    StaticToken,
    url_check,
)
from govmedia.platforms.steps import creates_something, is_external, is_retry_safe
from govmedia.tokens import MemoryTokenStore, Token

API = "https://api.relay.test"


class RelayPlatform(BasePlatform):
    name = "relay"
    credential_keys = ("access_token",)
    optional_credential_keys = ("refresh_token",)
    options: typing.ClassVar = {
        "base_url": Option(str, default=API, check=url_check()),
        "visibility": Option(str, default="public", choices=("public", "members")),
        "retries": Option(int, default=3, minimum=0, maximum=9),
        "draft": Option(bool, default=False),
    }
    auth = StaticToken("access_token", Header("Authorization", "Bearer {}"), refresh=True)
    errors = ErrorTable({
        10001: Code.auth("Authorise the account again."),
        10002: Code.busy(),
        10003: Code.quota("Daily quota used up."),
        10004: Code.rejected("Too long.", rule="relay.text.max_length"),
        10005: Code.rejected(unforeseeable="the relay's own moderation"),
    }, code_field="err.code", message_field="err.msg", messages=(
        (10005, "spam", Code.permanent("Spam is never accepted.")),
    ))
    rules = (
        LengthRule(id="relay.text.max_length", field="text", limit=10, counter=len, source="relay docs"),
        Rule(id="relay.media.none", field="media", code="bad_media", summary="no media",
             source="relay docs", remediation="Remove the media."),
    )
    refreshes: typing.ClassVar[list] = []

    def validate(self, post, channel):
        problems = self.check_lengths(post.text or "", "text")
        if post.media:
            problems.append(self.rule("relay.media.none").problem("the relay takes no media"))
        return problems

    def publish(self, post, channel, key):
        created = yield from self.call(channel, "POST", "/posts", json={"text": post.text, "key": key},
                                       creates=True, expect=("post.id",))
        return gm.Receipt(channel=channel, remote_id=str(created["post"]["id"]))

    def refresh_request(self, channel, token):
        RelayPlatform.refreshes.append(token.refresh_token)
        return self.request(channel, "POST", "/oauth/refresh", creates=False, safe=True,
                            json={"refresh_token": token.refresh_token})

    def token_from(self, response, channel, *, previous):
        body = self.answer(response, channel, expect=("access_token", "refresh_token"))
        return Token(value=body["access_token"], expires_in=body.get("expires_in"),
                     refresh_token=body["refresh_token"])


@pytest.fixture(autouse=True)
def _relay():
    RelayPlatform.refreshes = []
    gm.platforms.register("relay", RelayPlatform, replace=True)
    yield
    gm.platforms.unregister("relay")


def channel(**options):
    return gm.Channel(platform="relay", account="a1",
                      credentials={"access_token": "acc-00000001", "refresh_token": "ref-00000001"},
                      options=options)


# --------------------------------------------------------------------- options


def test_declared_options_give_keys_and_typed_values():
    assert RelayPlatform.option_keys == ("base_url", "visibility", "retries", "draft")
    opts = RelayPlatform().opts(channel(draft="true", retries=5))
    assert (opts.draft, opts.retries, opts.visibility, opts.base_url) == (True, 5, "public", API)


@pytest.mark.parametrize(("options", "words"), [
    ({"visibility": "friends"}, "option visibility must be one of public, members, got 'friends'"),
    ({"retries": 12}, "option retries must be an integer from 0 to 9"),
    ({"retries": "3"}, "option retries must be an integer"),
    ({"draft": "maybe"}, "option draft must be true or false"),
    ({"base_url": "ftp://x"}, "option base_url must be an http(s) URL"),
    ({"colour": "red"}, "unknown option(s) colour"),
])
def test_bad_options_are_config_errors_naming_the_key(options, words):
    with pytest.raises(gm.ConfigError) as info:
        gm.Client().check(gm.Post(text="x"), channel(**options))
    assert words in str(info.value) and "relay:a1" in str(info.value)


def test_a_coerced_string_option_takes_an_id_written_as_a_number():
    # TOML: chat_id = -1001234567890 (an integer), or "${ENV}" (text)
    option = Option(str, coerce=True)
    assert option.parse(-1001234567890) == "-1001234567890"
    assert option.parse("@sasac_news") == "@sasac_news"
    with pytest.raises(ValueError, match="a string"):
        option.parse(True)
    with pytest.raises(ValueError, match="a string"):
        Option(str).parse(-1001234567890)  # only where the platform asks for it


# --------------------------------------------------------------------- rules and capabilities


def test_problems_carry_rule_ids_and_capabilities_come_from_the_rules():
    problems = gm.Client().check(gm.Post(text="国" * 11, media=[gm.Media.from_bytes(b"x", filename="a.bin")]),
                                 channel())
    assert [(p.code, p.rule) for p in problems] == [("too_long", "relay.text.max_length"),
                                                    ("bad_media", "relay.media.none")]
    assert RelayPlatform.capabilities.text_max == 10
    assert RelayPlatform.capabilities.refresh is True  # the auth refreshes


# --------------------------------------------------------------------- error tables


def classify(body, status=200):
    return RelayPlatform().classify(
        httpx.Response(status, json=body, request=httpx.Request("POST", f"{API}/posts")), channel())


def test_error_table_reads_codes_at_a_dotted_path_with_hints_and_flags():
    assert classify({"post": {"id": 1}}) is None
    assert classify({"err": {"code": 0}, "post": {"id": 1}}) is None
    auth = classify({"err": {"code": 10001, "msg": "token expired"}})
    assert isinstance(auth, gm.AuthError) and auth.hint == "Authorise the account again."
    busy = classify({"err": {"code": "10002", "msg": "busy"}})
    assert isinstance(busy, gm.TransientError) and busy.maybe_applied is False and busy.code == 10002
    quota = classify({"err": {"code": 10003, "msg": "quota"}})
    assert isinstance(quota, gm.RateLimited) and quota.quota
    spam = classify({"err": {"code": 10005, "msg": "looks like spam"}})
    assert type(spam) is gm.PlatformError and "Spam" in spam.hint
    bare = classify({"error": "oops"}, status=502)
    assert isinstance(bare, gm.TransientError) and bare.maybe_applied  # a bare 5xx may have landed


def test_every_content_refusal_of_every_platform_names_its_rule_or_why_none():
    """A platform refusal that check() did not foresee is a missing rule."""
    for name in gm.platforms.available():
        cls = gm.platforms.get(name)
        table = getattr(cls, "errors", None)
        ids = {rule.id for rule in getattr(cls, "rules", ())}
        assert len(ids) == len(getattr(cls, "rules", ())), f"{name}: rule ids repeat"
        # A platform's second API may keep a prefix of its own that starts with the
        # platform's name (weibo_article: Weibo's long-article API).
        assert all(i.startswith((f"{name}.", f"{name}_")) for i in ids), f"{name}: rule ids name the platform"
        for code, entry in (table or {}).items():
            if issubclass(entry.kind, gm.ContentRejected):
                assert entry.rule in ids or entry.unforeseeable, f"{name} {code}: no rule, no reason"


# --------------------------------------------------------------------- requests and helpers


def test_request_marks_and_call_checks_the_fields_it_needs():
    platform = RelayPlatform()
    request = platform.request(channel(), "POST", "/media", creates=False, safe=True, max_body=10)
    assert not creates_something(request) and is_retry_safe(request)
    assert request.extensions["govmedia.max_body"] == 10
    flow = platform.publish(gm.Post(text="hi"), channel(), "k1")
    sent = next(flow)
    assert sent.url == f"{API}/posts" and creates_something(sent)
    with pytest.raises(gm.PlatformError, match=r"without post\.id") as info:
        flow.send(httpx.Response(200, json={"post": {}}, request=sent))
    assert info.value.maybe_applied  # a create answered oddly may still have landed


def test_poll_asks_until_done_or_timeout():
    platform = RelayPlatform()
    answers = iter([1, 1, 0])

    def ask():
        yield from ()
        return next(answers)

    flow = platform.poll(ask, lambda v: v == 0, interval=0.5, timeout=2)
    steps = list(_drain(flow))
    assert [type(s).__name__ for s in steps] == ["Sleep", "Sleep"]
    assert _result(platform.poll(ask_always(1), lambda v: v == 0, interval=1, timeout=1)) == (1, False)


def ask_always(value):
    def ask():
        yield from ()
        return value
    return ask


def _drain(flow):
    try:
        while True:
            yield flow.send(None)
    except StopIteration:
        return


def _result(flow):
    try:
        while True:
            flow.send(None)
    except StopIteration as stop:
        return stop.value


def test_read_parts_streams_a_file_from_disk_one_part_at_a_time(tmp_path):
    path = tmp_path / "video.mp4"
    path.write_bytes(bytes(range(256)) * 40)  # 10,240 bytes
    media = gm.Media.from_path(path)
    parts = list(BasePlatform.read_parts(media, 4096))
    assert [(i, o, len(b)) for i, o, b in parts] == [(0, 0, 4096), (1, 4096, 4096), (2, 8192, 2048)]
    assert b"".join(b for _, _, b in parts) == path.read_bytes()
    resumed = list(BasePlatform.read_parts(media, 4096, start=8192))
    assert [(i, o) for i, o, _ in resumed] == [(2, 8192)]


@respx.mock
def test_credentials_never_go_to_another_host():
    media_host = respx.get("https://cdn.elsewhere.example/a.png").mock(
        return_value=httpx.Response(200, content=b"\x89PNG..."))
    post = respx.post(f"{API}/posts").mock(return_value=httpx.Response(200, json={"post": {"id": 9}}))
    platform = RelayPlatform()
    flow = platform.fetch(gm.Media.from_url("https://cdn.elsewhere.example/a.png"), channel())
    request = next(flow)
    assert is_external(request)
    with gm.Client(retry=gm.RetryPolicy.testing()) as client:
        client.publish(gm.Post(text="hi"), channel())
        assert client._drive(client._pipeline.run_flow(platform, channel(),
                                                       platform.fetch(gm.Media.from_url(
                                                           "https://cdn.elsewhere.example/a.png"),
                                                           channel()))) == b"\x89PNG..."
    assert "authorization" not in media_host.calls[0].request.headers
    assert post.calls[0].request.headers["authorization"] == "Bearer acc-00000001"
    # and a request to another host built by the platform itself carries nothing either
    stray = platform.authorize(httpx.Request("GET", "https://evil.example/x"), channel(), None)
    assert "authorization" not in stray.headers


# --------------------------------------------------------------------- tokens


@respx.mock
def test_a_rotated_refresh_token_replaces_the_old_one_and_is_used_next_time():
    posts = respx.post(f"{API}/posts").mock(side_effect=[
        httpx.Response(200, json={"err": {"code": 10001, "msg": "expired"}}),
        httpx.Response(200, json={"post": {"id": 1}}),
        httpx.Response(200, json={"err": {"code": 10001, "msg": "expired"}}),
        httpx.Response(200, json={"post": {"id": 2}}),
    ])
    respx.post(f"{API}/oauth/refresh").mock(side_effect=[
        httpx.Response(200, json={"access_token": "acc-00000002", "refresh_token": "ref-00000002",
                                  "expires_in": 7200}),
        httpx.Response(200, json={"access_token": "acc-00000003", "refresh_token": "ref-00000003"}),
    ])
    store = MemoryTokenStore()
    with gm.Client(retry=gm.RetryPolicy.testing(), tokens=store) as client:
        client.publish(gm.Post(text="one"), channel())
        client.publish(gm.Post(text="two"), channel())
    assert RelayPlatform.refreshes == ["ref-00000001", "ref-00000002"]  # each spent once
    assert [c.request.headers["authorization"] for c in posts.calls] == [
        "Bearer acc-00000001", "Bearer acc-00000002", "Bearer acc-00000002", "Bearer acc-00000003"]
    assert store.get(("relay", "relay:a1")).refresh_token == "ref-00000003"


@respx.mock
def test_a_refused_refresh_token_asks_for_a_new_authorisation():
    respx.post(f"{API}/posts").mock(return_value=httpx.Response(
        200, json={"err": {"code": 10001, "msg": "expired"}}))
    respx.post(f"{API}/oauth/refresh").mock(return_value=httpx.Response(
        401, json={"error": "invalid_grant"}))
    with gm.Client(retry=gm.RetryPolicy.testing()) as client, pytest.raises(gm.AuthError) as info:
        client.publish(gm.Post(text="one"), channel())
    assert "authorise the account again in the browser" in str(info.value)


@respx.mock
def test_a_platform_that_signs_in_by_itself_gives_its_own_advice_on_a_refused_renewal():
    """FetchedToken(renew_hint=...): no browser to go back to (a Bluesky app password)."""

    class SessionRelay(RelayPlatform):
        auth = FetchedToken(Header(), renew_hint="Make a new app password.")

        def token_request(self, channel, previous):
            return self.request(channel, "POST", "/session", creates=False, safe=True, json={})

        def token_from(self, response, channel, *, previous):
            body = self.answer(response, channel, expect=("token",))
            return Token(value=body["token"], refresh_token="ref-1")

    respx.post(f"{API}/session").mock(side_effect=[
        httpx.Response(200, json={"token": "tok-000001"}),
        httpx.Response(200, json={"err": {"code": 10001, "msg": "bad password"}}),
    ])
    respx.post(f"{API}/posts").mock(return_value=httpx.Response(
        200, json={"err": {"code": 10001, "msg": "expired"}}))
    gm.platforms.register("relay", SessionRelay, replace=True)
    with gm.Client(retry=gm.RetryPolicy.testing()) as client, pytest.raises(gm.AuthError) as info:
        client.publish(gm.Post(text="one"), channel())
    assert info.value.hint == "Make a new app password."
    assert "browser" not in str(info.value)


def test_concurrent_callers_spend_a_single_use_refresh_token_once():
    """Twenty deliveries under one app hit an expired token at once: one refresh."""
    used = set()
    lock = threading.Lock()

    def handler(request):
        if request.url.path == "/oauth/refresh":
            body = httpx.Request("POST", "x", content=request.content).content
            import json

            refresh = json.loads(body)["refresh_token"]
            with lock:
                if refresh in used:
                    return httpx.Response(400, json={"error": "invalid_grant"})
                used.add(refresh)
            return httpx.Response(200, json={"access_token": f"acc-new-{len(used):04d}",
                                             "refresh_token": f"ref-new-{len(used):04d}"})
        if request.headers["authorization"] == "Bearer acc-00000001":
            return httpx.Response(200, json={"err": {"code": 10001, "msg": "expired"}})
        return httpx.Response(200, json={"post": {"id": 1}})

    class Shared(RelayPlatform):
        auth = StaticToken("access_token", refresh=True, scope_credential="refresh_token")

    gm.platforms.register("relay", Shared, replace=True)
    channels = [gm.Channel(platform="relay", account=f"m{i}",
                           credentials={"access_token": "acc-00000001", "refresh_token": "ref-00000001"})
                for i in range(20)]

    async def main():
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with gm.AsyncClient(http=http, retry=gm.RetryPolicy.testing(), concurrency=20) as client:
            report = await client.fan_out(gm.Post(text="通知"), channels)
        await http.aclose()
        return report

    report = anyio.run(main)
    assert report.summary() == {"published": 20}
    assert used == {"ref-00000001"}  # refreshed once, by one of the twenty


def test_fetched_tokens_are_kept_per_app():
    class Fetched(RelayPlatform):
        auth = FetchedToken(Query("access_token"), scope_credential="access_token")

    assert Fetched.uses_token and Fetched().token_scope(channel()) == "acc-00000001"


# --------------------------------------------------------------------- default rate limits


def test_a_platforms_default_rate_limits_apply_per_account_unless_set():
    class Limited(RelayPlatform):
        default_rate_limits: typing.ClassVar = {"relay:*": gm.RateLimit(2, per=60)}

    gm.platforms.register("relay", Limited, replace=True)
    client = gm.Client()
    client._platform(channel())
    assert client._limiter.take(["relay", "relay:a1"])[0] == 0
    assert client._limiter.take(["relay", "relay:a1"])[0] == 0
    assert client._limiter.take(["relay", "relay:a1"])[0] > 0    # a1's budget is spent
    assert client._limiter.take(["relay", "relay:b2"])[0] == 0   # b2 has its own
    mine = gm.Client(rate_limits={"relay:*": gm.RateLimit(100)})
    mine._platform(channel())
    assert mine._limiter.limits["relay:*"].rate == 100           # the user's wins


def test_upload_progress_reaches_a_progress_object_with_an_upload_method(tmp_path):
    from govmedia.platforms import Uploaded

    class Chunked(RelayPlatform):
        def validate(self, post, channel):
            return []

        def publish(self, post, channel, key):
            media = post.media[0]
            for _, offset, chunk in self.read_parts(media, 4):
                yield self.request(channel, "PUT", f"/parts/{offset}", content=chunk, creates=False,
                                   safe=True)
                yield Uploaded(media.filename, sent=offset + len(chunk), total=media.size)
            created = yield from self.call(channel, "POST", "/posts", json={"key": key}, creates=True,
                                           expect=("post.id",))
            return gm.Receipt(channel=channel, remote_id=str(created["post"]["id"]))

    gm.platforms.register("relay", Chunked, replace=True)

    class Bar:
        def __init__(self):
            self.deliveries, self.uploads = [], []

        def __call__(self, delivery):
            self.deliveries.append(delivery)

        def upload(self, event):
            self.uploads.append((event.channel.account, event.sent, event.total))

    def handler(request):
        if request.url.path.startswith("/parts/"):
            return httpx.Response(200, json={})
        return httpx.Response(200, json={"post": {"id": 1}})

    bar = Bar()
    post = gm.Post(text="视频", media=[gm.Media.from_bytes(b"0123456789", filename="v.bin")])
    with gm.Client(http=httpx.Client(transport=httpx.MockTransport(handler)),
                   retry=gm.RetryPolicy.testing(), journal=tmp_path / "j.db") as client:
        client.fan_out(post, [channel()], progress=bar)
    assert bar.uploads == [("a1", 4, 10), ("a1", 8, 10), ("a1", 10, 10)]
    assert len(bar.deliveries) == 1


def test_an_upload_session_saved_before_the_create_is_resumed_by_the_next_run(tmp_path):
    from govmedia.platforms import Checkpoint, Recall

    class Resumable(RelayPlatform):
        def validate(self, post, channel):
            return []

        def publish(self, post, channel, key):
            media = post.media[0]
            saved = yield Recall()
            start = saved.get("offset", 0)
            for _, offset, chunk in self.read_parts(media, 4, start=start):
                yield self.request(channel, "PUT", f"/parts/{offset}", content=chunk, creates=False,
                                   safe=True)
                yield Checkpoint("uploading", {"offset": offset + len(chunk)}, save=True)
            created = yield from self.call(channel, "POST", "/posts", json={"key": key}, creates=True,
                                           expect=("post.id",))
            return gm.Receipt(channel=channel, remote_id=str(created["post"]["id"]))

    gm.platforms.register("relay", Resumable, replace=True)
    sent = []

    class Crash(BaseException):
        pass

    def dying(request):
        if request.url.path == "/parts/8":
            raise Crash  # the process dies while sending the third part
        sent.append(request.url.path)
        return httpx.Response(200, json={"post": {"id": 1}})

    def healthy(request):
        sent.append(request.url.path)
        return httpx.Response(200, json={"post": {"id": 1}})

    post = gm.Post(text="视频", media=[gm.Media.from_bytes(b"0123456789", filename="v.bin")])
    journal = tmp_path / "j.db"
    with gm.Client(http=httpx.Client(transport=httpx.MockTransport(dying)), journal=journal,
                   retry=gm.RetryPolicy.testing()) as client, pytest.raises(Crash):
        client.fan_out(post, [channel()])
    assert sent == ["/parts/0", "/parts/4"]
    sent.clear()
    with gm.Client(http=httpx.Client(transport=httpx.MockTransport(healthy)), journal=journal,
                   retry=gm.RetryPolicy.testing()) as client:
        assert client.fan_out(post, [channel()]).deliveries[0].state == "published"
    assert sent == ["/parts/8", "/posts"]  # resumed from the last acknowledged part


def test_count_or_none_never_turns_a_missing_count_into_zero():
    from govmedia.platforms.steps import count_or_none

    assert [count_or_none(v) for v in (0, 7, -1, True, "7", 7.0, None, [])] == \
        [0, 7, None, None, None, None, None, None]


def test_count_or_none_reads_counts_given_as_digits_only_where_asked():
    from govmedia.platforms.steps import count_or_none

    # YouTube's statistics: "1204". Still never 0 for what is not a count.
    values = ("0", "1204", 7, "-1", "+1", " 1", "1.5", "١٢", "²", "9" * 20, "9" * 21, "", True, None)
    assert [count_or_none(v, digits=True) for v in values] == \
        [0, 1204, 7, None, None, None, None, None, None, int("9" * 20), None, None, None, None]
    assert count_or_none("1204") is None  # the default is unchanged: a string is no count


def test_id_or_none_with_most_takes_short_printable_ascii_strings_only():
    from govmedia.platforms.steps import id_or_none

    values = ("dQw4w9WgXcQ", "x" * 64, "x" * 65, "", "a\r\nb", "视频", 12345, True, None)
    assert [id_or_none(v, most=64) for v in values] == \
        ["dQw4w9WgXcQ", "x" * 64, None, None, None, None, None, None, None]
    assert id_or_none(12345) == "12345" and id_or_none("视频") == "视频"  # the default is unchanged


# --------------------------------------------------------------------------- poll


def drive_poll(answers, **options):
    """The Sleep steps `BasePlatform.poll` yields over *answers*, and what it returns."""
    from govmedia.platforms.steps import Sleep

    queue = list(answers)

    def ask():
        yield from ()
        return queue.pop(0)

    flow = gm.platforms.BasePlatform().poll(ask, lambda a: a["state"] == "done", **options)
    sleeps = []
    try:
        step = next(flow)
        while True:
            assert isinstance(step, Sleep)
            sleeps.append(step.seconds)
            step = flow.send(None)
    except StopIteration as stop:
        return sleeps, stop.value


def test_poll_waits_its_interval_and_gives_up_at_the_timeout():
    pending = {"state": "processing"}
    sleeps, result = drive_poll([pending] * 4, interval=2.0, timeout=5.0)
    assert sleeps == [2.0, 2.0, 2.0] and result == (pending, False)
    sleeps, result = drive_poll([pending, {"state": "done"}], interval=2.0, timeout=5.0)
    assert sleeps == [2.0] and result == ({"state": "done"}, True)


def test_poll_waits_as_the_platform_asks_but_never_past_the_timeout():
    answers = [{"state": "processing", "after": 3}, {"state": "processing", "after": 0},
               {"state": "processing", "after": 30}, {"state": "processing"}]
    sleeps, (last, done) = drive_poll(answers, interval=1.0, timeout=10.0,
                                      wait=lambda a: a.get("after", 0))
    assert sleeps == [3.0, 1.0, 6.0] and not done  # at least the interval; the last one cut short
    assert last == {"state": "processing"}
