"""The shape docs/architecture.md draws, checked on the code itself: each rule the page
states has a test here, and the page's drawing is read to check that it names every
module, in the layers the tests check."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "lib"
MAP = ROOT / "docs" / "architecture.md"
LAYERS = {
    "cli": 4,
    "reporting": 4,
    "options": 4,
    "verbs": 3,
    "invocation": 2,
    "engine": 0,
}  # else: the domain, 1
SHARED = {
    "errors",
    "classify",
    "events",
    "files",
    "lifecycle",
    "locks",
    "ui",
    "refs",
    "status",
}  # below all: -1
PURE = {  # what the page calls pure
    "livecheck",
    "lockfile",
    "runtimes",
    "upstreams",
    "versions",
    "compose_file",
    "clawfile",
    "cron",
    "dockerfile",
    "pod",
    "config",
    "refs",
    "engine.argv",
    "engine.output",
}
RUNS_PROGRAMS = {"engine.process"}
PRINTS = {"ui", "cli"}
STATE = {"lifecycle"}  # the process's signals: the one module-level state (see the page)


def imports(path: Path, *, typing: bool = True) -> set[str]:
    """The lib modules ``path`` imports (relative imports resolved to their first name);
    ``typing=False``: not those imported for type checking alone."""
    package = path.parent.relative_to(LIB).parts
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    if not typing:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and ast.unparse(node.test) in (
                "TYPE_CHECKING",
                "typing.TYPE_CHECKING",
            ):
                skipped.update(id(inner) for child in node.body for inner in ast.walk(child))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level and id(node) not in skipped:
            base = list(package[: len(package) - node.level + 1]) if node.level > 1 else list(package)
            names = [node.module] if node.module else [alias.name for alias in node.names]
            found.update(".".join([*base, name]) for name in names)
    return found


def external(path: Path) -> set[str]:
    """The top-level names of the packages ``path`` imports from outside lib."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def layer(module: str) -> int:
    first = module.split(".")[0]
    return -1 if first in SHARED else LAYERS.get(first, 1)


def modules() -> dict[str, Path]:
    return {
        ".".join(p.relative_to(LIB).with_suffix("").parts): p
        for p in LIB.rglob("*.py")
        if p.name != "__init__.py"
    }


def test_no_verb_imports_another_verb() -> None:
    for name, path in modules().items():
        if name.startswith("verbs."):
            verbs = {m for m in imports(path) if m.startswith("verbs.")}
            assert not verbs, f"lib/{name}.py imports {verbs}"


def test_arrows_point_down() -> None:
    for name, path in modules().items():
        for imported in imports(path):
            if imported.split(".")[-1] == "__init__" or imported in ("", "__version__"):
                continue
            assert layer(imported) <= layer(name), f"lib/{name}.py imports lib/{imported} from a layer above"


def test_what_the_page_calls_pure_imports_no_engine() -> None:
    """Pure: data in, data out. A type named for type checking alone runs nothing."""
    for name in PURE:
        imported = imports(modules()[name], typing=False)
        engine = {m for m in imported if m.startswith("engine.") and not name.startswith("engine.")}
        assert not engine, f"lib/{name}.py is pure on the page, but imports {engine}"


def test_only_the_engines_process_module_runs_programs() -> None:
    for name, path in modules().items():
        if name not in RUNS_PROGRAMS:
            runs = external(path) & {"sh", "subprocess", "pty"}
            assert not runs, f"lib/{name}.py imports {runs}: only lib/engine/process.py runs programs"
            calls = re.findall(r"\bos\.(?:system|popen|exec\w*|spawn\w*|fork)\(", path.read_text())
            assert not calls, f"lib/{name}.py calls {calls}: only lib/engine/process.py runs programs"


def test_nothing_prints_outside_the_ui_and_the_cli() -> None:
    writes = re.compile(r"\bprint\(|\bsys\.(?:stdout|stderr)\.write\(|\bclick\.(?:echo|secho)\(")
    for name, path in modules().items():
        if name not in PRINTS:
            found = writes.findall(path.read_text())
            assert not found, f"lib/{name}.py writes to the terminal ({found}): report through events"


def test_every_error_is_one_of_the_family_in_errors_py() -> None:
    """An exception that never leaves its module (its name starts with ``_``) is not a failure
    anyone meets; every other lives in errors.py."""
    for name, path in modules().items():
        if name == "errors":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                bases = {ast.unparse(base) for base in node.bases}
                assert not {b for b in bases if b.endswith(("Error", "Exception", "Interrupt"))}, (
                    f"lib/{name}.py defines the error {node.name}: its home is lib/errors.py"
                )


def test_no_module_keeps_state_but_the_process_lifecycle() -> None:
    for name, path in modules().items():
        if name not in STATE:
            rebinds = [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Global)]
            assert not rebinds, f"lib/{name}.py rebinds module state"


def test_each_provenance_label_is_spelled_in_one_module() -> None:
    label = re.compile(r"[\"'](claw\.(?:base|runner|probe)|org\.opencontainers\.image\.base)")
    spelled = {name for name, path in modules().items() if label.search(path.read_text())}
    assert spelled == {"runners"}


def test_compose_labels_are_spelled_in_one_module() -> None:
    label = re.compile(r"[\"']com\.docker\.compose\.")
    spelled = {name for name, path in modules().items() if label.search(path.read_text())}
    assert spelled <= {"compose_file"}


def drawing() -> str:
    text = MAP.read_text()
    return text.split("```", 2)[1]


def test_the_page_names_every_module_and_no_other() -> None:
    named = set(re.findall(r"([a-z_]+)\.py", drawing()))
    present = {Path(name.replace(".", "/")).name for name in modules()} | {"claw"}
    assert named == present, f"on the page only: {named - present}; in lib only: {present - named}"


def test_the_page_draws_the_layers_in_the_order_the_arrows_go() -> None:
    """Top to bottom: cli, the verbs, invocation, the domain, the engine, then shared."""
    heads = [line.split()[0] for line in drawing().splitlines() if line and not line.startswith(" ")]
    order = [
        head
        for head in heads
        if head in ("lib/cli.py", "lib/verbs/", "lib/invocation.py", "domain", "lib/engine/", "shared")
    ]
    assert order == ["lib/cli.py", "lib/verbs/", "lib/invocation.py", "domain", "lib/engine/", "shared"]


def test_the_pages_shared_modules_are_the_ones_the_arrows_allow_everywhere() -> None:
    text = drawing()
    shared = text[text.index("\nshared") :]
    assert set(re.findall(r"([a-z_]+)\.py", shared)) == SHARED
