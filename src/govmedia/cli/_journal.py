"""The journal and the token store as the commands find them: the user's by default.

A journal is never created empty for a typo. Tokens are kept in a file
because a process that exits would otherwise lose a rotated refresh token
(Kuaishou, Bilibili, X spend each one once): the next run could not refresh.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import govmedia as gm
from govmedia._journal_pg import is_postgres
from govmedia.journal import data_dir, default_journal_path
from govmedia.tokens import FileTokenStore, RedisTokenStore, TokenStore

__all__ = ["JOURNAL_HELP", "TOKENS_HELP", "open_existing_journal", "token_store", "warn_new_journal"]

TOKENS_HELP = ("file of access tokens and rotated refresh tokens, shared by every govmedia "
               "process that opens it, or redis://... to share them across machines "
               "(default: $GOVMEDIA_TOKENS, else tokens.json next to the user's journal)")

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

JOURNAL_HELP = ("SQLite journal, or postgresql://... (default: $GOVMEDIA_JOURNAL, else the user's, "
                "shared with the library)")


def warn_new_journal(path: str, post: gm.Post) -> None:
    """A new journal file named for a post that the default journal knows: sent twice?"""
    default = default_journal_path()
    if is_postgres(path) or Path(path).exists() or not default.exists() or (
            Path(path).resolve() == default.resolve()):
        return
    with gm.Journal(default) as known:
        sent = [e for e in known.entries(post.key).values() if e.state != "pending"]
    if sent:
        print(f"govmedia: warning: {path} is a new journal, but the default journal {default} "
              f"already holds {len(sent)} deliveries of this post; accounts published there "
              "will be published again. Use that journal (leave out --journal) unless this is "
              "meant.", file=sys.stderr)


def open_existing_journal(path: str | None) -> gm.Journal:
    """The journal at *path* (default: the user's), never creating an empty one for a typo."""
    if is_postgres(path):
        return gm.Journal(str(path))
    where = Path(path) if path else default_journal_path()
    if not where.exists():
        raise gm.ConfigError(f"no journal at {where}" + (
            "" if path else " (nothing was sent with the default journal yet)"))
    return gm.Journal(where)


def token_store(path: str | None) -> TokenStore:
    """The token store at *path* (a file, or a ``redis://`` URL), else ``$GOVMEDIA_TOKENS``.

    Else ``tokens.json`` in the data folder.
    """
    where = path or os.environ.get("GOVMEDIA_TOKENS")
    if where and where.startswith(_REDIS_SCHEMES):
        return RedisTokenStore(where)
    if where:
        return FileTokenStore(Path(where).expanduser())
    folder = data_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # its lock file goes there first
    return FileTokenStore(folder / "tokens.json")
