"""What users build and get back: posts, media, channels, receipts, metrics.

All model classes are frozen attrs classes with keyword-only fields. Bad values
raise `ConfigError` (also a `ValueError`) naming the field, at construction.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import mimetypes
import os
import pathlib
import stat
from collections.abc import Callable, Iterable, Mapping
from typing import Any, BinaryIO, ClassVar, Literal, TypeVar
from urllib.parse import unquote, urlsplit

import attrs

from govmedia._frozen import FrozenMap
from govmedia._secrets import Credentials, harvest, mask, mask_data
from govmedia._sniff import HEAD_SIZE, kind_of, sniff
from govmedia.errors import ConfigError, GovMediaError

__all__ = [
    "Approval",
    "Channel",
    "Delivery",
    "DeliveryState",
    "Media",
    "Metrics",
    "Post",
    "Problem",
    "Receipt",
    "ReceiptState",
    "UploadProgress",
    "Variant",
]

BodyFormat = Literal["markdown", "html", "text"]
ReceiptState = Literal["published", "draft", "pending", "scheduled"]
DeliveryState = Literal["published", "skipped", "failed", "unknown", "invalid", "pending",
                        "deleted", "unsupported"]
_BODY_FORMATS = ("markdown", "html", "text")
_RECEIPT_STATES = ("published", "draft", "pending", "scheduled")
_DELIVERY_STATES = ("published", "skipped", "failed", "unknown", "invalid", "pending",
                    "deleted", "unsupported")


_FIELD_NAMES: dict[type, frozenset[str]] = {}
_C = TypeVar("_C", bound=type)


def _masked_repr(cls: _C) -> _C:
    """Mask secrets in the repr attrs wrote for *cls* (options, URLs, raw answers, errors)."""
    plain: Callable[[Any], str] = cls.__repr__  # type: ignore[assignment]

    def __repr__(self: Any) -> str:  # noqa: N807 - it is the dunder
        return mask(plain(self))

    __repr__.__qualname__ = f"{cls.__qualname__}.__repr__"
    cls.__repr__ = __repr__  # type: ignore[assignment]
    return cls


def _rebuild(cls: type[Any], fields: dict[str, Any]) -> Any:
    return cls(**fields)


def _deepcopy(obj: Any, memo: dict[int, Any]) -> Any:
    # copy.deepcopy would go through __reduce__, which masks: a copy keeps
    # the real values.
    return type(obj)(**{str(a.alias): copy.deepcopy(getattr(obj, a.name), memo)
                        for a in attrs.fields(type(obj))})


class _Strict:
    """Turn an unknown keyword into a `ConfigError` that lists the valid ones."""

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # noqa: ARG004 - checked, then attrs inits
        names = _FIELD_NAMES.get(cls)
        if names is None:
            names = _FIELD_NAMES[cls] = frozenset(a.alias for a in attrs.fields(cls))  # type: ignore[arg-type]
        if not names.issuperset(kwargs):
            unknown = sorted(set(kwargs) - names)
            raise ConfigError(
                f"{cls.__name__}() got unknown field(s) {', '.join(unknown)}; "
                f"valid fields: {', '.join(sorted(names))}"
            )
        return super().__new__(cls)


def _fail(cls: str, field: str, why: str) -> ConfigError:
    return ConfigError(f"{cls}.{field}: {why}")


def _str_or_none(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise _fail(type(inst).__name__, attribute.name, f"must be a string, got {type(value).__name__}")


def _non_empty_str(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise _fail(type(inst).__name__, attribute.name, "must be a non-empty string")


def _one_of(choices: tuple[str, ...]) -> Any:
    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            raise _fail(
                type(inst).__name__, attribute.name, f"must be one of {', '.join(choices)}; got {value!r}"
            )

    return check


def _tuple_of_str(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Iterable) or isinstance(value, Mapping | bytes):
        raise ConfigError(f"expected a string or a list of strings, got {type(value).__name__}")
    items = tuple(value)
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"expected strings, got {type(item).__name__} {item!r:.40}")
    return items


def _tags(value: Any) -> tuple[str, ...]:
    try:
        return _tuple_of_str(value)
    except ConfigError as exc:
        raise _fail("Post", "tags", str(exc)) from None


def _labels(value: Any) -> tuple[str, ...]:
    try:
        return _tuple_of_str(value)
    except ConfigError as exc:
        raise _fail("Channel", "labels", str(exc)) from None


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if isinstance(value, FrozenMap):
        return value
    if value is not None and not isinstance(value, Mapping):
        raise ConfigError(f"expected a mapping, got {type(value).__name__}")
    return FrozenMap(value)


# --------------------------------------------------------------------------- media


_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
# Non-blocking so that opening a FIFO never waits for a writer; a regular file
# reads the same either way.
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
               | getattr(os, "O_BINARY", 0))


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open *path* for reading if it is a regular file (symlinks followed), else `ConfigError`.

    The type is checked on the open file, so a file swapped for a FIFO or a
    device between a check and the read is refused too; nothing blocks.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = getattr(exc, "strerror", None) or exc
        raise _fail("Media", "path", f"cannot read {str(path)!r}: {reason}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = next((name for test, name in _NOT_REGULAR if test(mode)), "not a file")
        raise _fail("Media", "path", f"{str(path)!r} is {what}, not a regular file")
    return os.fdopen(fd, "rb")


def _url_filename(url: str) -> str:
    # Only the path names the file: a query or a "#.png" fragment says nothing
    # about what the server will send.
    try:
        path = urlsplit(url).path
    except ValueError as exc:
        raise _fail("Media", "url", f"is not a valid URL: {exc}") from None
    name = unquote(path.rsplit("/", 1)[-1])
    name = "".join("_" if ch in "/\\" or not ch.isprintable() else ch for ch in name).strip()
    return name if name.strip(".") else "media"


@_masked_repr
@attrs.frozen(kw_only=True)
class Media(_Strict):
    r"""An image, video or other file attached to a post.

    Build one with `Media.from_path`, `Media.from_bytes` or `Media.from_url`.

    Example:
        >>> import govmedia as gm
        >>> m = gm.Media.from_bytes(b"\x89PNG...", filename="chart.png", alt="Trade chart")
        >>> (m.kind, m.mime_type, m.size)
        ('image', 'image/png', 7)
    """

    mime_type: str = attrs.field(validator=_non_empty_str)
    filename: str = attrs.field(validator=_non_empty_str)
    size: int | None = None
    path: str | None = attrs.field(default=None, validator=_str_or_none)
    data: bytes | None = attrs.field(default=None, repr=lambda d: f"<{len(d)} bytes>" if d else "None")
    url: str | None = attrs.field(default=None, validator=_str_or_none)
    alt: str | None = attrs.field(default=None, validator=_str_or_none)

    def __attrs_post_init__(self) -> None:
        sources = [s for s in (self.path, self.data, self.url) if s is not None]
        if len(sources) != 1:
            raise _fail("Media", "path/data/url", "exactly one source is required")

    @property
    def kind(self) -> str:
        """``"image"``, ``"video"``, ``"audio"`` or ``"file"``, from the MIME type."""
        return kind_of(self.mime_type)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, alt: str | None = None,
                  mime_type: str | None = None) -> Media:
        """Attach a local file; it must be a regular file (not a FIFO, device or directory).

        The MIME type comes from *mime_type*, else the name, else the first
        bytes. Whether the bytes are what the name says is judged by
        ``client.check`` (problem ``bad_media``) and again when the bytes are
        read for upload.

        Example:
            >>> import govmedia as gm
            >>> gm.Media.from_path("/no/such/cover.jpg")
            Traceback (most recent call last):
            ...
            govmedia.errors.ConfigError: Media.path: cannot read '/no/such/cover.jpg': ...
        """
        if not isinstance(path, str | os.PathLike):
            raise _fail("Media", "path", f"must be a path, got {type(path).__name__}")
        p = pathlib.Path(path)
        with open_regular(p) as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(HEAD_SIZE)
        found = sniff(head)
        mime = (mime_type or mimetypes.guess_type(p.name)[0]
                or (found.mime_type if found else "application/octet-stream"))
        return cls(mime_type=mime, filename=p.name, size=size, path=str(p), alt=alt)

    @classmethod
    def from_bytes(cls, data: bytes, *, filename: str, mime_type: str | None = None,
                   alt: str | None = None) -> Media:
        """Attach bytes held in memory, named *filename*."""
        if not isinstance(data, (bytes, bytearray, memoryview)) or not data:
            raise _fail("Media", "data", "must be non-empty bytes")
        mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return cls(mime_type=mime, filename=filename, size=len(data), data=bytes(data), alt=alt)

    @classmethod
    def from_url(cls, url: str, *, alt: str | None = None, mime_type: str | None = None,
                 size: int | None = None) -> Media:
        """Refer to a file on the web; platforms that need bytes fetch it at publish time.

        The file name and MIME type come from the URL's path only: neither
        the query nor the fragment can make a URL look like an image. The
        fetched bytes are sniffed before they are uploaded anywhere. A
        link-local or cloud metadata address (``169.254.169.254``,
        ``metadata.google.internal``, ...) is refused here: govmedia never
        fetches from one.

        Example:
            >>> import govmedia as gm
            >>> gm.Media.from_url("https://cdn.example/img/%E5%9B%BE.png?w=640").filename
            '图.png'
            >>> gm.Media.from_url("http://169.254.169.254/latest/meta-data/#.png")
            Traceback (most recent call last):
            ...
            govmedia.errors.ConfigError: Media.url: refused: 169.254.169.254 is the cloud instance ...
        """
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _fail("Media", "url", f"must be an http(s) URL, got {url!r}")
        import httpx

        from govmedia._http import parse_url
        from govmedia._netguard import BlockedAddress, check_host

        try:
            check_host(parse_url(url).host)
        except httpx.InvalidURL as exc:
            raise _fail("Media", "url", f"not a valid URL: {exc}") from None
        except BlockedAddress as exc:
            raise _fail("Media", "url", f"refused: {exc.address} is {exc.reason}") from None
        name = _url_filename(url)
        mime = mime_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        return cls(mime_type=mime, filename=name, size=size, url=url, alt=alt)

    def read(self) -> bytes:
        """Return the bytes of a path or in-memory media (URL media: ``ConfigError``)."""
        if self.data is not None:
            return self.data
        if self.path is not None:
            with open_regular(self.path) as f:
                return f.read()
        raise _fail("Media", "url", "URL media has no local bytes; fetch it first")

    def _identity(self, *, alt: bool) -> dict[str, Any]:
        ident: dict[str, Any] = {"mime": self.mime_type}
        if self.data is not None:
            ident["sha256"] = hashlib.sha256(self.data).hexdigest()
        elif self.path is not None:
            ident.update(path=self.path, size=self.size)
            if alt:  # approvals bind the bytes themselves
                ident["sha256"] = _file_sha256(self.path)
        else:
            ident["url"] = self.url
        if alt:
            ident["alt"] = self.alt
        return ident


def _file_sha256(path: str) -> str:
    """SHA-256 of a file read in pieces: a video of gigabytes is never in memory."""
    try:
        with pathlib.Path(path).open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as exc:
        raise _fail("Media", "path", f"cannot read {path!r}: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------- post


def _media_item(value: Any, field: str) -> Any:
    # A converter, not a validator: the default key hashes media during init.
    if value is not None and not isinstance(value, Media):
        raise _fail("Post", field, f"must be a gm.Media, got {type(value).__name__}")
    return value


def _cover(value: Any) -> Media | None:
    item: Media | None = _media_item(value, "cover")
    return item


def _media_tuple(value: Any) -> tuple[Media, ...]:
    if isinstance(value, Media):
        value = (value,)
    items = tuple(value or ())
    for item in items:
        _media_item(item, "media")
    return items


def _approvals(value: Iterable[Approval]) -> tuple[Approval, ...]:
    return tuple(value)


def _variants(value: Iterable[Variant]) -> tuple[Variant, ...]:
    return tuple(value)


def _problems(value: Iterable[Problem]) -> tuple[Problem, ...]:
    return tuple(value)


def _digest(payload: Mapping[str, Any]) -> str:
    # default=repr: a field of the wrong type (a TOML date as title, say) must
    # reach its validator's ConfigError, not fail here; valid posts never use it.
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=repr)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _evolve(post: Post, changes: dict[str, Any]) -> Post:
    if changes.get("key") is attrs.NOTHING:
        del changes["key"]
        fields: dict[str, Any] = {
            str(a.alias): getattr(post, a.name) for a in attrs.fields(Post) if a.name != "key"
        }
        fields.update(changes)
        return Post(**fields)
    return attrs.evolve(post, **changes)


def _variant_value(value: Any, *, alt: bool) -> Any:
    """A variant's field as the content hash sees it (media by their identity)."""
    if isinstance(value, Media):
        return value._identity(alt=alt)  # noqa: SLF001
    if isinstance(value, tuple):
        return [v._identity(alt=alt) if isinstance(v, Media) else v for v in value]  # noqa: SLF001
    return value


