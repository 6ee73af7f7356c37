"""The package's shape: no import cycles, layers that import only downwards, small modules.

The import graph is read from the source (``ast``): every ``import`` and ``from ... import``
counts, at module level and inside functions alike (a deferred import that closes a cycle is
still a cycle, it only fails later). Imports under ``if TYPE_CHECKING:`` are exempt: they
exist for annotations only and never run. A second test imports every module on its own, in
a fresh set of ``mock_sungrow`` modules, so an import that only works after another module was
loaded fails here rather than in a user's process.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "mock_sungrow"
#: "No module over ~500 lines" (the project's rules), with a little slack.
MAX_LINES = 520

#: Layers and the packages they must never import at run time (TYPE_CHECKING is exempt).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # State never sees protocol: the plant works in engineering units.
    "mock_sungrow.plant": ("mock_sungrow.device", "mock_sungrow.faults", "mock_sungrow.frontends",
                           "mock_sungrow.installation", "mock_sungrow.server"),
    "mock_sungrow.device": ("mock_sungrow.faults", "mock_sungrow.frontends",
                            "mock_sungrow.installation", "mock_sungrow.server"),
    "mock_sungrow.faults": ("mock_sungrow.frontends", "mock_sungrow.installation",
                            "mock_sungrow.server"),
    # Which devices exist and where they answer knows no protocol and no fault.
    "mock_sungrow.installation": ("mock_sungrow.faults", "mock_sungrow.frontends",
                                  "mock_sungrow.server"),
    # Front ends are handed their endpoint (a Binding); they never build or look one up.
    "mock_sungrow.frontends": ("mock_sungrow.installation", "mock_sungrow.server",
                               "mock_sungrow.fleet"),
    # Recorded devices are data blocks over a device, a plain recorder and a comparison with
    # a device of the model: no protocol front end, no server.
    "mock_sungrow.dumps": ("mock_sungrow.faults", "mock_sungrow.frontends",
                           "mock_sungrow.server", "mock_sungrow.fleet"),
    # A fleet is many servers: the server knows nothing of fleets.
    "mock_sungrow.server": ("mock_sungrow.fleet",),
    "mock_sungrow.runtime": ("mock_sungrow.fleet",),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (its ``else`` branch runs)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _resolve(module: str, level: int, current: str, is_package: bool) -> str:
    if not level:
        return module
    base = current.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def runtime_imports(name: str) -> set[str]:
    """The ``mock_sungrow`` modules ``name`` imports when it runs."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    out: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module or "", node.level, name, path.name == "__init__.py")
            # ``from pkg import sub`` imports the submodule; ``from mod import name`` the module.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                       for a in node.names]
        else:
            continue
        out.update(t for t in targets if t in MODULES and t != name)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_layout_is_read_from_the_source() -> None:
    """The checks below see the real package (guards against a wrong path passing vacuously)."""
    assert {"mock_sungrow.server", "mock_sungrow.plant.state",
            "mock_sungrow.frontends.modbus.app"} <= set(MODULES)
    assert "mock_sungrow.device.catalog" in runtime_imports("mock_sungrow.device.registermap")
    # The plant names the catalogue's InverterModel under TYPE_CHECKING only: not a run-time edge.
    battery = "mock_sungrow.plant.battery"
    assert "from mock_sungrow.device.catalog import" in MODULES[battery].read_text()
    assert "mock_sungrow.device.catalog" not in runtime_imports(battery)


def test_no_import_cycles() -> None:
    graph = {name: runtime_imports(name) for name in MODULES}
    assert _cycles(graph) == []


def test_cycle_detection_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_layers_import_only_downwards() -> None:
    graph = {name: runtime_imports(name) for name in MODULES}
    wrong = []
    for layer, forbidden in FORBIDDEN.items():
        for name, imports in graph.items():
            if name != layer and not name.startswith(layer + "."):
                continue
            wrong += [f"{name} -> {target}" for target in sorted(imports)
                      if any(target == f or target.startswith(f + ".") for f in forbidden)]
    assert wrong == []


def test_no_module_over_the_size_limit() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in MODULES.items()}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_every_module_imports_on_its_own() -> None:
    """Each module imports with no other ``mock_sungrow`` module loaded before it.

    (``__main__`` is left out: importing it runs the command line.)
    """
    names = sorted(name for name in MODULES if name != "mock_sungrow.__main__")
    code = (
        "import importlib, sys\n"
        "failed = []\n"
        f"for name in {names!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] == 'mock_sungrow']:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except BaseException as exc:\n"
        "        failed.append(f'{name}: {exc!r}')\n"
        "print(failed)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert out.strip() == "[]"
