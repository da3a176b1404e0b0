"""The real server of the test_cost_control_e2e_*.py modules, and a client of it."""

from __future__ import annotations

import pytest
import yaml

from router.client.process import ServerProcess
from tests.e2e.cost_control_helpers import CONFIG


@pytest.fixture(scope="package")
def server(tmp_path_factory):
    """One server for every cost-control module, started once. tests/e2e has no __init__.py, so pytest
    keeps a package-scoped fixture here until the session ends. Modules that define their own `server`
    (test_readme.py, test_server_e2e.py) use theirs."""
    root = tmp_path_factory.mktemp("cost-control")
    (root / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    with ServerProcess(root / "data", root / "config.yaml") as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    with server.client() as connected:
        yield connected