def _post_key(post: Post) -> str:
    return _digest(post._content(alt=False))[:32]  # noqa: SLF001


@attrs.frozen(kw_only=True)
class Approval(_Strict):
    """A reviewer's approval of one exact content of a post.

    Example:
        >>> import govmedia as gm
        >>> post = gm.Post(title="微招聘", body="正文").approve("张三")
        >>> post.approvals[0].approver, post.approvals[0].content_hash == post.content_hash
        ('张三', True)
    """

    approver: str = attrs.field(validator=_non_empty_str)
    content_hash: str = attrs.field(validator=_non_empty_str)
    at: dt.datetime = attrs.field(factory=lambda: dt.datetime.now(dt.UTC))


_VARIANT_FIELDS = ("title", "text", "body", "summary", "tags", "link", "cover", "media")


@_masked_repr
@attrs.frozen(kw_only=True)
class Variant(_Strict):
    """Field overrides of a post for one platform or one label of channels.

    Build them with `Post.with_variant`; a channel gets its platform's variant
    first, then those of its labels in the order the channel lists them.

    Example:
        >>> import govmedia as gm
        >>> post = gm.Post(text="央企招聘季开始了")
        >>> post = post.with_variant(platform="weibo", text="#微招聘# 央企招聘季开始了")
        >>> post.variants[0].platform
        'weibo'
    """

    platform: str | None = attrs.field(default=None, validator=_str_or_none)
    label: str | None = attrs.field(default=None, validator=_str_or_none)
    fields: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)

    def __attrs_post_init__(self) -> None:
        if (self.platform is None) == (self.label is None):
            raise _fail("Variant", "platform/label", "give exactly one of platform or label")
        bad = sorted(set(self.fields) - set(_VARIANT_FIELDS))
        if bad:
            raise _fail("Variant", "fields", f"cannot override {', '.join(bad)}; "
                        f"overridable: {', '.join(_VARIANT_FIELDS)}")

    def applies_to(self, channel: Channel) -> bool:
        """True when this variant is for *channel*'s platform or one of its labels."""
        if self.platform is not None:
            return self.platform == channel.platform
        return self.label in channel.labels


