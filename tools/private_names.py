"""An import-linter contract: no module uses another module's private name (``_name``).

    [[tool.importlinter.contracts]]
    type = "private_names"
    allowed = ["bench.seal_scale -> functions.usage.store._to_item"]  # each with its reason beside it

A private name is the module's own business; a second module that needs it needs it public, under a name that says
what it is (or the thing moved to the module where it belongs). Checked, in every module of the root packages:
``from module import _name`` (relative imports resolved) and ``alias._name`` where ``alias`` is an imported module of
ours. Dunder names (``__version__``) are public.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def source_of(module: str, root: Path) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_from(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, *([node.module] if node.module else [])])


def private_uses(module: str, source: Path, ours: set[str]) -> Iterator[tuple[int, str]]:
    """(line, "imported.module._name") for each private name of another module that ``module`` uses."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    modules_by_alias: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported = _imported_from(module, source.name == "__init__.py", node)
            for alias in node.names:
                if is_private(alias.name) and imported != module:
                    yield node.lineno, f"{imported}.{alias.name}"
                if f"{imported}.{alias.name}" in ours:
                    modules_by_alias[alias.asname or alias.name] = f"{imported}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:  # ``import a.b as c`` binds c to a.b; ``import a.b`` binds only a
                if alias.name in ours and (alias.asname or "." not in alias.name):
                    modules_by_alias[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and is_private(node.attr):
            owner = modules_by_alias.get(node.value.id)
            if owner and owner != module:
                yield node.lineno, f"{owner}.{node.attr}"


class PrivateNamesContract(Contract):
    type_name = "private_names"

    allowed = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        root = Path.cwd()
        ours = {m for m in graph.modules if not graph.is_module_squashed(m) and source_of(m, root)}
        allowed = set(cast(list[str] | None, self.allowed) or [])
        found = []
        for module in sorted(ours):
            source = source_of(module, root)
            assert source is not None
            for line, name in private_uses(module, source, ours):
                if f"{module} -> {name}" not in allowed:
                    found.append(f"{source.relative_to(root)}:{line}: {module} uses {name}")
        return ContractCheck(kept=not found, metadata={"found": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for line in check.metadata["found"]:
            output.print_error(line, bold=False)
        output.new_line()
        output.print("Make the name public where it is defined (or move the thing to where it belongs).")
