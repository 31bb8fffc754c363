"""Rules of the code's shape that a reader relies on, checked on the source itself."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
TOOLING = sorted((ROOT / "deploy").rglob("*.py"))
CODE = sorted([*(ROOT / "shared").rglob("*.py"), *(ROOT / "services").rglob("*.py"), *TOOLING])
LIBRARY = sorted((ROOT / "shared").rglob("*.py"))
SERVICES = sorted((ROOT / "services").rglob("*.py"))
STATUS_WRITE = re.compile(
    r"UPDATE\s+documents\s+SET[^;\"]*?\bstatus\s*=|INSERT\s+INTO\s+documents\s*\([^)]*\bstatus\b",
    re.IGNORECASE | re.DOTALL,
)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_library_imports_no_service_no_tooling_and_no_tests(path: Path) -> None:
    bad = [n for n in _imports(path) if n.split(".")[0] in {"services", "deploy", "tests"}]
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: str(p.relative_to(ROOT)))
def test_services_import_no_tooling_and_no_tests(path: Path) -> None:
    bad = [n for n in _imports(path) if n.split(".")[0] in {"deploy", "tests"}]
    assert not bad, f"{path.name} imports {bad}"


JOB_WRITE = re.compile(r"(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+document_indexes\b", re.IGNORECASE)


def test_only_the_jobs_module_writes_job_rows() -> None:
    """Creating, carrying forward, ending, moving and dropping jobs: one module."""
    writers = [str(p.relative_to(ROOT)) for p in CODE if JOB_WRITE.search(p.read_text())]
    assert writers == ["shared/jobs.py"]


def test_only_the_status_module_writes_a_documents_status() -> None:
    writers = [
        str(p.relative_to(ROOT))
        for p in CODE
        if p.name != "status.py" and STATUS_WRITE.search(p.read_text())
    ]
    assert writers == []
    assert STATUS_WRITE.search((ROOT / "shared" / "status.py").read_text())


def test_no_function_is_longer_than_a_screen() -> None:
    long = [
        f"{p.relative_to(ROOT)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for p in CODE
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (node.end_lineno or 0) - node.lineno + 1 > 60
    ]
    assert long == []


def test_the_top_level_is_the_users_list() -> None:
    visible = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")}
    expected = {
        "pyproject.toml",
        "services",
        "shared",
        "deploy",
        "tests",
        "docker-compose.yml",
        "justfile",
        "README.md",
    }
    untracked = {"bench-results.json", "build", "test-artifacts"}  # made by runs, ignored
    assert visible - untracked - {p for p in visible if p.endswith(".egg-info")} == expected


GATEWAY = ROOT / "services" / "gateway"


def _gateway_imports(path: Path) -> set[str]:
    """The gateway modules ``path`` imports at run time (not for typing only)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
        for node in ast.walk(branch)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only or not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        if node.module.startswith("services.gateway."):
            found.add(node.module.rsplit(".", 1)[1])
        elif node.module == "services.gateway":
            found |= {alias.name for alias in node.names}
    return found


def test_routes_never_import_routes_and_the_gateway_is_shallow() -> None:
    modules = {p.stem: _gateway_imports(p) for p in GATEWAY.glob("*.py")}
    routes = {p.stem for p in GATEWAY.glob("*.py") if "RouteTableDef()" in p.read_text()}
    assert {(r, m) for r in routes for m in modules[r] & routes} == set()

    def depth(name: str, seen: frozenset[str] = frozenset()) -> int:
        deeper = [depth(m, seen | {name}) for m in modules.get(name, ()) if m not in seen]
        return 1 + max(deeper, default=0)

    assert max(depth(name) for name in modules) <= 8
