"""The package's layout holds: imports point one way down the pipeline, none is hidden in a function to dodge a cycle,
one module names the files of a run directory, and no file grows past the size a reader takes in at once.

The import graph is read by rooms — each folder of keras_vidrep/ and each top-level module is a room — from the
source with `ast` (nothing is imported). Run this file to print the counts docs/architecture.md quotes:

  .venv/bin/python tests/test_layout.py [PACKAGE_DIR]

An arrow joins two rooms when any module of one imports any of the other, at module level or inside a function.
Floors are the longest chain of arrows below a room (a room that imports nothing of the package is on floor 1),
leaving out the arrows that exist only through imports inside functions and close a cycle; an upward arrow is one
whose target is not on a lower floor than its source (such a cycle-dodging import, or a cycle).
"""
import ast
import collections
import json
import os
import sys

import pytest

PACKAGE = "keras_vidrep"


def room_of(module):
    """`keras_vidrep.data.shards` → `data`; `keras_vidrep.config` → `config`; the package itself → `__init__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def modules(package_dir):
    """{dotted module name: path} of every .py file of the package."""
    out = {}
    for folder, _, files in os.walk(package_dir):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, os.path.dirname(package_dir))[:-3].replace(os.sep, ".")
                out[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = path
    return out


def imports(path, known):
    """[(imported module, line, inside a function)] of the package's modules that `path` imports."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_function) for a in child.names if a.name.startswith(PACKAGE))
            elif isinstance(child, ast.ImportFrom) and child.module and child.module.startswith(PACKAGE):
                for alias in child.names:
                    target = f"{child.module}.{alias.name}"
                    found.append((target if target in known else child.module, child.lineno, in_function))
            visit(child, inner)

    visit(tree, False)
    return found


def graph(package_dir):
    """(rooms {room: lines}, arrows {(from, to): [(module, line, in function)]})."""
    known = modules(package_dir)
    rooms, arrows = collections.Counter(), collections.defaultdict(list)
    for module, path in known.items():
        source = room_of(module)
        rooms[source] += sum(1 for _ in open(path, encoding="utf-8"))
        for target, line, in_function in imports(path, known):
            if room_of(target) not in (source, "__init__"):
                arrows[(source, room_of(target))].append((module, line, in_function))
    return dict(rooms), dict(arrows)


def floors(rooms, arrows):
    """{room: floor}: the longest chain of arrows below each room, leaving out the arrows of imports inside
    functions that close a cycle (the imports that dodge one)."""
    below = collections.defaultdict(set)
    for source, target in arrows:
        below[source].add(target)

    def reaches(start, goal):
        stack, seen = [start], set()
        while stack:
            room = stack.pop()
            if room == goal:
                return True
            if room not in seen:
                seen.add(room)
                stack.extend(below[room])
        return False

    for (source, target), places in arrows.items():
        if all(inside for _, _, inside in places) and reaches(target, source):
            below[source].discard(target)
    floor = {}

    def level(room, seen=()):
        if room in floor:
            return floor[room]
        if room in seen:
            return 0
        value = 1 + max((level(t, (*seen, room)) for t in below[room]), default=0)
        floor[room] = value
        return value

    for room in rooms:
        level(room)
    return floor


def counts(package_dir):
    """The numbers docs/architecture.md quotes, and the upward arrows themselves."""
    rooms, arrows = graph(package_dir)
    floor = floors(rooms, arrows)
    upward = sorted(f"{s} -> {t}" for (s, t) in arrows if floor[t] >= floor[s])
    in_function = sorted(f"{module}:{line}" for places in arrows.values() for module, line, inside in places
                         if inside and room_of(module) != "cli")
    return {"rooms": len(rooms), "floors": max(floor.values()), "arrows": len(arrows), "upward_arrows": len(upward),
            "upward": upward, "in_function_imports_outside_cli": in_function}


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
                 "export", "training", "pictures"},
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


if __name__ == "__main__":
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    print(json.dumps(counts(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, PACKAGE)), indent=1))
