"""The README's Python examples run as printed: against a real server, with the real `openai` SDK
pointed at a local OpenAI-compatible server (tests/fake_providers.py) through its own environment
variables, and certificates where the TLS example names them."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from fake_providers import FakeProviders

from router.client.process import ServerProcess
from tests.transport.test_tls import make_pki

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
ADDRESS = "127.0.0.1:50051"  # the address the examples dial; the test's server stands in for it


def test_the_readme_shows_python_examples():
    assert len(EXAMPLES) >= 3


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("readme") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def providers():
    fake = FakeProviders()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder with the certificates the TLS example names, under the names it gives them."""
    root = tmp_path_factory.mktemp("readme-work")
    (root / "pki").mkdir()
    (root / "certs").mkdir()
    pki = make_pki(root / "pki")
    for source, name in ((pki.ca, "ca.pem"), (pki.client_cert, "acme.pem"), (pki.client_key, "acme.key")):
        shutil.copy(source, root / "certs" / name)
    return root


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_a_readme_python_example_runs_as_printed(example, server, providers, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("BANDITROUTE_API_KEY", server.dev_key)
    for sdk, url in (("OPENAI", providers.openai_url), ("ANTHROPIC", providers.anthropic_url)):
        monkeypatch.setenv(f"{sdk}_BASE_URL", url)
        monkeypatch.setenv(f"{sdk}_API_KEY", "test")
    with server.client() as router:
        before = len(list(router.export_ledger("acme", 0, time.time() + 60)))
        exec(compile(example.replace(ADDRESS, server.addr), str(README), "exec"), {"__name__": "readme"})
        after = len(list(router.export_ledger("acme", 0, time.time() + 60)))
    if ADDRESS in example:  # an example that talks to the router leaves its settled calls in the ledger
        assert after > before
