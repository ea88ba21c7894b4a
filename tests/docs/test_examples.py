"""Every Python example in the README and the docs runs as written; the docs' hook is sound.

The convention, for anyone writing README.md or a page under docs/ (platform
pages too):

- every fenced ``python`` block runs, in page order, in one namespace per page
  (a page reads like a tutorial, so later blocks may use earlier names), with
  a fresh temporary directory as the working directory;
- a block that cannot run here (it needs a real account or the network) is
  preceded by the line ``<!-- docs-test: skip (why) -->``; the reader does not
  see the comment (say it in the text too), later blocks must not rely on
  that block, and the test run lists it as skipped with its reason;
- a block that defines ``test_*`` functions (a pytest example) has them called
  at once, with the govmedia fixtures they name.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import logging
import re
import textwrap
from pathlib import Path
from types import ModuleType

import attrs
import pytest

import govmedia as gm
from govmedia.testing import FAULTS, Sandbox
from govmedia.testing.server import SandboxServer

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = [README, *sorted([*DOCS.glob("*.md"), *(DOCS / "platforms").glob("*.md")])]
SKIP = re.compile(r"^<!--\s*docs-test:\s*skip\b(?P<why>.*?)-->$")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
# Platforms being written alongside the docs: until their modules exist, a
# page that needs them is skipped rather than failed.
IN_PROGRESS = {
    "govmedia.platforms.mastodon", "govmedia.testing.mastodon",
    "govmedia.platforms.wechat_oa", "govmedia.testing.wechat_oa",
}


@attrs.frozen
class Block:
    page: Path
    line: int  # of the first code line, 1-based
    code: str
    skip: str | None  # the reason, when marked


def python_blocks(page: Path) -> list[Block]:
    """The ``python`` fenced blocks of *page*, with their skip markers."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    previous = ""
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        fence = opening["fence"]
        end = i + 1
        while end < len(lines) and not (
            lines[end].strip().startswith(fence) and not lines[end].strip().strip(fence[0])
        ):
            end += 1
        language = (opening["info"].split() or [""])[0].strip("{}.").lower()
        if language in ("python", "py"):
            marker = SKIP.match(previous)
            blocks.append(Block(
                page=page, line=i + 2,
                code=textwrap.dedent("\n".join(lines[i + 1:end])),
                skip=(marker["why"].strip(" ()") or "no reason given") if marker else None,
            ))
        previous = lines[end].strip() if end < len(lines) else ""
        i = end + 1
    return blocks


def _page_id(page: Path) -> str:
    return page.relative_to(DOCS if page.is_relative_to(DOCS) else ROOT).as_posix()


SKIPPED = [b for page in PAGES for b in python_blocks(page) if b.skip is not None]


@pytest.mark.parametrize("block", SKIPPED, ids=[f"{_page_id(b.page)}:{b.line}" for b in SKIPPED])
def test_blocks_that_cannot_run_here(block):
    """Listed in the run's summary with the reason its page gives (``-ra``)."""
    pytest.skip(f"{_page_id(block.page)}:{block.line} does not run here: {block.skip}")


# A platform name written in an example must be one a reader can use: built
# in, or registered on the same page.
_PLATFORM = re.compile(r"""platform\s*=\s*["']([a-z_][a-z0-9_]*)["']""")
_REGISTERED = re.compile(r"""(?:\bname(?:\s*:[^=\n]+)?\s*=\s*|register\(\s*)["']([a-z_][a-z0-9_]*)["']""")


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_examples_name_platforms_that_exist(page):
    code = "\n".join(b.code for b in python_blocks(page))
    own = set(_REGISTERED.findall(code))
    unknown = sorted(set(_PLATFORM.findall(code)) - own - set(gm.platforms.available()))
    assert not unknown, f"{_page_id(page)} uses platform(s) that do not exist: {unknown}"


