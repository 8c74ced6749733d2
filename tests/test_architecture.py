"""The package's shape: layers without upward imports, no import loop, small modules and functions.

The layers are those of ``docs/architecture.md``. Every ``import`` in ``src/polymodal`` counts,
those inside functions too: a function-level import that reaches up closes a loop all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "polymodal"

# Lowest first. A module may import its own layer or a lower one. The first matching prefix wins.
LAYERS: list[tuple[str, ...]] = [
    (
        "polymodal.errors",
        "polymodal.io",
        "polymodal.registry",
        "polymodal.plugins",
        "polymodal.console",
        "polymodal.nn",
        "polymodal.presets",
        "polymodal.sources",
        "polymodal.digest",
        "polymodal.lm_source",
    ),
    ("polymodal.config",),
    ("polymodal.data",),
    ("polymodal.encoders",),
    ("polymodal.interaction",),
    ("polymodal.heads",),  # below fusion: late fusion owns one head per modality
    ("polymodal.fusion",),
    ("polymodal.decoders",),  # read the fused token sequence; objectives and models use them
    ("polymodal.objectives",),
    ("polymodal.models",),
    ("polymodal.features",),
    ("polymodal.report",),
    ("polymodal.rundir",),
    ("polymodal.train",),
    ("polymodal.evaluate",),
    ("polymodal.adapters",),  # models under test (HF VLMs, CLIP-style, HTTP endpoints)
    ("polymodal.tasks",),  # evaluation tasks in YAML and their runner, over adapters
    ("polymodal.serve",),  # an adapter as an OpenAI-compatible endpoint
    ("polymodal.bench",),
    ("polymodal.cli",),
]
API = "polymodal"  # the package's __init__: the public API, above everything

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60
# A long function or module is allowed when a comment naming this marker says why.
WHY_MARKER = "long because"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """Every polymodal module ``name`` imports, wherever the import statement stands."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: -(node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "polymodal":
                continue
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "polymodal")
    return found


def _resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The module a dotted import names (``from pkg import name`` may name a module or not)."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def _layer(name: str) -> int:
    if name == API:
        return len(LAYERS)
    for index, prefixes in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{name} is in no layer: add it to docs/architecture.md and LAYERS")


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = {_resolve(t, modules) for t in _imports(name, path)}
        graph[name] = {t for t in targets if t and t != name}
    return graph


def test_every_module_has_a_layer() -> None:
    for name in _modules():
        _layer(name)


def test_no_module_imports_a_higher_layer() -> None:
    upward = [
        f"{src} (layer {_layer(src)}) imports {dst} (layer {_layer(dst)})"
        for src, targets in _graph().items()
        for dst in sorted(targets)
        if _layer(dst) > _layer(src)
    ]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop of ``graph`` (a list of modules), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            # A package's __init__ importing its own submodules is how packages export names.
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_loop() -> None:
    loop = _cycle(_graph())
    assert loop is None, "import loop: " + " -> ".join(loop or [])


def test_the_cycle_finder_finds_a_loop() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def _justified(lines: list[str], start: int, end: int) -> bool:
    """Whether a comment between lines ``start`` and ``end`` (1-based) says why it is long."""
    return any(WHY_MARKER in line for line in lines[max(start - 3, 0) : end])


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_modules_and_functions_are_small(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    problems = []
    if len(lines) > MAX_MODULE_LINES and not _justified(lines, 1, 30):
        problems.append(f"{len(lines)} lines (at most {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            if n > MAX_FUNCTION_LINES and not _justified(lines, node.lineno, node.end_lineno):
                problems.append(f"{node.name} (line {node.lineno}): {n} lines")
    assert not problems, f"{path.relative_to(SRC)}: " + "; ".join(problems)
