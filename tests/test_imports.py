"""No import cycles in the package: every `import` (top-level or inside a function) between
prefdata modules is an edge, and the graph must be acyclic (the tree shows the data flow)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"prefdata": REPO / "prefdata", "prefdata.trainer": REPO / "trainer"}


def module_files() -> dict[str, Path]:
    out = {}
    for package, root in ROOTS.items():
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    return out


def imported(module: str, path: Path, known: set[str]) -> set[str]:
    """prefdata modules that `module` imports (a package import counts as its __init__)."""
    found = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_has_no_import_cycle():
    files = module_files()
    known = set(files)
    # a module importing its own package's __init__ (e.g. `from prefdata import __version__`)
    # is not a cycle in the data flow unless that __init__ imports it back, which the graph shows.
    graph = {m: imported(m, p, known) for m, p in files.items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_blocks_never_import_their_drivers():
    """Filters and judges are the blocks; partition/ and labelling/ drive them, never the reverse."""
    for package in ("filters", "judges"):
        for path in (REPO / "prefdata" / package).glob("*.py"):
            found = re.findall(r"^\s*(?:from|import) prefdata\.(?:partition|labelling|stages)\b.*$", path.read_text(), re.M)
            assert not found, (f"{package}/{path.name}", found)


def test_the_label_drivers_name_no_judge():
    """The label stage, its partitions, the labelling runner and the Ray actor pool run every judge
    from its declaration (`Judge.runs`): no shipped judge's `type:` is a string there, no judge
    module or class is imported, and no config is asked for its type."""
    from prefdata.judges import JUDGES

    names = {cls.name for cls in JUDGES}
    drivers = [REPO / "prefdata" / p for p in ("stages/label.py", "labelling/runner.py", "labelling/ray_pool.py",
                                               "partition/labels.py")]
    for path in drivers:
        code = re.sub(r'"""(.*?)"""|#[^\n]*', "", path.read_text(), flags=re.S)  # docstrings and comments may
        quoted = set(re.findall(r"[\"']([a-z_]+)[\"']", code)) & names
        imports = re.findall(r"prefdata\.judges\.(?:" + "|".join(sorted(names)) + r")\b", code)
        classes = [cls.__name__ for cls in JUDGES if cls.__name__ in code]
        typed = re.findall(r"\.type\s*(?:==|!=|in\b|not in\b)", code)
        assert not (quoted or imports or classes or typed), (path.name, quoted, imports, classes, typed)


def test_the_partitioned_driver_names_no_filter():
    """The partitioned stages run every filter by its declared scope: no shipped filter's `type:` is
    a string there, no filter module or class is imported, and no filter's private column is read."""
    from prefdata.filters import FILTERS

    names = {cls.name for cls in FILTERS}
    for path in (REPO / "prefdata" / "partition").glob("*.py"):
        text = path.read_text()
        quoted = set(re.findall(r"[\"']([a-z_]+)[\"']", text)) & names
        imports = re.findall(r"prefdata\.filters\.(?!base\b|phases\b)\w+", text)
        classes = [cls.__name__ for cls in FILTERS if cls.__name__ in text]
        private = re.findall(r"_(?:dup|div)_reason|[\"']_text[\"']", text)
        assert not (quoted or imports or classes or private), (path.name, quoted, imports, classes, private)


def test_trl_internals_are_used_in_trl_compat_only():
    """A private TRL name (imported from trl, or a DPOTrainer method overridden or called) lives in
    trainer/trl_compat.py, which checks the installed TRL version; nowhere else."""
    private = re.compile(r"from trl[\w.]* import [^\n]*\b_[a-z]\w*|trl\.\w+(\.\w+)*\._[a-z]\w*|super\(\)\._[a-z]\w*\("
                         r"|\b_(precompute_ref_logps|precompute_model_hash|tokenize|compute_loss)\b")
    for path in [*(REPO / "prefdata").rglob("*.py"), *(REPO / "trainer").rglob("*.py")]:
        if path.name != "trl_compat.py":
            assert not private.search(path.read_text()), f"{path}: {private.search(path.read_text()).group()}"
