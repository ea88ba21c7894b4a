"""The model: validation at construction, keys, hashes, masking, pickling."""

import pickle

import attrs
import pytest

import govmedia as gm


def test_empty_post_is_a_config_error_naming_fields():
    with pytest.raises(gm.ConfigError, match="needs some content"):
        gm.Post()
    with pytest.raises(ValueError):  # ConfigError is also a ValueError
        gm.Post(title="  ")


def test_unknown_field_lists_valid_ones():
    with pytest.raises(gm.ConfigError) as info:
        gm.Post(title="t", subtitle="x")
    assert "subtitle" in str(info.value)
    assert "summary" in str(info.value)


def test_wrong_types_name_the_field():
    with pytest.raises(gm.ConfigError, match=r"Post\.title"):
        gm.Post(title=42)
    with pytest.raises(gm.ConfigError, match=r"Post\.body_format"):
        gm.Post(body="x", body_format="rst")
    with pytest.raises(gm.ConfigError, match=r"Post\.media"):
        gm.Post(text="x", media=("cover.jpg",))


def test_key_is_a_stable_content_hash():
    a = gm.Post(title="微招聘", body="正文", tags=("招聘",))
    b = gm.Post(title="微招聘", body="正文", tags=("招聘",))
    c = gm.Post(title="微招聘", body="正文2", tags=("招聘",))
    assert a.key == b.key != c.key
    assert gm.Post(title="t", key="campaign-1").key == "campaign-1"


def test_a_media_variant_gives_one_platform_other_attachments():
    chart = gm.Media.from_bytes(b"\x89PNG\r\n\x1a\n", filename="chart.png")
    clip = gm.Media.from_bytes(b"\x00\x00\x00\x18ftypisom", filename="clip.mp4")
    post = gm.Post(text="中老铁路", media=(chart,))
    video = post.with_variant(platform="kuaishou", media=clip)  # one item or a list
    kuaishou = gm.Channel(platform="kuaishou", account="a")
    assert video.for_channel(kuaishou).media == (clip,)
    assert video.for_channel(gm.Channel(platform="weibo", account="a")).media == (chart,)
    # The variant's bytes are content: another clip is another post.
    other = post.with_variant(platform="kuaishou", media=[
        gm.Media.from_bytes(b"\x00\x00\x00\x18ftypmp42", filename="clip.mp4")])
    assert len({post.key, video.key, other.key}) == 3
    assert video.content_hash != other.content_hash
    with pytest.raises(gm.ConfigError, match=r"Post\.media"):
        post.with_variant(platform="kuaishou", media=["clip.mp4"])


def test_media_from_path_checks_readability(tmp_path):
    with pytest.raises(gm.ConfigError, match="cannot read"):
        gm.Media.from_path(tmp_path / "missing.jpg")
    with pytest.raises(gm.ConfigError, match="directory"):
        gm.Media.from_path(tmp_path)
    f = tmp_path / "chart.png"
    f.write_bytes(b"\x89PNG" + b"0" * 20)
    m = gm.Media.from_path(f, alt="图表")
    assert (m.mime_type, m.size, m.kind, m.alt) == ("image/png", 24, "image", "图表")
    assert m.read().startswith(b"\x89PNG")


def test_media_from_bytes_and_url():
    m = gm.Media.from_bytes(b"data", filename="clip.mp4")
    assert (m.kind, m.size) == ("video", 4)
    assert "4 bytes" in repr(m)
    u = gm.Media.from_url("https://cdn.example/a/photo.jpg?x=1")
    assert (u.filename, u.mime_type) == ("photo.jpg", "image/jpeg")
    with pytest.raises(gm.ConfigError):
        gm.Media.from_url("ftp://x/y.jpg")
    with pytest.raises(gm.ConfigError):
        gm.Media.from_bytes(b"", filename="x.png")


def test_channel_masks_credentials_everywhere():
    ch = gm.Channel(platform="mastodon", account="sasac@social.example",
                    credentials={"access_token": "very-secret-token"},
                    options={"base_url": "https://social.example"})
    for text in (repr(ch), str(ch), repr(ch.credentials), str(ch.credentials)):
        assert "very-secret-token" not in text
    blob = pickle.dumps(ch)
    assert b"very-secret-token" not in blob
    back = pickle.loads(blob)
    assert back == ch  # identity survives, the secret does not
    assert back.credentials["access_token"] == ""


def test_channel_identity_ignores_labels_and_credentials():
    a = gm.Channel(platform="webhook", account="cms", labels=("central",))
    b = gm.Channel(platform="webhook", account="cms", credentials={"secret": "whsec_AAAA"})
    assert a == b and hash(a) == hash(b)
    assert a.id == "webhook:cms"
    with pytest.raises(gm.ConfigError, match=r"Channel\.account"):
        gm.Channel(platform="webhook", account="")


def test_approvals_bind_the_content():
    post = gm.Post(title="央企人事调整", body="正文").approve("张三").approve("李四").approve("张三")
    assert post.valid_approvers == {"张三", "李四"}
    edited = attrs.evolve(post, body="改过的正文")
    assert len(edited.approvals) == 3
    assert edited.valid_approvers == frozenset()
    # the key is not part of the approved content
    assert attrs.evolve(post, key="k2").valid_approvers == {"张三", "李四"}


def test_receipt_and_metrics_pickle():
    ch = gm.Channel(platform="webhook", account="cms", options={"url": "https://x.example"})
    r = gm.Receipt(channel=ch, remote_id="1", url="https://x.example/1", raw={"a": [1]})
    assert pickle.loads(pickle.dumps(r)) == r
    m = gm.Metrics(likes=2)
    assert m.views is None and pickle.loads(pickle.dumps(m)) == m
    with pytest.raises(gm.ConfigError, match="state"):
        gm.Receipt(channel=ch, remote_id="1", state="done")


def test_the_content_hash_of_a_big_file_reads_it_in_pieces(tmp_path):
    """A journal-backed fan-out hashes every media file: a 1 GB video must not land in memory."""
    import tracemalloc

    video = tmp_path / "big.mp4"
    with video.open("wb") as f:  # sparse: costs no disk
        f.write(b"\x00\x00\x00\x18ftypmp42")
        f.truncate(64 * 1024 * 1024)
    post = gm.Post(text="视频", media=(gm.Media.from_path(video),))
    tracemalloc.start()
    try:
        before = post.content_hash
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024
    with video.open("r+b") as f:  # the hash still binds every byte: same path, same size
        f.seek(40 * 1024 * 1024)
        f.write(b"x")
    assert post.content_hash != before
def test_the_content_hash_of_a_file_is_streamed_not_read_whole(tmp_path, monkeypatch):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(3 << 20))
    post = gm.Post(text="视频", media=(gm.Media.from_path(path),))
    first = post.content_hash
    def whole(self):
        raise AssertionError("a video of gigabytes must not be read into memory to hash it")
    monkeypatch.setattr(gm.Media, "read", whole)
    assert post.content_hash == first
    path.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(3 << 20) + b"!")
    assert post.content_hash != first  # approvals still bind the bytes
