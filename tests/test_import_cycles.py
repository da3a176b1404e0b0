"""The modules import one another in one direction only, and so do the packages: a cycle means two parts
that cannot be understood, changed or tested apart. grimp reads every import statement, those inside
functions included; imports under `if TYPE_CHECKING:` are left out (they never run)."""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter

import grimp
import pytest

PACKAGES = ("router", "learners", "simulator")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)


def test_no_module_imports_itself_through_others(graph):
    _assert_acyclic({module: graph.find_modules_directly_imported_by(module) for module in graph.modules})


def test_no_package_imports_itself_through_others(graph):
    """Packages: router's subpackages (router.domain, router.cache, …) and top-level modules each count
    as one, and learners and simulator as one each."""
    imports: dict[str, set[str]] = {}
    for module in graph.modules:
        imported = {package_of(other) for other in graph.find_modules_directly_imported_by(module)}
        imports.setdefault(package_of(module), set()).update(imported - {package_of(module)})
    _assert_acyclic(imports)


def test_the_domain_imports_nothing_else_of_the_project(graph):
    domain = graph.find_children("router.domain")
    imported = {package_of(other) for module in domain for other in graph.find_modules_directly_imported_by(module)}
    assert imported <= {"router.domain"}


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "router" else parts[0]


def _assert_acyclic(imports: dict[str, set[str]]) -> None:
    try:
        TopologicalSorter(imports).prepare()
    except CycleError as error:
        cycle = error.args[1]
        raise AssertionError("import cycle: " + " -> ".join(cycle)) from None