def _call_tests(namespace: dict, done: set[str], stack: contextlib.ExitStack) -> None:
    """Call each new ``test_*`` function with the fixtures it asks for."""
    fixtures = {
        "govmedia_sandbox": Sandbox,
        "govmedia_sandbox_server": lambda: stack.enter_context(SandboxServer()),
    }
    for name, fn in list(namespace.items()):
        if not name.startswith("test_") or not inspect.isfunction(fn) or name in done:
            continue
        done.add(name)
        params = inspect.signature(fn).parameters
        unknown = sorted(set(params) - set(fixtures))
        assert not unknown, f"{name} asks for fixtures this test cannot give: {unknown}"
        fn(**{p: fixtures[p]() for p in params})


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page_examples_run(page, tmp_path, monkeypatch):
    runnable = [b for b in python_blocks(page) if b.skip is None]
    if not runnable:
        pytest.skip("no runnable python blocks on this page")
    monkeypatch.chdir(tmp_path)
    registered = set(gm.platforms.available())
    level = logging.getLogger("govmedia").level
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    called: set[str] = set()
    try:
        with contextlib.ExitStack() as stack:
            for block in runnable:
                # Padding keeps the line numbers of a traceback those of the page.
                code = compile("\n" * (block.line - 1) + block.code, str(page), "exec")
                try:
                    exec(code, namespace)  # running the docs is the point
                except ModuleNotFoundError as exc:
                    if exc.name in IN_PROGRESS:
                        pytest.skip(f"{exc.name} is not written yet")
                    raise
                _call_tests(namespace, called, stack)
    finally:
        for name in set(gm.platforms.available()) - registered:
            gm.platforms.unregister(name)
        logging.getLogger("govmedia").setLevel(level)


def test_the_convention_finds_the_examples():
    blocks = [b for page in PAGES for b in python_blocks(page)]
    assert len([b for b in blocks if b.skip is None]) >= 30
    for block in blocks:
        assert block.code.strip(), f"{_page_id(block.page)}:{block.line}: empty block"
        if block.skip is not None:
            assert block.skip != "no reason given", (
                f"{_page_id(block.page)}:{block.line}: say why the block cannot run")


def test_block_parser_reads_markers_and_indented_fences(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        "# T\n\n```python\nx = 1\n```\n\n<!-- docs-test: skip (needs a real account) -->\n"
        "```python\nraise SystemExit\n```\n\n```bash\nls\n```\n\n"
        "!!! note\n\n    ```python\n    y = x + 1\n    ```\n",
        encoding="utf-8",
    )
    blocks = python_blocks(page)
    assert [(b.line, b.code, b.skip) for b in blocks] == [
        (4, "x = 1", None),
        (9, "raise SystemExit", "needs a real account"),
        (19, "y = x + 1", None),
    ]


def test_the_fault_table_lists_every_fault_kind():
    text = (DOCS / "testing.md").read_text(encoding="utf-8")
    documented = re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE)
    assert documented == list(FAULTS)


# --------------------------------------------------------------------------- the hook


