"""No import cycle anywhere in src/govmedia, deferred imports included.

Imports under ``if TYPE_CHECKING:`` are left out: they never run.
"""

import ast
from pathlib import Path

import govmedia

ROOT = Path(govmedia.__file__).parent


def _modules():
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name, path, known):
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node):
            if "TYPE_CHECKING" in ast.unparse(node.test):
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node):
            out.update(alias.name for alias in node.names)

        def visit_ImportFrom(self, node):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)

    Visitor().visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in out if m in known and m != name}


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    cycles = []

    def visit(node, trail, seen):
        for nxt in graph[node]:
            if nxt in trail:
                cycles.append([*trail[trail.index(nxt):], nxt])
            elif nxt not in seen:
                seen.add(nxt)
                visit(nxt, [*trail, nxt], seen)

    done = set()
    for start in sorted(graph):
        if start not in done:
            seen = {start}
            visit(start, [start], seen)
            done |= seen
    assert cycles == [], " ; ".join(" -> ".join(c) for c in cycles[:5])
