"""The package's shape, from its source: the stages of docs/architecture.md, one direction, no cycles.

The stage order lives in docs/architecture.md only (headings "### N. name: `module`, ..."); these tests
read it and every forecast/*.py with `ast`, imports inside functions included.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "forecast"
DOC = ROOT / "docs" / "architecture.md"
MAX_LINES = 550  # "none over ~500 lines": a module past this has two jobs
# Modules that write files, each through files.py (docs/architecture.md says which and why).
WRITERS = {"files", "yahoo_source", "backtest_task", "saved_model", "publish", "notebook"}
DRAWERS = {"plots", "plots_summary"}
WRITING_CALLS = {"write_text", "write_bytes", "savefig", "write_atomic", "write_together", "replace_folder",
                 "to_csv", "save"}


def stages(text: str) -> dict[str, int]:
    """module -> stage number, from the "### N. name: `a`, `b`" headings."""
    found = {}
    for number, modules in re.findall(r"^### (\d+)\. [^:\n]+: (.+)$", text, flags=re.M):
        for module in re.findall(r"`(\w+)`", modules):
            assert module not in found, f"{module} is listed in two stages"
            found[module] = int(number)
    return found


def modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(), filename=str(p)) for p in sorted(PACKAGE.glob("*.py"))
            if p.stem != "__init__"}


def imported(node: ast.AST, known: set[str]) -> list[str]:
    """The forecast modules an import statement names (package-level names like __version__ aside)."""
    if isinstance(node, ast.Import):
        return [a.name.split(".")[1] for a in node.names if a.name.startswith("forecast.")]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level == 0 and not (node.module or "").startswith("forecast"):
        return []
    module = node.module or ""
    module = module.removeprefix("forecast").lstrip(".") if node.level == 0 else module
    if module:
        return [module.split(".")[0]]
    return [a.name for a in node.names if a.name in known]  # from . import x, y


def in_functions(tree: ast.Module) -> list[ast.stmt]:
    """Import statements inside a function (at any depth)."""
    found = []
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found += [n for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))]
    return found


def explained(lines: list[str], lineno: int) -> bool:
    """A comment on the import's line (1-based), or on the line above the run of imports it is in."""
    if "#" in lines[lineno - 1]:
        return True
    i = lineno - 2
    while i >= 0 and lines[i].strip().startswith(("from ", "import ")):
        i -= 1
    return i >= 0 and "#" in lines[i]


def graph(trees: dict[str, ast.Module]) -> dict[str, set[str]]:
    known = set(trees)
    return {name: {m for node in ast.walk(tree) for m in imported(node, known)} - {name}
            for name, tree in trees.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def against_order(edges: dict[str, set[str]], order: dict[str, int]) -> list[str]:
    return [f"{a} (stage {order[a]}) imports {b} (stage {order[b]})"
            for a, targets in sorted(edges.items()) for b in sorted(targets) if order[b] > order[a]]


# --- the checks on the package -----------------------------------------------------------------

@pytest.fixture(scope="module")
def package():
    trees = modules()
    return trees, graph(trees), stages(DOC.read_text())


def test_every_module_has_one_stage(package):
    trees, _, order = package
    assert sorted(set(trees) - set(order)) == [], "modules missing from docs/architecture.md"
    assert sorted(set(order) - set(trees)) == [], "docs/architecture.md lists modules that do not exist"


def test_no_import_cycle(package):
    _, edges, _ = package
    assert find_cycle(edges) is None


def test_imports_follow_the_stage_order(package):
    _, edges, order = package
    assert against_order(edges, order) == []


def test_no_type_checking_imports(package):
    """TYPE_CHECKING blocks are how loops hide; a type an earlier stage defines is imported plainly."""
    trees, _, _ = package
    assert [name for name, tree in trees.items() for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)] == []


def test_every_import_inside_a_function_says_why(package):
    """Only to keep TensorFlow or Ray from loading where they are not needed (docs/architecture.md):
    each such import has a comment on its line or right above its block of imports."""
    trees, _, _ = package
    silent = []
    for name, tree in trees.items():
        lines = (PACKAGE / f"{name}.py").read_text().splitlines()
        silent += [f"{name}.py:{node.lineno}: {lines[node.lineno - 1].strip()}"
                   for node in in_functions(tree) if not explained(lines, node.lineno)]
    assert silent == []


def test_only_the_writers_write_files(package):
    trees, _, _ = package
    writes = sorted({name for name, tree in trees.items() for node in ast.walk(tree)
                     if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                     and node.func.attr in WRITING_CALLS} - WRITERS)
    assert writes == []


