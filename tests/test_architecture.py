"""The shape docs/architecture.md draws, checked on the code itself."""

from __future__ import annotations

import ast
import re
from pathlib import Path

LIB = Path(__file__).resolve().parent.parent / "lib"
LAYERS = {"cli": 4, "verbs": 3, "invocation": 2, "engine": 0}  # everything else: the domain, 1
SHARED = {"errors", "classify", "events", "files", "lifecycle", "locks", "ui", "refs", "status"}  # below all: -1


def imports(path: Path) -> set[str]:
    """The lib modules ``path`` imports (relative imports resolved to their first name)."""
    package = path.parent.relative_to(LIB).parts
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(package[: len(package) - node.level + 1]) if node.level > 1 else list(package)
            names = [node.module] if node.module else [alias.name for alias in node.names]
            found.update(".".join([*base, name]) for name in names)
    return found


def layer(module: str) -> int:
    first = module.split(".")[0]
    return -1 if first in SHARED else LAYERS.get(first, 1)


def modules() -> dict[str, Path]:
    return {".".join(p.relative_to(LIB).with_suffix("").parts): p for p in LIB.rglob("*.py")}


def test_no_verb_imports_another_verb() -> None:
    for name, path in modules().items():
        if name.startswith("verbs.") and name != "verbs.__init__":
            verbs = {m for m in imports(path) if m.startswith("verbs.")}
            assert not verbs, f"lib/{name}.py imports {verbs}"


def test_arrows_point_down() -> None:
    for name, path in modules().items():
        for imported in imports(path):
            if imported.split(".")[-1] == "__init__" or imported in ("", "__version__"):
                continue
            assert layer(imported) <= layer(name), f"lib/{name}.py imports lib/{imported} from a layer above"


def test_each_provenance_label_is_spelled_in_one_module() -> None:
    label = re.compile(r"[\"'](claw\.(?:base|runner|probe)|org\.opencontainers\.image\.base)")
    spelled = {name for name, path in modules().items() if label.search(path.read_text())}
    assert spelled == {"runners"}
