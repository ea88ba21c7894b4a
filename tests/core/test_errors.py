"""Errors: names, hints, masking, pickling."""

import pickle

import httpx
import pytest

import govmedia as gm
from govmedia._secrets import remember


def test_tree():
    assert issubclass(gm.ConfigError, ValueError)
    for cls in (gm.AuthError, gm.RateLimited, gm.TransientError, gm.ContentRejected, gm.DeliveryUnknown):
        assert issubclass(cls, gm.PlatformError)
        assert issubclass(cls, gm.GovMediaError)


def test_message_names_platform_account_code_and_hint():
    err = gm.RateLimited("api quota reached", platform="wechat_oa", account="gh_sasac", code=45009)
    text = str(err)
    assert "wechat_oa" in text and "gh_sasac" in text and "45009" in text
    assert "api quota reached" in text and "Wait" in text
    assert gm.RateLimited("x", retry_after=5).retry_after == 5
    assert "retry after 5 s" in str(gm.RateLimited("x", platform="p", retry_after=5))


def test_secrets_are_masked_in_messages():
    remember("tok-0123456789abcdef")
    err = gm.AuthError("invalid credential, access_token is tok-0123456789abcdef", platform="wechat_oa")
    assert "tok-0123456789abcdef" not in str(err)
    assert "tok-0123456789abcdef" not in err.message


@pytest.mark.parametrize("cls", [gm.PlatformError, gm.AuthError, gm.RateLimited, gm.TransientError,
                                 gm.ContentRejected, gm.DeliveryUnknown])
def test_errors_pickle_without_response(cls):
    response = httpx.Response(500, request=httpx.Request("GET", "https://x.example"))
    err = cls("boom", platform="mastodon", account="a@b", code=500, response=response)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls
    assert str(back) == str(err)
    assert back.response is None and back.code == 500


def test_validation_error_lists_problems_and_pickles():
    p = gm.Problem(code="too_long", message="text is 612 characters, limit 500", field="text")
    err = gm.ValidationError([p], platform="mastodon", account="a@b")
    assert "too_long" in str(err) and "mastodon" in str(err)
    assert pickle.loads(pickle.dumps(err)).problems == (p,)


def test_flags_and_known_ids_survive_pickling():
    """The distributed executor pickles errors: maybe_applied, quota and known must travel."""
    err = gm.DeliveryUnknown("poll failed", platform="wechat_oa", account="gh_1", code=500,
                             known={"publish_id": "2247483001"})
    back = pickle.loads(pickle.dumps(err))
    assert back.maybe_applied is True and back.known == {"publish_id": "2247483001"}
    quota = pickle.loads(pickle.dumps(gm.RateLimited("daily", platform="p", quota=True, retry_after=None)))
    assert quota.quota is True
    busy = pickle.loads(pickle.dumps(gm.TransientError("5xx", platform="p", maybe_applied=True)))
    assert busy.maybe_applied is True
    assert gm.TransientError("busy", platform="p").maybe_applied is False


def test_evolve_keeps_flags_and_changes_class():
    err = gm.TransientError("HTTP 502", platform="x", account="a", code=502, maybe_applied=True)
    again = err.evolve(cls=gm.DeliveryUnknown, note="the create may have landed", known={"id": "1"})
    assert isinstance(again, gm.DeliveryUnknown) and again.maybe_applied and again.code == 502
    assert again.known == {"id": "1"} and again.__cause__ is err
    assert again.hint == gm.DeliveryUnknown.default_hint
    limited = gm.RateLimited("slow", platform="x", retry_after=3).evolve(note="media 1")
    assert limited.retry_after == 3 and limited.message == "slow; media 1"


def test_config_error_masks_secret_shaped_values():
    err = gm.ConfigError("option base_url 'https://x.example/?access_token=abcdef123456' is bad")
    assert "abcdef123456" not in str(err)


def test_journal_error_names_the_file_and_pickles():
    err = gm.JournalError("database or disk is full", path="/srv/gm.db")
    assert "/srv/gm.db" in str(err) and isinstance(err, gm.GovMediaError)
    assert pickle.loads(pickle.dumps(err)).path == "/srv/gm.db"
