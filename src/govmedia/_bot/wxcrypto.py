"""WeChat callback signatures and safe mode (AES-256-CBC), as Tencent's WXBizMsgCrypt does them.

Facts (shared/platforms/wechat_oa.md, "Callback signature & AES"):

- ``signature = sha1("".join(sorted([token, timestamp, nonce])))`` (hex), and in
  safe mode ``msg_signature`` adds ``Encrypt`` to the sorted list;
- key = base64(EncodingAESKey + "="), 32 bytes; IV = key[:16];
- plaintext = 16 random bytes + 4-byte big-endian length + message + appid,
  PKCS#7-padded to a 32-byte block (not AES's 16), then base64.

The AES itself comes from ``cryptography`` (the ``bot`` extra); it is imported
only when a safe-mode channel is set up.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from typing import Any

from govmedia._bot.refusal import Refused
from govmedia.errors import ConfigError

__all__ = ["WeChatCipher", "check_signature", "signature"]

_BLOCK = 32  # WeChat pads to 32 bytes, not to AES's 16
_KEY_SHAPE = re.compile(r"[A-Za-z0-9+/]{43}")


def signature(*parts: str) -> str:
    """WeChat's signature of *parts*: sha1 of their sorted concatenation, in hex.

    Example:
        >>> signature("test", "1410685589", "test")   # Tencent's URL-check vector
        'f21891de399b4e33a1a93c9a7b8a8fffb5a443ff'
    """
    return hashlib.sha1("".join(sorted(parts)).encode(), usedforsecurity=False).hexdigest()


def check_signature(given: str | None, *parts: str) -> None:
    """Refuse (403) unless *given* is the signature of *parts*, compared in constant time.

    Example:
        >>> check_signature("0" * 40, "test", "1410685589", "test")
        Traceback (most recent call last):
        ...
        govmedia._bot.refusal.Refused: bad signature
    """
    if not given or not hmac.compare_digest(given.lower().encode(), signature(*parts).encode()):
        raise Refused(403, "bad signature")


class WeChatCipher:
    """Safe-mode encryption of one app: the channel's ``encoding_aes_key`` and ``app_id``.

    Example:
        >>> cipher = WeChatCipher("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wxb11529c136998cb6")
        >>> cipher.encrypt("我是中文abcd123".encode(), random=b"aaaabbbbccccdddd")[:24]
        'jn1L23DB+6ELqJ+6bruv21Y6'
        >>> cipher.decrypt(cipher.encrypt(b"<xml/>")).decode()
        '<xml/>'
    """

    __slots__ = ("_algorithm", "_app_id", "_iv", "_key", "_modes")

    def __init__(self, encoding_aes_key: str, app_id: str) -> None:
        if not isinstance(encoding_aes_key, str) or not _KEY_SHAPE.fullmatch(encoding_aes_key):
            # Never quote the value: it is a secret.
            raise ConfigError("encoding_aes_key must be the 43 characters WeChat shows "
                              "(设置与开发 → 基本配置 → 消息加解密密钥)")
        self._key = base64.b64decode(encoding_aes_key + "=")
        self._iv = self._key[:16]
        self._app_id = app_id.encode()
        try:
            from cryptography.hazmat.primitives.ciphers import algorithms, modes
        except ImportError:  # pragma: no cover - the extra is installed in tests
            from govmedia._extras import install_hint

            raise ConfigError("WeChat safe mode (encoding_aes_key) needs the cryptography "
                              f"package: {install_hint('cryptography')}") from None
        self._algorithm = algorithms.AES(self._key)
        self._modes = modes

    def _cipher(self) -> Any:
        from cryptography.hazmat.primitives.ciphers import Cipher

        return Cipher(self._algorithm, self._modes.CBC(self._iv))

    def decrypt(self, encrypted: str) -> bytes:
        """The message inside *encrypted* (``Encrypt`` of a callback).

        Raises:
            Refused: 400 for anything that is not a well-formed ciphertext,
                403 when the appid inside is not this channel's.
        """
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(400, "Encrypt is not base64") from None
        if not raw or len(raw) % 16:
            raise Refused(400, "Encrypt is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        plain: bytes = decryptor.update(raw) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= _BLOCK or pad > len(plain) or plain[-pad:] != bytes((pad,)) * pad:
            raise Refused(400, "bad padding in Encrypt")
        body = plain[16:-pad]
        if len(body) < 4:
            raise Refused(400, "Encrypt too short")
        length = int.from_bytes(body[:4], "big")
        if length > len(body) - 4:
            raise Refused(400, "bad length in Encrypt")
        if not hmac.compare_digest(body[4 + length:], self._app_id):
            raise Refused(403, "the ciphertext is for another app")
        return body[4:4 + length]

    def encrypt(self, message: bytes, *, random: bytes | None = None) -> str:
        """*message* encrypted for WeChat, base64 (*random*: the 16-byte prefix, for tests)."""
        prefix = random if random is not None else os.urandom(16)
        body = prefix + len(message).to_bytes(4, "big") + message + self._app_id
        pad = _BLOCK - len(body) % _BLOCK
        encryptor = self._cipher().encryptor()
        data = encryptor.update(body + bytes((pad,)) * pad) + encryptor.finalize()
        return base64.b64encode(data).decode()