@_masked_repr
@attrs.frozen(kw_only=True)
class Post(_Strict):
    r"""One piece of content, written once, adapted for every platform.

    Microblogs and chats send `text` (else `title`, `summary` and `link`);
    article platforms send `title`, `body`, `summary` and `cover`; video
    platforms send the first video of `media` with `title` and `text`.

    `key` is the idempotency key: by default a hash of the content fields, so
    the same post run twice is recognised as the same post.

    Example:
        >>> import govmedia as gm
        >>> post = gm.Post(title="一带一路看国企", body="# 标题\n\n正文……",
        ...                text="一带一路看国企 https://example.org/a/1", tags=("一带一路看国企",))
        >>> len(post.key)
        32
    """

    title: str | None = attrs.field(default=None, validator=_str_or_none)
    body: str | None = attrs.field(default=None, validator=_str_or_none)
    body_format: BodyFormat = attrs.field(default="markdown", validator=_one_of(_BODY_FORMATS))
    text: str | None = attrs.field(default=None, validator=_str_or_none)
    summary: str | None = attrs.field(default=None, validator=_str_or_none)
    tags: tuple[str, ...] = attrs.field(default=(), converter=_tags)
    link: str | None = attrs.field(default=None, validator=_str_or_none)
    cover: Media | None = attrs.field(default=None, converter=_cover)
    media: tuple[Media, ...] = attrs.field(default=(), converter=_media_tuple)
    # Declared before `key`: the default key hashes the variants too.
    variants: tuple[Variant, ...] = attrs.field(default=(), converter=_variants)
    key: str = attrs.field(
        default=attrs.Factory(_post_key, takes_self=True), validator=_non_empty_str
    )
    approvals: tuple[Approval, ...] = attrs.field(default=(), converter=_approvals)

    def __attrs_post_init__(self) -> None:
        if not any(
            (s or "").strip() for s in (self.title, self.body, self.text, self.summary)
        ) and not self.media:
            raise _fail("Post", "title/body/text/media", "a post needs some content")
        for tag in self.tags:
            if not isinstance(tag, str) or not tag.strip():
                raise _fail("Post", "tags", f"each tag must be a non-empty string, got {tag!r}")

    def _content(self, *, alt: bool) -> dict[str, Any]:
        return {
            "title": self.title, "body": self.body, "format": self.body_format,
            "text": self.text, "summary": self.summary, "tags": list(self.tags),
            "link": self.link,
            "cover": self.cover._identity(alt=alt) if self.cover else None,  # noqa: SLF001
            "media": [m._identity(alt=alt) for m in self.media],  # noqa: SLF001
            "variants": [
                {"platform": v.platform, "label": v.label,
                 **{k: _variant_value(val, alt=alt) for k, val in sorted(v.fields.items())}}
                for v in self.variants
            ],
        }

    @property
    def content_hash(self) -> str:
        """SHA-256 of the content (media bytes and alt texts included), not the key."""
        return _digest(self._content(alt=True))

    def approve(self, approver: str, *, at: dt.datetime | None = None) -> Post:
        """Return a copy carrying *approver*'s approval of this exact content."""
        approval = Approval(
            approver=approver, content_hash=self.content_hash,
            **({"at": at} if at is not None else {}),
        )
        return attrs.evolve(self, approvals=(*self.approvals, approval))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Post:
        r"""Read a Markdown file with front matter as a post: TOML (``+++`` lines) or YAML (``---``).

        The keys are the same in both (title, text, summary, tags, link,
        cover, media, key, body_format; paths are relative to the file). Any
        mistake is a `ConfigError` naming the file, and the line where it can.

        Example:
            >>> import govmedia as gm, pathlib, tempfile
            >>> f = pathlib.Path(tempfile.mkdtemp()) / "post.md"
            >>> text = '+++\ntitle = "微招聘"\ntags = ["微招聘"]\n+++\n# 岗位\n\n正文'
            >>> _ = f.write_text(text, encoding="utf-8")
            >>> gm.Post.from_file(f).title
            '微招聘'
            >>> _ = f.write_text('---\ntitle: 通知\ntags: [通知]\n---\n正文', encoding="utf-8")
            >>> post = gm.Post.from_file(f)
            >>> post.title, post.body
            ('通知', '正文')
        """
        from govmedia._postfile import read_post_file

        meta, body = read_post_file(path)

        def media(entry: dict[str, Any]) -> Media:
            if "url" in entry:
                return Media.from_url(entry["url"], alt=entry.get("alt"))
            return Media.from_path(entry["path"], alt=entry.get("alt"))

        try:
            if "cover" in meta:
                meta["cover"] = media(meta["cover"])
            if "media" in meta:
                meta["media"] = tuple(media(m) for m in meta["media"])
            return cls(body=body, **meta)
        except ConfigError as exc:
            where = str(pathlib.Path(path))
            if str(exc).startswith(where):
                raise
            raise ConfigError(f"{where}: {exc}") from None

    def with_variant(self, *, platform: str | None = None, label: str | None = None,
                     **fields: Any) -> Post:
        """A copy carrying field overrides for one platform or one label.

        `title`, `text`, `summary`, `tags`, `link`, `cover` and `media` may
        be overridden; they are applied before checking. A `media` variant
        gives one platform other attachments: the video a video platform
        needs, say, while the others get the post's images.

        Variants are content: they change the post's default key and void
        approvals given before them.
        """
        if "tags" in fields:
            fields["tags"] = _tags(fields["tags"])
        if "cover" in fields:
            _media_item(fields["cover"], "cover")
        if "media" in fields:
            fields["media"] = _media_tuple(fields["media"])
        variant = Variant(platform=platform, label=label, fields=fields)
        changes: dict[str, Any] = {"variants": (*self.variants, variant)}
        if self.key == _post_key(self):
            changes["key"] = attrs.NOTHING  # recompute the default key
        return _evolve(self, changes)

    def for_channel(self, channel: Channel) -> Post:
        """The post as *channel* sends it: its platform's variant, then its labels'."""
        chosen = [v for v in self.variants if v.platform == channel.platform]
        for label in channel.labels:
            chosen.extend(v for v in self.variants if v.label == label)
        if not chosen:
            return self
        changes: dict[str, Any] = {}
        for variant in chosen:
            changes.update(variant.fields)
        return attrs.evolve(self, **changes)

    @property
    def valid_approvers(self) -> frozenset[str]:
        """Distinct approvers whose approval matches the current content."""
        current = self.content_hash
        return frozenset(a.approver for a in self.approvals if a.content_hash == current)


