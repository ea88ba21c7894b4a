"""Reading the wait a platform asks for, in each platform's dialect."""

import email.utils

import httpx
import pytest

import govmedia as gm
from govmedia.policy.retry import retry_after_from

NOW = 1_700_000_000.0


def resp(status=429, headers=None, json=None):
    return httpx.Response(status, headers=headers or {}, json=json)


@pytest.mark.parametrize(("response", "expected"), [
    (resp(headers={"Retry-After": "5"}), 5.0),
    (resp(headers={"Retry-After": email.utils.formatdate(NOW + 30, usegmt=True)}), 30.0),
    # Matrix: {"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":4531}
    (resp(json={"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 4531}), 4.531),
    # Telegram: {"ok":false,"error_code":429,"parameters":{"retry_after":12}}
    (resp(json={"ok": False, "error_code": 429, "parameters": {"retry_after": 12}}), 12.0),
    # Mastodon: X-RateLimit-Reset is an ISO 8601 time with fractional seconds
    (resp(headers={"X-RateLimit-Reset": "2023-11-14T22:13:20.500000Z", "X-RateLimit-Remaining": "0"}), 0.5),
    # X: x-rate-limit-reset is Unix seconds
    (resp(headers={"x-rate-limit-reset": str(int(NOW + 900))}), 900.0),
    # Bluesky's PDS: unprefixed RateLimit-Reset in Unix seconds (shared/platforms/bluesky.md)
    (resp(headers={"RateLimit-Limit": "3000", "RateLimit-Remaining": "0",
                   "RateLimit-Reset": str(int(NOW + 42)), "RateLimit-Policy": "3000;w=300"}), 42.0),
    (resp(status=400, headers={"RateLimit-Reset": str(int(NOW + 42)), "RateLimit-Remaining": "0"}), 42.0),
    (resp(status=400, headers={"RateLimit-Reset": str(int(NOW + 42)), "RateLimit-Remaining": "7"}), None),
    (resp(status=200, headers={"X-RateLimit-Reset": "2023-11-14T22:14:20Z", "X-RateLimit-Remaining": "10"}), None),
    (resp(json={"error": "Too many requests"}), None),
])
def test_dialects(response, expected):
    got = retry_after_from(response, now=NOW)
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_retry_header_wins_over_the_body():
    r = resp(headers={"Retry-After": "2"}, json={"retry_after_ms": 9000})
    assert retry_after_from(r, now=NOW) == 2.0


def test_backoff_grows_and_is_capped():
    policy = gm.RetryPolicy(wait_initial=0.5, wait_max=3, wait_jitter=0)
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3, 3]
    jittered = gm.RetryPolicy(wait_initial=1, wait_jitter=1).backoff(1)
    assert 1 <= jittered <= 2


def test_policy_is_a_value_object():
    policy = gm.RetryPolicy()
    assert (policy.attempts, policy.timeout, policy.max_retry_after) == (4, 60.0, 120.0)
    assert policy.with_options(attempts=2).attempts == 2 and policy.attempts == 4
    with pytest.raises(ValueError):
        gm.RetryPolicy(attempts=0)


# X: on a 429 whose 24-hour posting cap is spent, the cap's reset is the wait,
# not the 15-minute window's (shared/platforms/x.md: headers undocumented, unverified).
@pytest.mark.parametrize(("headers", "expected"), [
    ({"x-rate-limit-reset": str(int(NOW + 60)), "x-user-limit-24hour-remaining": "0",
      "x-user-limit-24hour-reset": str(int(NOW + 7200))}, 7200.0),
    ({"x-rate-limit-reset": str(int(NOW + 60)), "x-app-limit-24hour-remaining": "0",
      "x-app-limit-24hour-reset": str(int(NOW + 3600))}, 3600.0),
    # a cap with requests left does not count; the window does
    ({"x-rate-limit-reset": str(int(NOW + 60)), "x-user-limit-24hour-remaining": "17",
      "x-user-limit-24hour-reset": str(int(NOW + 7200))}, 60.0),
    # the cap alone, the window header missing
    ({"x-user-limit-24hour-remaining": "0", "x-user-limit-24hour-reset": str(int(NOW + 500))}, 500.0),
])
def test_x_24_hour_cap_spent_is_waited_for(headers, expected):
    assert retry_after_from(resp(headers=headers), now=NOW) == pytest.approx(expected)


def test_x_24_hour_cap_headers_on_a_success_ask_for_no_wait():
    headers = {"x-user-limit-24hour-remaining": "0", "x-user-limit-24hour-reset": str(int(NOW + 500))}
    assert retry_after_from(resp(status=201, headers=headers), now=NOW) is None


# Facebook: no Retry-After; X-Business-Use-Case-Usage gives, per Page,
# estimated_time_to_regain_access in minutes (shared/platforms/facebook.md "Rate limits").
def _usage(*entries, page="104000000000001"):
    import json

    return {"X-Business-Use-Case-Usage": json.dumps({page: list(entries)})}


@pytest.mark.parametrize(("headers", "expected"), [
    (_usage({"type": "pages", "call_count": 100, "total_cputime": 40, "total_time": 52,
             "estimated_time_to_regain_access": 5}), 300.0),
    # several entries (and Pages): the longest wait
    (_usage({"type": "pages", "call_count": 80, "estimated_time_to_regain_access": 2},
            {"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 9}), 540.0),
    # not throttled (0 minutes): no wait known, the computed backoff applies
    (_usage({"type": "pages", "call_count": 95, "estimated_time_to_regain_access": 0}), None),
    # malformed headers are ignored, never an error
    ({"X-Business-Use-Case-Usage": "{not json"}, None),
    ({"X-Business-Use-Case-Usage": '["pages"]'}, None),
    (_usage({"type": "pages", "estimated_time_to_regain_access": "5"}), None),
    (_usage({"type": "pages", "estimated_time_to_regain_access": True}), None),
    # X-App-Usage carries percentages only: no wait
    ({"X-App-Usage": '{"call_count": 100, "total_cputime": 10, "total_time": 12}'}, None),
])
def test_facebook_business_use_case_wait(headers, expected):
    got = retry_after_from(resp(status=400, headers=headers), now=NOW)
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_facebook_retry_after_still_wins():
    headers = {"Retry-After": "3", **_usage({"estimated_time_to_regain_access": 5})}
    assert retry_after_from(resp(headers=headers), now=NOW) == 3.0
