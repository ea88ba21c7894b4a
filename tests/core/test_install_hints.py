"""Install hints run as written: they name the package and govmedia's own floor (issue 14, item 13).

``pip install 'govmedia[content]'`` fetched govmedia from the package index,
which is not where a clone's govmedia comes from.
"""

import shlex
import tomllib
from pathlib import Path

import pytest

from govmedia._extras import _FALLBACK, install_hint

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text("utf-8"))
EXTRAS = {req for reqs in PYPROJECT["project"]["optional-dependencies"].values() for req in reqs}


@pytest.mark.parametrize("package", ["ahocorasick-rs", "opencc", "markdownify", "mdit-py-plugins", "pandas"])
def test_a_hint_is_a_pip_command_for_the_declared_requirement(package):
    argv = shlex.split(install_hint(package))
    assert argv[:4] == ["python", "-m", "pip", "install"]
    (spec,) = argv[4:]
    assert spec in EXTRAS, spec            # the floor pyproject.toml declares
    assert _FALLBACK[package] == spec      # and the copy used without metadata agrees


def test_no_hint_names_govmedia_itself():
    src = Path(__file__).resolve().parents[2] / "src" / "govmedia"
    docs = Path(__file__).resolve().parents[2] / "docs"
    for path in [*src.rglob("*.py"), *docs.rglob("*.md"), docs.parent / "README.md"]:
        if path.name in ("changelog.md", "_extras.py"):
            continue
        assert "govmedia[" not in path.read_text(encoding="utf-8"), path


def test_a_missing_extra_says_what_to_run(monkeypatch):
    import builtins

    import govmedia as gm
    from govmedia.content import screen as screen_module

    real_import = builtins.__import__

    def no_ahocorasick(name, *args, **kwargs):
        if name == "ahocorasick_rs":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ahocorasick)
    with pytest.raises(gm.ConfigError, match=r"python -m pip install 'ahocorasick-rs>=1\.0'"):
        screen_module.Screen(["敏感词"]).scan("正文")
