"""MkDocs hook: tables generated from the code, so the docs cannot drift from it.

- ``<!-- capabilities -->`` becomes the platform tables, read from each
  registered platform class (its `capabilities`, credential and option keys).
  A platform whose plugin fails to import is listed as unavailable; the build
  goes on.
- ``<!-- public-names -->`` becomes the table of ``govmedia``'s public names,
  each linked to its reference entry.
- ``<!-- rules -->`` becomes the rule catalog: one table per platform of every
  limit `check` enforces (the platform class's ``rules``), with its id, what
  it says, what to do and where it comes from, and the platform refusals no
  rule can foresee (its error table).
- Nav entries for platform pages that do not exist yet are dropped (logged at
  info level), so a page being written does not break a strict build.

Example:
    In a page: ``<!-- capabilities -->`` on a line of its own.
"""

from __future__ import annotations

import inspect
import logging
import types
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.govmedia")

CAPABILITIES = "<!-- capabilities -->"
PUBLIC_NAMES = "<!-- public-names -->"
RULES = "<!-- rules -->"

YES, NO = "yes", "—"


def _cell(value: Any) -> str:
    text = str(value)
    # A pipe would end the table cell; a newline would end the row.
    return text.replace("|", r"\|").replace("\n", " ")


def _flag(value: bool) -> str:
    return YES if value else NO


def _limit(value: int | None) -> str:
    return f"{value:,}" if value is not None else NO


def _window(seconds: float | None) -> str:
    if seconds is None:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f" (key kept {seconds / size:g} {unit})"
    return f" (key kept {seconds:g} s)"


def _codes(names: tuple[str, ...]) -> str:
    return ", ".join(f"`{n}`" for n in names) if names else NO


def load_platforms() -> tuple[dict[str, type[Any]], dict[str, str]]:
    """Every registered platform class by name, and why the others failed to load."""
    import govmedia as gm

    loaded: dict[str, type[Any]] = {}
    failed: dict[str, str] = {}
    for name in gm.platforms.available():
        try:
            loaded[name] = gm.platforms.get(name)
        except Exception as exc:  # noqa: BLE001 - any plugin fault is shown, never fatal
            failed[name] = str(exc) or type(exc).__name__
    return loaded, failed


def capability_tables(docs_dir: Path | None = None) -> str:
    """The Markdown that replaces ``<!-- capabilities -->``.

    Args:
        docs_dir: where the pages live; a platform name links to
            ``platforms/<name>.md`` when that page exists.

    Returns:
        Three tables (features, content rules, channel setup) and, when some
        platform failed to load, a note naming it and why.
    """
    loaded, failed = load_platforms()
    names = sorted({*loaded, *failed})

    def label(name: str) -> str:
        if docs_dir is not None and (docs_dir / "platforms" / f"{name}.md").is_file():
            return f"[`{name}`]({name}.md)"
        return f"`{name}`"

    features = [
        ("| platform | publish | delete | metrics | repost (amplify) "
         "| safe resend (dedupe) | reconcile | token refresh |"),
        "|---|:-:|:-:|:-:|:-:|:-:|:-:|:-:|",
    ]
    content = [
        ("| platform | text limit | title limit | media per post | media kinds "
         "| how length is counted | `Post` fields sent |"),
        "|---|--:|--:|--:|---|---|---|",
    ]
    setup = [
        "| platform | credentials | optional credentials | options (required in bold) |",
        "|---|---|---|---|",
    ]
    for name in names:
        cls = loaded.get(name)
        if cls is None:
            unavailable = f"| {label(name)} | *unavailable* |"
            features.append(unavailable + " |" * 6)
            content.append(unavailable + " |" * 5)
            setup.append(unavailable + " |" * 2)
            continue
        caps = cls.capabilities
        # getattr: a plugin built against an older govmedia may lack newer fields.
        dedupe = _flag(caps.dedupe) + (
            _window(getattr(caps, "dedupe_window", None)) if caps.dedupe else ""
        )
        features.append(
            f"| {label(name)} | {_flag(caps.publish)} | {_flag(caps.delete)} "
            f"| {_flag(caps.metrics)} | {_flag(caps.repost)} | {dedupe} "
            f"| {_flag(getattr(caps, 'reconcile', False))} | {_flag(caps.refresh)} |"
        )
        content.append(
            f"| {label(name)} | {_limit(caps.text_max)} | {_limit(caps.title_max)} "
            f"| {_limit(caps.media_max)} | {_cell(', '.join(caps.media_kinds) or NO)} "
            f"| {_cell(caps.counting or NO)} | {_codes(caps.fields)} |"
        )
        required = set(getattr(cls, "required_options", ()))
        options = ", ".join(
            f"**`{o}`**" if o in required else f"`{o}`" for o in getattr(cls, "option_keys", ())
        )
        setup.append(
            f"| {label(name)} | {_codes(tuple(getattr(cls, 'credential_keys', ())))} "
            f"| {_codes(tuple(getattr(cls, 'optional_credential_keys', ())))} "
            f"| {options or NO} |"
        )
    parts = [
        "### What each platform can do",
        "\n".join(features),
        "### Content rules",
        "\n".join(content),
        "### Channel setup",
        "\n".join(setup),
    ]
    if failed:
        lines = "\n".join(f"    - `{n}`: {_cell(why)}" for n, why in sorted(failed.items()))
        parts.append(
            '!!! warning "Unavailable in this build"\n\n'
            "    These platforms are registered but their plugin failed to import:\n\n"
            f"{lines}"
        )
    return "\n\n".join(parts) + "\n"


