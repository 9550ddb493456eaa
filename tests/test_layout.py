"""The package's imports run one way and never in a circle: read from the source with `ast`, every
import statement counts, those inside functions too (a lazy import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

PACKAGE = REPO / "ablate"

# Highest first: a module may import its own layer or a lower one, never a higher one. The README's
# "Layout" section says the same in words.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("commands", ("ablate.__main__", "ablate.cli", "ablate.commands")),
    ("orchestration", ("ablate.executor", "ablate.slurm", "ablate.tuning")),
    ("training and reporting", ("ablate.train", "ablate.report")),
    (
        "experiment",
        (
            "ablate.experiment",
            "ablate.spec",
            "ablate.config",
            "ablate.grid_checks",
            "ablate.hooks",
            "ablate.search_path",
            "ablate.studies",
            "ablate.results",
            "ablate.tracking",
        ),
    ),
    ("verdicts and census", ("ablate.verdicts", "ablate.census")),
    ("models and data", ("ablate.models", "ablate.data")),
    ("base", ("ablate.errors", "ablate")),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The ablate modules a file imports (absolute names; `from ablate.x import y` counts as
    ablate.x.y when that is a module, else ablate.x)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "ablate"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "ablate":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in MODULES else node.module)
    return out


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: imports_of(path) & set(MODULES) for name, path in MODULES.items()}


def layer_of(module: str) -> int:
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or module.startswith(prefix + ".")
            if inside and (best is None or len(prefix) > best[1]):
                best = (i, len(prefix))
    assert best is not None, f"{module} is in no layer of tests/test_layout.py"
    return best[0]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, or a module importing itself."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_import_circle_anywhere():
    assert cycles(GRAPH) == []


def test_imports_run_from_commands_down_to_models_and_data():
    upward = [
        f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
        for a, targets in sorted(GRAPH.items())
        for b in sorted(targets)
        if layer_of(b) < layer_of(a)
    ]
    assert upward == []


def test_the_checks_see_a_circle_and_an_upward_import():
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert layer_of("ablate.models.registry") > layer_of("ablate.train.run") > layer_of("ablate.commands.run")
    # The graph is read from the source: run_cell's module imports the grid's Cell from ablate.experiment.
    assert "ablate.experiment" in GRAPH["ablate.train.run"] and "ablate.train.run" in GRAPH["ablate.executor"]
