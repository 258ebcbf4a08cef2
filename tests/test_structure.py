"""The package's shape: imports flow one way, and no file grows past 400 lines without saying why."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "lsnn_bio"


def modules():
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph():
    """Module -> modules it imports when it is imported (top-level statements; imports inside functions run later)."""
    known = modules()
    graph = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
            else:
                continue
            # A module's own parent packages are imported before it anyway: not a dependency it chose.
            edges |= {t for t in targets if t in known and t != name and not name.startswith(t + ".")}
        graph[name] = edges
    return graph


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def imports_torch(node):
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] == "torch" for alias in node.names)
    return isinstance(node, ast.ImportFrom) and not node.level and node.module.split(".")[0] == "torch"


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_imports_flow_one_way():
    graph = import_graph()
    assert "lsnn_bio.documents.networks" in graph["lsnn_bio.documents"]  # the graph is not vacuous
    assert cycles(graph) == []


def test_the_way_back_to_brian2_imports_no_torch_at_import_time():
    graph, seen, todo = import_graph(), set(), ["lsnn_bio.simulation", "lsnn_bio.trained"]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += graph[name]
    assert "lsnn_bio.brian.network" in seen and "lsnn_bio.training.checkpoint" in seen
    assert not {name for name in seen if name.startswith("lsnn_bio.twin")}
    torch_at_top = {name for name in seen if any(map(imports_torch, ast.parse(modules()[name].read_text()).body))}
    assert torch_at_top == set()


def test_long_files_say_why_at_their_top():
    for path in PACKAGE.rglob("*.py"):
        if "twin" in path.parts:  # the twin's files are kept by its own rules
            continue
        text = path.read_text()
        if text.count("\n") > 420:
            docstring = ast.get_docstring(ast.parse(text)) or ""
            assert "400 lines" in docstring, f"{path} has {text.count(chr(10))} lines and its docstring says not why"