def test_only_the_chart_modules_draw(package):
    trees, _, _ = package
    drawing = sorted({name for name, tree in trees.items() for node in ast.walk(tree)
                      for m in ([a.name for a in node.names] if isinstance(node, ast.Import) else
                                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                      if m.split(".")[0] == "matplotlib"} - DRAWERS)
    assert drawing == []


TENSORFLOW = {"tensorflow", "keras"}


def loads_runtime_first(tree: ast.Module) -> bool | None:
    """None when the module's top level imports neither TensorFlow nor Keras; else whether it imports
    `runtime` before the first of them (runtime sets up yfinance's HTTP library before TensorFlow's
    libcurl loads: test_runtime shows the clash, and that runtime prevents it)."""
    runtime_seen = False
    for node in tree.body:
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level and (node.module == "runtime" or any(a.name == "runtime" for a in node.names)):
                runtime_seen = True
            names = [(node.module or "").split(".")[0]] if node.level == 0 else []
        else:
            continue
        if TENSORFLOW & set(names):
            return runtime_seen
    return None


def test_every_module_that_loads_tensorflow_imports_runtime_first(package):
    trees, _, _ = package
    checked = {name: loads_runtime_first(tree) for name, tree in trees.items()}
    assert [name for name, first in checked.items() if first is False] == []
    assert {name for name, first in checked.items() if first} >= {"models", "train", "saved_model", "bench"}


@pytest.mark.parametrize("source, expected", [
    ("import numpy\nimport keras\n", False),
    ("import keras\nfrom . import runtime\n", False),
    ("from . import runtime\nimport tensorflow as tf\n", True),
    ("from .runtime import quiet_tensorflow\nfrom keras import layers\n", True),
    ("import numpy\n\ndef f():\n    import keras\n", None),
])
def test_the_runtime_order_check_on_small_sources(source, expected):
    assert loads_runtime_first(ast.parse(source)) is expected


def test_no_module_is_a_grab_bag():
    long = {p.name: n for p in PACKAGE.glob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


# --- the checks check: each on a small graph with a known answer -------------------------------

def test_stages_are_read_from_the_headings():
    text = "### 1. base: `a`, `b`\ntext `c`\n### 2. next: `c`\n## Other\n### not a stage `d`\n"
    assert stages(text) == {"a": 1, "b": 1, "c": 2}


def test_a_cycle_is_found_through_three_modules():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}) is None


def test_an_import_against_the_order_is_named():
    order = {"a": 1, "b": 2, "c": 2}
    assert against_order({"a": {"b"}, "b": {"a", "c"}, "c": set()}, order) == ["a (stage 1) imports b (stage 2)"]


def test_an_import_inside_a_function_is_explained_above_its_block_or_on_its_line():
    lines = ["def f():", "    # why", "    import a", "    from .b import c", "", "    import d  # why",
             "    x = 1", "    import e", "    try:  # why", "        import f", "        import g"]
    assert [explained(lines, n) for n in (3, 4, 6, 8, 10, 11)] == [True, True, True, False, True, True]


def test_imports_inside_functions_and_relative_forms_are_counted():
    tree = ast.parse(
        "from . import a, __version__\nfrom .b import x\nimport forecast.c\nfrom forecast.d import y\n"
        "from forecast import e\nimport os\n"
        "def f():\n    from .g import z\n"
    )
    known = {"a", "b", "c", "d", "e", "g"}
    assert graph({"m": tree, **{k: ast.parse("") for k in known}})["m"] == {"a", "b", "c", "d", "e", "g"}
    assert [n.lineno for n in in_functions(tree)] == [8]


def loaded_after(code: str) -> set[str]:
    """Which of tensorflow, keras, ray and yfinance a fresh interpreter has loaded after `code`."""
    probe = (f"{code}\nimport sys\n"
             "print(sorted(m for m in ('tensorflow', 'keras', 'ray', 'yfinance') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    return set(ast.literal_eval(done.stdout.strip().splitlines()[-1]))


def test_the_data_command_loads_neither_tensorflow_nor_ray(real_csv):
    code = f"from forecast.__main__ import main\nassert main(['data', '--csv', {str(real_csv)!r}, '--json']) == 0"
    assert loaded_after(code) == set()


def test_training_and_saved_models_load_tensorflow_but_not_ray():
    """Every module but the Ray engine's inside: train, predict, evaluate, compare and publish."""
    code = "from forecast import publish, use_model, compare, backtest"
    assert loaded_after(code) == {"tensorflow", "keras"}