# --------------------------------------------------------------------------- channel


def _credentials(value: Any) -> Credentials:
    if isinstance(value, Credentials):
        return value
    if value is None:
        return Credentials()
    if not isinstance(value, Mapping):
        raise _fail("Channel", "credentials", "must be a mapping of names to secret strings")
    try:
        return Credentials(value)
    except TypeError as exc:
        raise _fail("Channel", "credentials", str(exc)) from None


@_masked_repr
@attrs.frozen(kw_only=True, eq=False)
class Channel(_Strict):
    """One account on one platform, with what it takes to post there.

    A channel is identified by ``(platform, account)``; labels are not part of
    its identity. Credentials never show in its repr, logs or pickles.

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="mastodon", account="sasac@social.example",
        ...                 credentials={"access_token": "tok-123456"},
        ...                 options={"base_url": "https://social.example"})
        >>> ch.credentials
        Credentials({'access_token': '***'})
        >>> str(ch)
        'mastodon:sasac@social.example'
    """

    platform: str = attrs.field(validator=_non_empty_str)
    account: str = attrs.field(validator=_non_empty_str)
    credentials: Credentials = attrs.field(factory=Credentials, converter=_credentials)
    options: Mapping[str, Any] = attrs.field(
        factory=dict, converter=_frozen_mapping, repr=lambda m: repr(dict(m))
    )
    labels: tuple[str, ...] = attrs.field(default=(), converter=_labels)

    def __attrs_post_init__(self) -> None:
        # A webhook URL's ?token=, a base URL's user:password@: registered, so
        # that a platform echoing the value without its name is masked too.
        harvest(self.options)

    def __reduce__(self) -> tuple[Any, ...]:
        # Credentials drop their values (see Credentials); option values
        # that look like secrets are masked. A pickled channel identifies an
        # account; it cannot send: rebuild it from its matrix for that.
        return (_rebuild, (Channel, {
            "platform": self.platform, "account": self.account, "credentials": self.credentials,
            "options": mask_data(dict(self.options)), "labels": self.labels,
        }))

    def __copy__(self) -> Channel:
        return self

    __deepcopy__ = _deepcopy

    @property
    def id(self) -> str:
        """``"platform:account"``, the channel's identity."""
        return f"{self.platform}:{self.account}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Channel):
            return (self.platform, self.account) == (other.platform, other.account)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.platform, self.account))

    def __str__(self) -> str:
        return self.id


