"""The modules import one another in one direction only: a cycle means two modules that cannot be
understood, changed or tested apart. grimp reads every import statement, those inside functions
included; imports under `if TYPE_CHECKING:` are left out (they never run)."""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter

import grimp

PACKAGES = ("router", "learners", "simulator")


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    imports = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    try:
        TopologicalSorter(imports).prepare()
    except CycleError as error:
        cycle = error.args[1]
        raise AssertionError("import cycle: " + " -> ".join(cycle)) from None