def rule_catalog() -> str:
    """The Markdown that replaces ``<!-- rules -->``: every platform's rules."""
    loaded, _ = load_platforms()
    parts = []
    for name in sorted(loaded):
        cls = loaded[name]
        rules = getattr(cls, "rules", ())
        table = getattr(cls, "errors", None)
        parts.append(f"### `{name}`")
        if not rules:
            parts.append("No limits: anything the platform takes goes.")
        else:
            rows = ["| rule | field | limit | what to do | source |", "|---|---|---|---|---|"]
            rows += [
                f"| `{rule.id}` | {_cell(rule.field or NO)} | {_cell(rule.summary or NO)} "
                f"| {_cell(rule.remediation or NO)} | {_cell(rule.source or NO)} |"
                for rule in rules
            ]
            parts.append("\n".join(rows))
        unforeseen = [(code, entry) for code, entry in (table or {}).items()
                      if getattr(entry, "unforeseeable", None)]
        if unforeseen:
            lines = "\n".join(f"- `{code}`: {_cell(entry.unforeseeable)}" for code, entry in unforeseen)
            parts.append(f"Refusals no offline check can foresee:\n\n{lines}")
    return "\n\n".join(parts) + "\n"


def _canonical(obj: Any) -> str:
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    return f"{obj.__module__}.{obj.__qualname__}"


def _summary(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n", 1)[0].replace("\n", " ")


def public_names_table() -> str:
    """The Markdown that replaces ``<!-- public-names -->``: ``govmedia.__all__``."""
    import govmedia as gm

    rows = ["| name | what it is |", "|---|---|"]
    for name in gm.__all__:
        obj = getattr(gm, name)
        rows.append(f"| [`gm.{name}`][{_canonical(obj)}] | {_cell(_summary(obj))} |")
    return "\n".join(rows) + "\n"


def _prune(items: list[Any], docs_dir: Path) -> list[Any]:
    kept: list[Any] = []
    for item in items:
        if isinstance(item, dict):
            pruned: dict[str, Any] = {}
            for title, value in item.items():
                if isinstance(value, list):
                    pruned[title] = _prune(value, docs_dir)
                elif isinstance(value, str) and _missing_platform_page(value, docs_dir):
                    log.info("nav: %s is not written yet; left out", value)
                else:
                    pruned[title] = value
            if pruned:
                kept.append(pruned)
        elif isinstance(item, str) and _missing_platform_page(item, docs_dir):
            log.info("nav: %s is not written yet; left out", item)
        else:
            kept.append(item)
    return kept


def _missing_platform_page(path: str, docs_dir: Path) -> bool:
    # Only platform pages may be absent: any other missing page stays an error.
    return path.startswith("platforms/") and not (docs_dir / path).is_file()


# ----------------------------------------------------------------- MkDocs events


def on_config(config: Any) -> Any:
    """Leave out nav entries for platform pages that are not written yet."""
    if config.get("nav"):
        config["nav"] = _prune(config["nav"], Path(config["docs_dir"]))
    return config


def on_page_markdown(markdown: str, *, page: Any, config: Any, files: Any) -> str:
    """Expand the markers on the page."""
    if CAPABILITIES in markdown:
        markdown = markdown.replace(CAPABILITIES, capability_tables(Path(config["docs_dir"])))
    if PUBLIC_NAMES in markdown:
        markdown = markdown.replace(PUBLIC_NAMES, public_names_table())
    if RULES in markdown:
        markdown = markdown.replace(RULES, rule_catalog())
    return markdown