# --------------------------------------------------------------------------- results


@attrs.frozen(kw_only=True, repr=False)
class Problem(_Strict):
    """A reason a post does not fit a platform, found before sending.

    `rule` is the stable id of the platform limit behind it
    (``"wechat_oa.title.max_length"``), whose remediation and source are in
    the docs' rule catalog; ``None`` for problems that are no platform limit
    (a screening hit, a missing approval). It does not take part in equality.

    Example:
        >>> import govmedia as gm
        >>> gm.Problem(code="too_long", message="text is 612 characters, limit 500", field="text")
        Problem(code='too_long', message='text is 612 characters, limit 500', field='text')
    """

    code: str = attrs.field(validator=_non_empty_str)
    message: str = attrs.field(validator=_non_empty_str)
    field: str | None = None
    rule: str | None = attrs.field(default=None, eq=False, validator=_str_or_none)

    def __repr__(self) -> str:
        rule = f", rule={self.rule!r}" if self.rule else ""
        return mask(f"Problem(code={self.code!r}, message={self.message!r}, "
                    f"field={self.field!r}{rule})")


def _raw_repr(raw: Mapping[str, Any]) -> str:
    # Masked with the rest of the repr (`_masked_repr`).
    try:
        return repr(dict(raw)) if raw else "{}"
    except RecursionError:  # a hostile answer nested a thousand levels deep
        return "{...}"