@pytest.fixture(scope="module")
def hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("govmedia_docs_hooks", DOCS / "hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Board(gm.BasePlatform):
    """A platform registered only for these tests."""

    name = "docs_board"
    credential_keys = ("api_key",)
    optional_credential_keys = ("refresh_token",)
    option_keys = ("base_url", "color")
    required_options = ("base_url",)
    capabilities = gm.Capabilities(
        delete=True, dedupe=True, dedupe_window=3600, text_max=280,
        counting="graphemes | emoji count 2", fields=("text",),
    )


def test_capability_tables_come_from_the_classes(hooks):
    gm.platforms.register("docs_board", _Board)
    try:
        tables = hooks.capability_tables(DOCS)
    finally:
        gm.platforms.unregister("docs_board")
    features, content, setup = (_rows(part) for part in tables.split("### ")[1:4])
    board = "`docs_board`"
    assert features[board] == ["yes", "yes", "—", "—", "yes (key kept 1 h)", "—", "—"]
    assert content[board][:2] == ["280", "—"]
    assert r"graphemes \| emoji count 2" in tables  # a pipe cannot break the table
    assert setup[board] == ["`api_key`", "`refresh_token`", "**`base_url`**, `color`"]
    # A platform with a page links to it; the page lives next to the tables.
    assert "[`webhook`](webhook.md)" in features
    for name in gm.platforms.available():
        assert any(f"`{name}`" in key for key in features), name


def _rows(table: str) -> dict[str, list[str]]:
    """First cell -> the other cells, for each body row of a Markdown table."""
    rows = {}
    for line in table.splitlines()[3:]:
        if line.startswith("| "):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            rows[cells[0]] = cells[1:]
    return rows


def test_a_platform_that_fails_to_load_is_shown_unavailable(hooks):
    gm.platforms.register("docs_broken", "govmedia_no_such_module:Broken")
    try:
        tables = hooks.capability_tables(DOCS)
    finally:
        gm.platforms.unregister("docs_broken")
    assert "| `docs_broken` | *unavailable* |" in tables
    assert "Unavailable in this build" in tables
    assert "govmedia_no_such_module" in tables


def test_public_names_table_links_every_public_name(hooks):
    table = hooks.public_names_table()
    for name in gm.__all__:
        assert f"[`gm.{name}`][" in table, name
    assert "[`gm.Post`][govmedia.model.Post]" in table


def test_markers_are_expanded(hooks):
    page = "# P\n\n<!-- capabilities -->\n\n<!-- public-names -->\n"
    out = hooks.on_page_markdown(page, page=None, config={"docs_dir": str(DOCS)}, files=None)
    assert "<!--" not in out
    assert "### Channel setup" in out
    assert "`gm.Client`" in out


def test_nav_drops_only_missing_platform_pages(hooks):
    nav = [
        {"Home": "index.md"},
        {"Platforms": ["platforms/index.md", {"Nowhere": "platforms/nowhere.md"},
                       {"Webhook": "platforms/webhook.md"}]},
        {"Typo": "quickstrat.md"},
    ]
    config = hooks.on_config({"nav": nav, "docs_dir": str(DOCS)})
    assert config["nav"] == [
        {"Home": "index.md"},
        {"Platforms": ["platforms/index.md", {"Webhook": "platforms/webhook.md"}]},
        {"Typo": "quickstrat.md"},  # left for the strict build to report
    ]


# --------------------------------------------------------------------------- the command line


def _shell_commands(page: Path) -> list[tuple[int, list[str]]]:
    """Every ``govmedia ...`` command in the page's bash blocks, as argv (comments dropped)."""
    import shlex

    found = []
    lines = page.read_text(encoding="utf-8").splitlines()
    in_bash = False
    for number, line in enumerate(lines, 1):
        fence = FENCE.match(line)
        if fence:
            info = (fence["info"].split() or [""])[0].lower()
            in_bash = not in_bash and info in ("bash", "sh", "shell", "console")
            continue
        text = line.strip().removeprefix("$ ")
        if in_bash and text.startswith("govmedia "):
            argv = shlex.split(text, comments=True)[1:]
            end = next((i for i, arg in enumerate(argv) if arg in (">", "|", "&&")), len(argv))
            found.append((number, argv[:end]))
    return found


@pytest.mark.parametrize("page", [README, DOCS / "cli.md", DOCS / "sandbox.md", DOCS / "quickstart.md"],
                         ids=_page_id)
def test_every_command_shown_is_one_the_cli_takes(page):
    from govmedia.cli import build_parser

    commands = _shell_commands(page)
    for number, argv in commands:
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"{_page_id(page)}:{number}: `govmedia {' '.join(argv)}` is not a valid command")


def test_the_cli_page_documents_every_command():
    import argparse

    from govmedia.cli import build_parser

    text = (DOCS / "cli.md").read_text(encoding="utf-8")

    def commands(parser, prefix=""):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield f"{prefix}{name}"
                    yield from commands(sub, f"{prefix}{name} ")

    for command in commands(build_parser()):
        assert f"## `govmedia {command}" in text, f"cli.md has no section on `govmedia {command}`"


def test_the_readme_platform_table_is_the_generated_one(hooks):
    """README.md shows what the code does: regenerate with `python3 docs/hooks.py readme`."""
    text = README.read_text(encoding="utf-8")
    start, end = text.index(hooks.README_BEGIN), text.index(hooks.README_END) + len(hooks.README_END)
    assert text[start:end] == hooks.readme_table(ROOT), (
        "README.md's platform table is out of date: run `python3 docs/hooks.py readme`")
    assert "| [`webhook`](docs/platforms/webhook.md) |" in text


def test_the_site_works_opened_from_disk():
    """Issue 14, item 14: site/index.html from disk had dead links and no search."""
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["use_directory_urls"] is False           # links end in .html
    plugins = [p if isinstance(p, str) else next(iter(p)) for p in config["plugins"]]
    assert "offline" in plugins and "search" in plugins    # the index inlined as a script
    for script in config["extra"]["polyfills"]:             # and nothing fetched from a CDN
        assert not script.startswith(("http:", "https:", "//")), script
        assert (DOCS / script).is_file(), script
    assert "navigation.indexes" in config["theme"]["features"]   # no "Platforms > Platforms"
