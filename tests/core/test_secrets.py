"""Secret masking in text and in other libraries' log records."""

import logging

from govmedia._secrets import MASK, Credentials, install_log_filters, mask, remember


def test_known_values_and_shapes_are_masked():
    remember("abcdef-known-secret")
    text = ("GET https://api.weixin.qq.com/cgi-bin/draft/add?access_token=ZZZZZZZZ&x=1 "
            "Authorization: Bearer abc.def-ghi abcdef-known-secret "
            "https://api.telegram.org/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage")
    out = mask(text)
    assert "ZZZZZZZZ" not in out and "abc.def-ghi" not in out
    assert "abcdef-known-secret" not in out and "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in out
    assert "access_token=" + MASK in out and "&x=1" in out


def test_short_values_are_not_registered():
    remember("abc")
    assert mask("abc abc") == "abc abc"


def test_httpx_log_records_are_masked(caplog):
    install_log_filters()
    caplog.set_level(logging.INFO)
    logging.getLogger("httpx").info('HTTP Request: %s %s "%s"', "POST",
                                    "https://x.example/p?access_token=tok-abc123456", "HTTP/1.1 200 OK")
    assert "tok-abc123456" not in caplog.text


def test_credentials_mapping():
    creds = Credentials({"app_id": "wx123456", "app_secret": 12345678})
    assert creds["app_secret"] == "12345678"  # coerced to str
    assert dict(creds) == {"app_id": "wx123456", "app_secret": "12345678"}
    assert "12345678" not in repr(creds)
