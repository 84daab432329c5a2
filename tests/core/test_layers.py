"""The package's layers run one way. Every import of batchcost's own modules (at module level and inside functions)
is read from the source: none goes up the layers, no two packages import each other, no module takes another's
private name, and neutral code (everything outside ``batchcost/providers/<name>/``) names no provider."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "batchcost"
# lowest first: a module may import its own layer and the layers below it, never one above
LAYERS = ["core", "tokens", "pricing", "providers", "plans", "estimation", "lifecycle", "reports", "cli"]
BASE = {"data": 0}  # the data files' loader sits with core
TOP = {"__init__", "__main__"}  # the package's public face and entry point may import anything


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "batchcost":
        return None
    head = parts[1]
    if head in TOP:
        return len(LAYERS)
    if head in BASE:
        return BASE[head]
    return LAYERS.index(head) if head in LAYERS else None


def imports(path: Path, module: str) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names taken from it) for every batchcost import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name, []) for alias in node.names if alias.name.startswith("batchcost")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            if base.startswith("batchcost"):
                out.append((node.lineno, base, [alias.name for alias in node.names]))
    return out


MODULES = modules()


def _target(base: str, name: str) -> str:
    """The module an ``from base import name`` really reaches: ``base.name`` when that is a module."""
    return f"{base}.{name}" if f"{base}.{name}" in MODULES else base


def test_the_layers_are_the_packages():
    heads = {m.split(".")[1] for m in MODULES if m.count(".") >= 1}
    assert heads <= set(LAYERS) | set(BASE) | TOP, heads - set(LAYERS) - set(BASE) - TOP


def test_no_import_goes_up_the_layers():
    wrong = []
    for module, path in MODULES.items():
        mine = layer(module)
        if mine is None:
            continue
        for line, base, names in imports(path, module):
            for target in [_target(base, n) for n in names] or [base]:
                theirs = layer(target)
                if theirs is not None and theirs > mine:
                    wrong.append(f"{path.relative_to(ROOT.parent)}:{line}: {module} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_two_packages_import_each_other():
    edges: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        mine = ".".join(module.split(".")[:2])
        for _, base, names in imports(path, module):
            for target in [_target(base, n) for n in names] or [base]:
                theirs = ".".join(target.split(".")[:2])
                if theirs != mine and theirs in {".".join(m.split(".")[:2]) for m in MODULES}:
                    edges.setdefault(mine, set()).add(theirs)
    cycles = [(a, b) for a, targets in edges.items() for b in targets if a in edges.get(b, set()) and a < b]
    assert not cycles, cycles


def test_no_module_takes_a_private_name_of_another():
    wrong = []
    for module, path in MODULES.items():
        for line, base, names in imports(path, module):
            for name in names:
                if name.startswith("_") and not name.startswith("__") and _target(base, name) == base:
                    wrong.append(f"{path.relative_to(ROOT.parent)}:{line}: {name} from {base}")
        tree = ast.parse(path.read_text())
        imported = {alias.asname or alias.name.split(".")[-1]
                    for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                    for alias in node.names
                    if (getattr(node, "module", None) or alias.name).startswith("batchcost")}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in imported):
                wrong.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not wrong, "\n".join(wrong)


PROVIDER_NAMES = re.compile(r"""["'](openai|anthropic|gemini|vertex)["']""")


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not re.match(r"batchcost\.providers\.\w+\.", m)
                                          and m not in ("batchcost.providers.openai", "batchcost.providers.anthropic",
                                                        "batchcost.providers.gemini", "batchcost.providers.vertex")))
def test_neutral_code_names_no_provider(module):
    """No provider's name is a string in neutral code (the registry's list of built-in ones apart): what differs by
    provider is asked of the provider."""
    path = MODULES[module]
    found = []
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        code = text.split("#", 1)[0]
        if PROVIDER_NAMES.search(code) and "BUILT_IN" not in code:
            found.append(f"{number}: {text.strip()}")
    assert not found, "\n".join(found)
