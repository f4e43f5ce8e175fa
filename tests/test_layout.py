"""The package's layout holds: imports point one way down the pipeline, none is hidden in a function to dodge a cycle,
one module names the files of a run directory, and no file grows past the size a reader takes in at once."""
import ast
import os

import pytest
from import_graph import PACKAGE, counts, graph, modules, room_of

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), PACKAGE)
MAX_LINES = 350

# Who may import whom: each room and the rooms it may import (docs/architecture.md draws the same).
ALLOWED = {
    "errors": set(),
    "pictures": set(),
    "models": set(),
    "settings": {"errors"},
    "runs": {"errors"},
    "runtime": {"errors", "runs"},
    "board": {"errors", "settings"},
    "data": {"errors", "settings"},
    "tasks": {"errors", "settings", "runs", "data", "models", "pictures"},
    "config": {"errors", "settings", "runs", "tasks"},
    "trained": {"config", "runs", "tasks"},
    "export": {"errors", "config", "runs", "trained", "data", "tasks"},
    "training": {"errors", "settings", "runs", "runtime", "board", "data", "models", "tasks", "config", "export",
                 "pictures"},
    "analysis": {"errors", "settings", "runs", "runtime", "board", "data", "models", "tasks", "config", "trained",
                 "training", "pictures"},
    "cli": {"errors", "settings", "runs", "runtime", "board", "data", "tasks", "config", "export", "training",
            "analysis", "pictures"},
}


def test_imports_point_one_way_down_the_pipeline():
    rooms, arrows = graph(PACKAGE_DIR)
    assert set(rooms) - {"__init__"} == set(ALLOWED), "a new room: place it in ALLOWED and docs/architecture.md"
    wrong = sorted(f"{module}:{line} imports {target}" for (source, target), places in arrows.items()
                   if target not in ALLOWED[source] for module, line, _ in places)
    assert not wrong, wrong
    numbers = counts(PACKAGE_DIR)
    assert numbers["upward_arrows"] == 0, numbers["upward"]


def test_no_package_import_inside_a_function_outside_the_commands():
    """cli/ imports the library inside `main` (flags and --help answer before models and scikit-learn load); the
    rest of the package imports at the top, so that the arrows above are all there is."""
    assert counts(PACKAGE_DIR)["in_function_imports_outside_cli"] == []


def _joins_under_a_run(tree):
    """Lines of os.path.join calls whose first argument names a model directory (`model_dir`, `*.model_dir`)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "os.path.join" and node.args:
            first = ast.unparse(node.args[0])
            if first == "model_dir" or first.endswith((".model_dir", "model_dir)")):
                yield node.lineno


def test_only_the_run_directory_names_the_files_of_a_run():
    owner = os.path.join(PACKAGE_DIR, "runs", "directory.py")
    found = [f"{os.path.relpath(path, PACKAGE_DIR)}:{line}" for path in modules(PACKAGE_DIR).values()
             if path != owner for line in _joins_under_a_run(ast.parse(open(path, encoding="utf-8").read()))]
    assert not found, f"paths under a model directory joined outside runs/directory.RunDir: {found}"


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_files_stay_small(room):
    long = {module: n for module, path in modules(PACKAGE_DIR).items() if room_of(module) == room
            and (n := sum(1 for _ in open(path, encoding="utf-8"))) > MAX_LINES}
    assert not long, f"over {MAX_LINES} lines: {long}"