@_masked_repr
@attrs.frozen(kw_only=True)
class Receipt(_Strict):
    """What a platform gave back for a published post.

    `remote_id` is what `delete` and `metrics` need; `url` is the public web
    address where there is one.

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="webhook", account="cms", options={"url": "https://cms.example/hook"})
        >>> r = gm.Receipt(channel=ch, remote_id="msg_1", url=None, state="published")
        >>> r.state
        'published'
    """

    channel: Channel
    remote_id: str = attrs.field(validator=_non_empty_str)
    url: str | None = None
    state: ReceiptState = attrs.field(default="published", validator=_one_of(_RECEIPT_STATES))
    raw: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping, repr=_raw_repr)

    def __reduce__(self) -> tuple[Any, ...]:
        # What the platform answered may echo a token (an Authorization
        # header, a signed URL): masked in a pickle, as in the journal.
        return (_rebuild, (Receipt, {
            "channel": self.channel, "remote_id": self.remote_id,
            "url": self.url and mask(self.url), "state": self.state,
            "raw": mask_data(dict(self.raw)),
        }))

    def __copy__(self) -> Receipt:
        return self

    __deepcopy__ = _deepcopy


@_masked_repr
@attrs.frozen(kw_only=True)
class Metrics(_Strict):
    """Counts for one published post. A count the platform does not give is ``None``.

    Example:
        >>> import govmedia as gm
        >>> gm.Metrics(views=None, likes=3, shares=1, comments=0).likes
        3
    """

    views: int | None = None
    likes: int | None = None
    shares: int | None = None
    comments: int | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping, repr=_raw_repr)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (Metrics, {
            "views": self.views, "likes": self.likes, "shares": self.shares,
            "comments": self.comments, "raw": mask_data(dict(self.raw)),
        }))

    def __copy__(self) -> Metrics:
        return self

    __deepcopy__ = _deepcopy


