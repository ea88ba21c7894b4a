"""Sample content for demos, docs and tests: a small post with real images (and a clip)."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

from govmedia.model import Media, Post

__all__ = ["CHART_PNG", "CLIP_MP4", "COVER_JPEG", "sample_image", "sample_post", "sample_video"]

#: A 64x36 JPEG (red with a gold bar), under WeChat's 64 KB thumb limit.
COVER_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAA0JCgsKCA0LCgsODg0PEyAVExISEyccHhcgLikxMC4pLSwzOko+MzZG"
    "NywtQFdBRkxOUlNSMj5aYVpQYEpRUk//2wBDAQ4ODhMREyYVFSZPNS01T09PT09PT09PT09PT09PT09PT09PT09P"
    "T09PT09PT09PT09PT09PT09PT09PT09PT0//wAARCAAkAEADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAA"
    "AAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAk"
    "M2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKT"
    "lJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QA"
    "HwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdh"
    "cRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hp"
    "anN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk"
    "5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDAoor02vExmM+rcvu3ufSVavJbQ8yor02iuP8Atf8Aufj/AMAy"
    "+s+R5lRXptFH9r/3Px/4AfWfI8yor02vO9T/AOQpd/8AXd//AEI114TG/WJNctreZrTq87tYrV6bXmVdh/wlVh/z"
    "xuf++V/xrDM6NSry8iva/wChFeLlaxu0Vhf8JVYf88bn/vlf8aP+EqsP+eNz/wB8r/jXlfUq/wDKzn9lPsbtFYX/"
    "AAlVh/zxuf8Avlf8aP8AhKrD/njc/wDfK/40fUq/8rD2U+xu153qf/IUu/8Aru//AKEa6f8A4Sqw/wCeNz/3yv8A"
    "jXK3kqz3s8yAhZJGYA9cE5r08toVKU5Oasb0ISi3dENFFFeudIUUUUAFFFFABRRRQB//2Q=="
)

#: A 64x36 PNG of the same picture.
CHART_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAEAAAAAkCAIAAAC2bqvFAAAAVUlEQVR42u3YsQ3AIAwAQYyYxOtELJuIdTJLqpRU"
    "FAnSfevGJ7lynJll52rZPAAAAIBva7NBH/ffdr2OdEIAAAAAAAAAAAAAAAAAAG/huQsAAACw0gObjgU1mSpEBgAA"
    "AABJRU5ErkJggg=="
)


#: An MP4 as the fakes see it: an ``ftyp`` box and a small ``mdat`` box. Not
#: playable (no ``moov``), which no fake checks.
CLIP_MP4 = (struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 512) + b"isommp41"
            + struct.pack(">I", 8 + 2048) + b"mdat" + bytes(range(256)) * 8)


def sample_post(key: str | None = None) -> Post:
    """A 一带一路看国企 column post with a cover and one chart.

    Platforms that publish video only (``capabilities.media_kinds ==
    ("video",)``) get a variant whose media is `CLIP_MP4`, and those that
    cannot show images in a body (``capabilities.body_images`` false) one
    whose body has none, so that one sample post goes to every platform.

    Example:
        >>> from govmedia.testing.samples import sample_post
        >>> sample_post().title
        '一带一路看国企：中老铁路开通一周年'
    """
    post = Post(
        title="一带一路看国企：中老铁路开通一周年",
        body=(
            "# 中老铁路开通一周年\n\n"
            "一年来，中老铁路累计发送旅客 **850 万人次**，货物 1120 万吨。\n\n"
            "![客货运量](chart.png)\n\n"
            "- 国际旅客列车实现昆明至万象当日通达\n"
            "- 跨境货物品类扩展到 2000 多种\n\n"
            "[阅读全文](https://example.org/a/2023-12-03)"
        ),
        text="一带一路看国企：中老铁路开通一周年，累计发送旅客850万人次 https://example.org/a/2023-12-03",
        summary="中老铁路开通一年，客货两旺。",
        tags=("一带一路看国企",),
        link="https://example.org/a/2023-12-03",
        cover=Media.from_bytes(COVER_JPEG, filename="cover.jpg", alt="中老铁路列车"),
        media=(Media.from_bytes(CHART_PNG, filename="chart.png", alt="客货运量柱状图"),),
    )
    clip = Media.from_bytes(CLIP_MP4, filename="clip.mp4", alt="中老铁路列车驶过")
    for name in _video_only_platforms():
        post = post.with_variant(platform=name, media=(clip,))
    plain = (post.body or "").replace("![客货运量](chart.png)\n\n", "")
    for name in _platforms_where(lambda caps: caps.body_images is False):
        post = post.with_variant(platform=name, body=plain)
    if key is not None:
        import attrs

        post = attrs.evolve(post, key=key)
    return post


def sample_image(width: int = 1146, height: int = 717) -> bytes:
    """A PNG of one colour, *width* x *height* (a cover for video platforms: 1146x717).

    Example:
        >>> from govmedia.testing.samples import sample_image
        >>> from govmedia._imagesize import image_size
        >>> image_size(sample_image(960, 600))
        (960, 600)
    """
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\xc8\x10\x2e" * width  # filter byte, then red pixels
    pixels = zlib.compress(row * height, 9)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def sample_video(seconds: float = 10.0, *, width: int = 1920, height: int = 1080,
                 size: int = 64 * 1024) -> bytes:
    """An MP4 whose headers say *seconds* long and *width* x *height*, *size* bytes in all.

    Only the headers are real (``ftyp``, ``moov`` with ``mvhd`` and a
    track's ``tkhd``); the media data is zeros. Enough for a fake and for
    the checks that read headers; no player will show it.

    Example:
        >>> from govmedia._mediainfo import video_info
        >>> import govmedia as gm
        >>> info = video_info(gm.Media.from_bytes(sample_video(90.0), filename="v.mp4"))
        >>> info.container, info.duration, (info.width, info.height)
        ('mp4', 90.0, (1920, 1080))
    """
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
    mvhd = _box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, 1000, round(seconds * 1000)) + bytes(80))
    tkhd = _box(b"tkhd", bytes(4) + bytes(72) + struct.pack(">II", width << 16, height << 16))
    moov = _box(b"moov", mvhd + _box(b"trak", tkhd))
    head = ftyp + moov
    padding = max(0, size - len(head) - 8)
    return head + _box(b"mdat", bytes(padding))


def _video_only_platforms() -> list[str]:
    return _platforms_where(lambda caps: tuple(caps.media_kinds) == ("video",))


def _platforms_where(test: Any) -> list[str]:
    from govmedia.errors import ConfigError
    from govmedia.platforms import registry

    names = []
    for name in registry.available():
        try:
            caps = registry.get(name).capabilities
            if test(caps):
                names.append(name)
        except (ConfigError, AttributeError):
            continue  # a plugin that fails to load, or declares no capabilities
    return names
