"""Install hints that run as written, however govmedia itself was installed.

``pip install 'govmedia[content]'`` fetches govmedia from the package index:
from a clone, a wheel or a vendored copy it installs something else or
nothing. A hint names the package that is missing instead, with the version
floor govmedia declares for it (read from the installed metadata, so the hint
cannot drift from ``pyproject.toml``).

Example:
    >>> install_hint("opencc")
    "python -m pip install 'opencc>=1.4'"
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import metadata

__all__ = ["install_hint"]

# The floors in pyproject.toml, for a copy of govmedia without metadata.
_FALLBACK = {
    "ahocorasick-rs": "ahocorasick-rs>=1.0", "opencc": "opencc>=1.4",
    "markdownify": "markdownify>=1.1", "mdit-py-plugins": "mdit-py-plugins>=0.4",
    "pandas": "pandas>=2.2",
}
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@lru_cache(maxsize=1)
def _declared() -> dict[str, str]:
    """Every requirement govmedia declares (extras too), by normalized name, markers dropped."""
    try:
        requires = metadata.requires("govmedia") or []
    except metadata.PackageNotFoundError:
        requires = []
    found = {}
    for requirement in requires:
        spec = requirement.split(";", 1)[0].strip()
        match = _NAME.match(spec)
        if match:
            found[_normal(match[1])] = spec.replace(" ", "")
    return found


def install_hint(package: str) -> str:
    """The command that installs *package* (a distribution name) at govmedia's floor."""
    spec = _declared().get(_normal(package)) or _FALLBACK.get(_normal(package)) or package
    return f"python -m pip install '{spec}'"