@_masked_repr
@attrs.frozen(kw_only=True)
class Delivery(_Strict):
    """What happened to one post on one channel in a fan-out.

    `state` is ``published``, ``skipped`` (already published under the same key),
    ``failed``, ``unknown`` (the platform may or may not have it), ``invalid``
    (refused before sending) or, in a dry run, ``pending``.

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="webhook", account="cms", options={"url": "https://cms.example/hook"})
        >>> gm.Delivery(channel=ch, state="pending").ok
        True
    """

    OK_STATES: ClassVar[frozenset[str]] = frozenset({"published", "skipped", "pending", "deleted"})

    channel: Channel
    state: DeliveryState = attrs.field(validator=_one_of(_DELIVERY_STATES))
    receipt: Receipt | None = None
    error: GovMediaError | None = None
    problems: tuple[Problem, ...] = attrs.field(default=(), converter=_problems)
    attempts: int = 0
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        """True unless the delivery is ``failed``, ``unknown``, ``invalid`` or ``unsupported``.

        ``deleted`` and ``unsupported`` are the states of a retraction
        (`Client.retract`): removed, or the platform cannot delete it.
        """
        return self.state in self.OK_STATES


@attrs.frozen(kw_only=True)
class UploadProgress:
    """How far a media upload of one delivery has come.

    A fan-out's progress object gets one per acknowledged part when it has an
    ``upload(event)`` method.

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="webhook", account="cms", options={"url": "https://cms.example/h"})
        >>> event = gm.UploadProgress(channel=ch, filename="video.mp4", sent=1 << 20, total=4 << 20)
        >>> event.fraction
        0.25
    """

    channel: Channel
    filename: str
    sent: int
    total: int | None = None

    @property
    def fraction(self) -> float | None:
        """The share sent, or ``None`` when the size is not known."""
        return self.sent / self.total if self.total else None


def channels_of(target: Iterable[Channel]) -> list[Channel]:
    """Materialise *target* as a list of channels, checking the types."""
    out = []
    for ch in target:
        if not isinstance(ch, Channel):
            raise ConfigError(f"expected gm.Channel items, got {type(ch).__name__}")
        out.append(ch)
    return out
