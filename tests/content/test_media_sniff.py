"""Media bytes are sniffed, never trusted by name: at check, at read, after a fetch."""

import os
import threading

import pytest

import govmedia as gm
from govmedia._sniff import HEAD_SIZE, image_type, sniff
from govmedia.content.media import media_problems, read_bytes, verify_bytes
from govmedia.testing import Sandbox
from govmedia.testing.samples import CHART_PNG, COVER_JPEG

BMP = b"BM" + (70).to_bytes(4, "little") + bytes(4) + (54).to_bytes(4, "little") + \
    (40).to_bytes(4, "little") + bytes(40)


def box(brand):
    return (24).to_bytes(4, "big") + b"ftyp" + brand + bytes(12)


SIGNATURES = [
    # (first bytes, format, MIME type, kinds)
    (COVER_JPEG, "jpeg", "image/jpeg", {"image"}),
    (CHART_PNG, "png", "image/png", {"image"}),
    (b"GIF89a\x01\x00\x01\x00", "gif", "image/gif", {"image"}),
    (BMP, "bmp", "image/bmp", {"image"}),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "webp", "image/webp", {"image"}),
    (box(b"heic"), "heic", "image/heic", {"image"}),
    (box(b"isom"), "mp4", "video/mp4", {"video", "audio"}),
    (box(b"mp42"), "mp4", "video/mp4", {"video", "audio"}),
    (box(b"qt  "), "mov", "video/quicktime", {"video", "audio"}),
    ((8).to_bytes(4, "big") + b"wide" + bytes(8), "mov", "video/quicktime", {"video", "audio"}),
    (box(b"M4A "), "m4a", "audio/mp4", {"audio"}),
    (b"\x1aE\xdf\xa3\x9fB\x86\x81\x01B\x82\x84webm", "webm", "video/webm", {"video", "audio"}),
    (b"\x1aE\xdf\xa3\xa3B\x86\x81\x01B\x82\x88matroska", "mkv", "video/x-matroska",
     {"video", "audio"}),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00", "mp3", "audio/mpeg", {"audio"}),
    (b"\xff\xfb\x90\x64\x00\x00", "mp3", "audio/mpeg", {"audio"}),
    (b"\xff\xf1\x50\x80\x02\x1f\xfc", "aac", "audio/aac", {"audio"}),
    (b"OggS\x00\x02" + bytes(22) + b"\x01vorbis", "ogg", "audio/ogg", {"audio"}),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav", "audio/wav", {"audio"}),
    (b"#!AMR\n\x3c", "amr", "audio/amr", {"audio"}),
    (b"fLaC\x00\x00\x00\x22", "flac", "audio/flac", {"audio"}),
    (b"%PDF-1.7\n", "pdf", "application/pdf", {"file"}),
]


@pytest.mark.parametrize(("head", "fmt", "mime", "kinds"), SIGNATURES,
                         ids=[f"{s[1]}-{i}" for i, s in enumerate(SIGNATURES)])
def test_each_format_is_told_by_its_first_bytes(head, fmt, mime, kinds):
    found = sniff(head[:HEAD_SIZE])
    assert (found.format, found.mime_type, set(found.kinds)) == (fmt, mime, kinds)


@pytest.mark.parametrize("head", [
    b"root:x:0:0:root:/root:/bin/bash\n",
    b"<html><body>Sign in</body></html>",
    b'{"Code":"Success","AccessKeyId":"ASIA..."}',
    b"BMW annual report 2024",          # "BM" but no bitmap header
    b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    b"",
    bytes(64),
])
def test_text_and_unknown_bytes_are_no_format(head):
    assert sniff(head) is None
    assert image_type(head) is None


def test_image_type_keeps_its_answers_for_the_wechat_checks():
    assert [image_type(h) for h in (COVER_JPEG, CHART_PNG, BMP, b"GIF87a..")] == \
        ["jpeg", "png", "bmp", "gif"]
    assert image_type(box(b"isom")) is None  # a video is no image


