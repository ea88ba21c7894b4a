"""Griffe extension: give attrs classes the ``__init__`` signature attrs generates.

griffe reads the source without importing it, so it never sees the ``__init__``
that ``@attrs.frozen`` writes at run time. Without this, the reference shows
``Post()`` with no parameters and flags every documented argument as unknown.
It handles what govmedia uses: ``attrs.frozen``/``define``/``mutable`` (called
or bare, with ``kw_only``), ``attrs.field(default=..., factory=..., kw_only=...,
init=..., alias=...)``, private names losing their underscore, and ClassVars.

Example:
    In mkdocs.yml, under the python handler's options:
    ``extensions: [docs/griffe_attrs.py]``.
"""

from __future__ import annotations

from typing import Any

import griffe

_DECORATORS = {
    "attrs.frozen", "attrs.define", "attrs.mutable",
    "attr.frozen", "attr.define", "attr.mutable", "attr.s", "attr.attrs",
}
_FIELDS = {"attrs.field", "attr.field", "attr.ib", "attr.attrib"}


def _keywords(expr: Any) -> dict[str, Any]:
    """Keyword arguments of a call expression, by name."""
    if not isinstance(expr, griffe.ExprCall):
        return {}
    return {
        arg.name: arg.value for arg in expr.arguments if isinstance(arg, griffe.ExprKeyword)
    }


def _attrs_decorator(cls: griffe.Class) -> Any:
    for decorator in cls.decorators:
        value = decorator.value
        target = value.function if isinstance(value, griffe.ExprCall) else value
        if isinstance(target, griffe.Expr) and target.canonical_path in _DECORATORS:
            return value
    return None


def _is_true(value: Any) -> bool:
    return str(value) == "True"


def _fields(cls: griffe.Class, kw_only: bool) -> list[griffe.Parameter]:
    params = []
    for member in cls.members.values():
        if member.is_alias or not member.is_attribute or member.annotation is None:
            continue
        if "instance-attribute" not in member.labels:
            continue  # a ClassVar, or a property
        value = member.value
        options = _keywords(value) if (
            isinstance(value, griffe.ExprCall) and value.function.canonical_path in _FIELDS
        ) else {}
        if options.get("init") is not None and not _is_true(options["init"]):
            continue
        if "default" in options:
            default: Any = options["default"]
        elif "factory" in options:
            default = f"{options['factory']}()"
        elif options or value is None:
            default = None  # required
        else:
            default = value
        alias = options.get("alias")
        name = str(alias).strip("'\"") if alias is not None else member.name.lstrip("_")
        keyword = kw_only or _is_true(options.get("kw_only", False))
        params.append(griffe.Parameter(
            name,
            annotation=member.annotation,
            kind=(griffe.ParameterKind.keyword_only if keyword
                  else griffe.ParameterKind.positional_or_keyword),
            default=default,
            docstring=member.docstring,
        ))
    return params


def _add_init(cls: griffe.Class) -> None:
    decorator = _attrs_decorator(cls)
    if decorator is None or "__init__" in cls.members:
        return
    settings = _keywords(decorator)
    if settings.get("init") is not None and not _is_true(settings["init"]):
        return
    params = _fields(cls, _is_true(settings.get("kw_only", False)))
    # Python wants positional parameters first; attrs orders them the same way.
    params.sort(key=lambda p: p.kind is griffe.ParameterKind.keyword_only)
    cls.set_member("__init__", griffe.Function(
        "__init__",
        lineno=cls.lineno,
        endlineno=cls.lineno,
        parent=cls,
        parameters=griffe.Parameters(
            griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword),
            *params,
        ),
        returns="None",
    ))


def _walk(obj: griffe.Module | griffe.Class, seen: set[str]) -> None:
    if obj.path in seen:
        return
    seen.add(obj.path)
    if isinstance(obj, griffe.Class):
        _add_init(obj)
    for member in obj.members.values():
        if not member.is_alias and (member.is_module or member.is_class):
            _walk(member, seen)  # type: ignore[arg-type]


class AttrsInit(griffe.Extension):
    """Add the generated ``__init__`` to every attrs class of a loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:  # noqa: ARG002
        """Walk the package once it is loaded."""
        _walk(pkg, set())
