"""The import directions of docs/architecture.md, checked on the source of every module."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: What each runtime package may import of the others (itself included).
ALLOWED: dict[str, set[str]] = {
    "kioskpulse": {"kioskpulse"},
    "kiosk_api": {"kioskpulse", "kiosk_api"},
    "vision": {"kioskpulse", "vision"},
    "stream_processors": {"kioskpulse", "vision", "stream_processors"},
}
#: The assemblies start the other packages: they import them inside the functions that do.
ASSEMBLIES = {"kioskpulse/cli.py", "kioskpulse/embedded.py"}
#: Never imported by a runtime module.
DEVELOPMENT_ONLY = {"tests", "bench", "tools"}
#: What the core does not import when it is imported (every process uses the contracts).
SERVERS_AND_FRAMEWORKS = {"fastapi", "starlette", "uvicorn", "faust"}
#: Transports and servers: none of them in the stages' logic.
TRANSPORTS = SERVERS_AND_FRAMEWORKS | {"aiokafka", "httpx"}
TRANSPORT_FREE = (
    "stream_processors/aggregation/",
    "stream_processors/estimator/",
    "stream_processors/statistics.py",
    "vision/",
)
TRANSPORT_FREE_EXCEPT = {"vision/edge.py"}  # the edge agent posts to the API


@dataclass(frozen=True)
class Import:
    module: str  # the source file, relative to the repository
    target: str  # the imported top-level package
    line: int
    at_import_time: bool  # False inside a function or under TYPE_CHECKING


def _imports(path: Path) -> Iterator[Import]:
    relative = path.relative_to(REPO).as_posix()
    tree = ast.parse(path.read_text(), str(path))
    # Imports in a function run when it is called; under TYPE_CHECKING, never.
    deferred: set[int] = set()
    for node in ast.walk(tree):
        type_checking = isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or type_checking:
            deferred.update(id(child) for child in ast.walk(node) if child is not node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            yield Import(relative, name.split(".")[0], node.lineno, id(node) not in deferred)


def _runtime_imports() -> list[Import]:
    return [
        found
        for package in ALLOWED
        for path in sorted((REPO / package).rglob("*.py"))
        for found in _imports(path)
    ]


IMPORTS = _runtime_imports()


def _where(found: Import) -> str:
    return f"{found.module}:{found.line} imports {found.target}"


def test_the_imports_were_found() -> None:
    assert len({found.module for found in IMPORTS}) > 50
    assert any(found.target == "kioskpulse" for found in IMPORTS)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_lies_below_it(package: str) -> None:
    wrong = [
        _where(found)
        for found in IMPORTS
        if found.module.startswith(package + "/")
        and found.target in ALLOWED
        and found.target not in ALLOWED[package]
        and not (found.module in ASSEMBLIES and not found.at_import_time)
    ]
    assert wrong == []


def test_no_runtime_module_imports_tests_benchmarks_or_tools() -> None:
    assert [_where(found) for found in IMPORTS if found.target in DEVELOPMENT_ONLY] == []


def test_the_core_imports_no_server_or_framework_when_imported() -> None:
    wrong = [
        _where(found)
        for found in IMPORTS
        if found.module.startswith("kioskpulse/")
        and found.at_import_time
        and found.target in SERVERS_AND_FRAMEWORKS
    ]
    assert wrong == []


def test_the_stages_logic_is_transport_free() -> None:
    wrong = [
        _where(found)
        for found in IMPORTS
        if found.module.startswith(TRANSPORT_FREE)
        and found.module not in TRANSPORT_FREE_EXCEPT
        and found.target in TRANSPORTS
    ]
    assert wrong == []