# --------------------------------------------------------------------------- from_path


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "chart.png"
    os.mkfifo(fifo)
    outcome = []

    def attach():
        try:
            gm.Media.from_path(fifo)
        except gm.ConfigError as exc:
            outcome.append(str(exc))

    worker = threading.Thread(target=attach, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "from_path blocked on a FIFO"
    assert outcome and "is a FIFO (named pipe), not a regular file" in outcome[0]


@pytest.mark.parametrize(("path", "what"), [("/dev/zero", "a character device"),
                                            ("/tmp", "a directory")])
def test_devices_and_directories_are_refused(path, what):
    with pytest.raises(gm.ConfigError, match=f"is {what}, not a regular file"):
        gm.Media.from_path(path)


def test_a_symlink_to_a_system_file_is_attached_but_refused_by_check(tmp_path):
    chart = tmp_path / "chart.png"
    chart.symlink_to("/etc/passwd")
    media = gm.Media.from_path(chart)          # cheap: the name says image/png
    assert media.mime_type == "image/png"
    sandbox = Sandbox(platforms=["mastodon", "webhook"])
    post = gm.Post(text="外贸数据", media=(media,))
    with gm.Client(http=sandbox.client()) as client:
        for ch in (sandbox.channel("mastodon", "m"), sandbox.channel("webhook", "w")):
            problems = client.check(post, ch)
            assert [(p.code, p.field) for p in problems] == [("bad_media", "media")]
            assert "chart.png" in problems[0].message
            with pytest.raises(gm.ValidationError):
                client.publish(post, ch)
    assert sandbox["mastodon"].media == {}      # nothing was uploaded


def test_a_name_without_extension_takes_its_type_from_the_bytes(tmp_path):
    photo = tmp_path / "IMG_0001"
    photo.write_bytes(COVER_JPEG)
    assert gm.Media.from_path(photo).mime_type == "image/jpeg"


def test_a_png_named_jpg_is_accepted_and_uploaded_as_png(tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(CHART_PNG)
    sandbox = Sandbox(platforms=["mastodon"])
    post = gm.Post(text="图", media=(gm.Media.from_path(photo),))
    with gm.Client(http=sandbox.client()) as client:
        ch = sandbox.channel("mastodon", "m")
        assert client.check(post, ch) == []
        client.publish(post, ch)
    (uploaded,) = sandbox["mastodon"].media.values()
    assert uploaded.mime_type == "image/png"


def test_a_file_swapped_after_check_is_refused_when_read_for_upload(tmp_path):
    chart = tmp_path / "chart.png"
    chart.write_bytes(CHART_PNG)
    sandbox = Sandbox(platforms=["mastodon"])
    post = gm.Post(text="图表", media=(gm.Media.from_path(chart),))
    with gm.Client(http=sandbox.client()) as client:
        ch = sandbox.channel("mastodon", "m")
        assert client.check(post, ch) == []
        platform = gm.platforms.get("mastodon")()
        flow = platform.publish(post, ch, "k")
        chart.unlink()
        chart.symlink_to("/etc/passwd")        # swapped between the check and the upload
        with pytest.raises(gm.ValidationError) as info:
            next(flow)
    assert info.value.problems[0].code == "bad_media"
    assert "media 1 (chart.png)" in info.value.problems[0].message


def test_a_path_swapped_for_a_fifo_is_refused_at_read(tmp_path):
    chart = tmp_path / "chart.png"
    chart.write_bytes(CHART_PNG)
    media = gm.Media.from_path(chart)
    chart.unlink()
    os.mkfifo(chart)
    with pytest.raises(gm.ConfigError, match="FIFO"):
        media.read()
    assert [p.code for p in media_problems(gm.Post(text="x", media=(media,)))] == ["bad_media"]


def test_read_bytes_stops_one_byte_past_the_limit(tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(CHART_PNG + bytes(10_000))
    assert len(read_bytes(gm.Media.from_path(big), limit=100)) == 101


def test_media_problems_reads_the_file_as_it_is_now(tmp_path):
    chart = tmp_path / "chart.png"
    chart.write_bytes(CHART_PNG)
    post = gm.Post(text="x", cover=gm.Media.from_path(chart))
    assert media_problems(post) == []
    chart.write_bytes(b"<html>not a picture</html>")
    (problem,) = media_problems(post)
    assert (problem.code, problem.field) == ("bad_media", "cover")
    assert problem.message.startswith("cover (chart.png) is declared image/png")
    chart.unlink()
    assert "cannot read" in media_problems(post)[0].message


@pytest.mark.parametrize(("mime", "data", "ok"), [
    ("image/jpeg", CHART_PNG, True),              # another image format: same kind
    ("video/mp4", box(b"isom"), True),
    ("audio/mp4", box(b"isom"), True),            # an mp4 container may hold sound only
    ("audio/webm", b"\x1aE\xdf\xa3\x9fB\x82\x84webm", True),
    ("audio/mpeg", box(b"isom"), True),
    ("image/png", box(b"isom"), False),           # a video named .png
    ("video/mp4", CHART_PNG, False),
    ("application/octet-stream", b"anything at all", True),   # a plain file promises nothing
    ("application/pdf", b"%PDF-1.4", True),
    ("application/pdf", b"<html>", False),
])
def test_declared_kind_against_bytes(mime, data, ok):
    media = gm.Media.from_bytes(data, filename="f", mime_type=mime)
    assert (media_problems(gm.Post(text="x", media=(media,))) == []) is ok


# --------------------------------------------------------------------------- URL media


@pytest.mark.parametrize(("url", "name", "mime"), [
    ("http://10.0.0.5/latest/meta-data#.png", "meta-data", "application/octet-stream"),
    ("https://cdn.example/get?file=x.png", "get", "application/octet-stream"),
    ("https://cdn.example/a/chart.png?w=640#top", "chart.png", "image/png"),
    ("https://cdn.example/", "media", "application/octet-stream"),
    ("https://cdn.example/a%2Fb.jpg", "a_b.jpg", "image/jpeg"),
])
def test_url_media_are_named_by_the_path_only(url, name, mime):
    media = gm.Media.from_url(url)
    assert (media.filename, media.mime_type) == (name, mime)


def test_fetched_bytes_are_sniffed_before_upload_on_mastodon():
    sandbox = Sandbox(platforms=["mastodon"])
    served = {"https://cdn.example/chart.png": b"<html>Log in to continue</html>"}
    ch = sandbox.channel("mastodon", "m")
    post = gm.Post(text="x", media=(gm.Media.from_url("https://cdn.example/chart.png"),))
    with gm.Client(http=_with_cdn(sandbox, served)) as client, \
            pytest.raises(gm.ValidationError) as info:
        client.publish(post, ch)
    assert info.value.problems[0].code == "bad_media"
    assert sandbox["mastodon"].media == {}


def test_fetched_bytes_are_sniffed_before_upload_on_wechat():
    sandbox = Sandbox(platforms=["wechat_oa"])
    served = {"https://cdn.example/cover.jpg": b'{"AccessKeyId": "ASIA0000"}'}
    ch = sandbox.channel("wechat_oa", "gh_sasac")
    post = gm.Post(title="标题", body="正文",
                   cover=gm.Media.from_url("https://cdn.example/cover.jpg"))
    with gm.Client(http=_with_cdn(sandbox, served)) as client, \
            pytest.raises(gm.ValidationError) as info:
        client.publish(post, ch)
    assert info.value.problems[0].field == "cover"
    assert sandbox["wechat_oa"].materials == {}


def test_verify_bytes_names_the_type_to_upload():
    jpg = gm.Media.from_url("https://cdn.example/p.jpg")
    assert verify_bytes(jpg, CHART_PNG, platform="x", account="a").mime_type == "image/png"
    assert verify_bytes(jpg, COVER_JPEG, platform="x", account="a").mime_type == "image/jpeg"
    plain = gm.Media.from_url("https://cdn.example/data.bin")
    assert verify_bytes(plain, b"anything", platform="x", account="a") is None


def _with_cdn(sandbox, served):
    import httpx

    def handler(request):
        if request.url.host == "cdn.example":
            return httpx.Response(200, content=served[str(request.url)])
        return sandbox(request)

    return httpx.Client(transport=httpx.MockTransport(handler))




def test_a_pdf_named_jpg_as_a_wechat_cover_is_called_a_pdf(tmp_path):
    """Issue 14, item 12: it was "is image/jpeg; WeChat takes bmp/png/jpg/gif"."""
    cover = tmp_path / "cover.jpg"
    cover.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    sandbox = Sandbox(platforms=["wechat_oa"])
    post = gm.Post(title="通知", body="正文", cover=gm.Media.from_path(cover))
    with gm.Client(http=sandbox.client(), journal=False) as client:
        (problem,) = client.check(post, sandbox.channel("wechat_oa"))
        with pytest.raises(gm.ValidationError, match="is a PDF document, not an image"):
            client.publish(post, sandbox.channel("wechat_oa"))
    assert problem.message == "cover (cover.jpg) is a PDF document, not an image (it is declared image/jpeg)"


def test_a_pdf_fetched_as_a_cover_is_called_a_pdf():
    m = gm.Media.from_url("https://cdn.example/cover.jpg")
    with pytest.raises(gm.ValidationError, match=r"cover\.jpg is a PDF document, not an image"):
        verify_bytes(m, b"%PDF-1.7\n", platform="wechat_oa", account="gh_a", field="cover")


def test_every_sniffed_format_has_words():
    from govmedia._sniff import _DESCRIPTIONS

    for head, fmt, *_ in SIGNATURES:
        assert sniff(head).description == _DESCRIPTIONS[fmt]
