"""A client in another language needs only protos/router.proto: a Node client (@grpc/grpc-js with
@grpc/proto-loader, no generated code, tests/node/route.js) authenticates with a Bearer key, routes a
prompt, sends feedback on the decision and gets INVALID_ARGUMENT for a prompt without messages.

Skipped when node or npm is missing, or when the npm registry cannot be reached to install the client's
pinned packages; the install happens in a temporary copy, so the repository never holds node_modules."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from router.client.process import ServerProcess

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CLIENT_FILES = ("package.json", "package-lock.json", "route.js")
# npm's error codes for a registry it cannot reach (rather than a broken install).
UNREACHABLE = re.compile(
    r"npm error code (ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ENOTCACHED)\b"
    r"|npm error network"
)


def require_node_and_npm() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not on PATH")


def client_copy(root: Path) -> Path:
    """The Node client laid out as in the repository (tests/node beside protos/), under `root`."""
    client = root / "tests" / "node"
    client.mkdir(parents=True)
    for name in CLIENT_FILES:
        shutil.copy(ROOT / "tests" / "node" / name, client)
    shutil.copytree(ROOT / "protos", root / "protos")
    return client


def npm_ci(client: Path) -> None:
    """Installs the locked packages, or skips the test when the registry is out of reach."""
    try:
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=client,
                              capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        pytest.skip("npm ci timed out: the npm registry is out of reach")
    if done.returncode != 0 and UNREACHABLE.search(done.stderr):
        pytest.skip(f"npm registry unreachable: {UNREACHABLE.search(done.stderr).group(0)}")
    assert done.returncode == 0, f"npm ci failed:\n{done.stderr}"


def run_client(client: Path, server: ServerProcess) -> dict:
    """Runs route.js against the server and returns the JSON line it printed."""
    env = dict(os.environ, BANDITROUTE_API_KEY=server.dev_key)
    done = subprocess.run(["node", "route.js", server.addr], cwd=client, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"node route.js failed ({done.returncode}):\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_node_client_built_from_the_proto_alone_routes_and_sends_feedback(tmp_path):
    require_node_and_npm()
    client = client_copy(tmp_path / "repo")
    npm_ci(client)
    with ServerProcess(tmp_path / "data") as server:
        result = run_client(client, server)
    assert isinstance(result["model"], str) and result["model"], result
    assert re.fullmatch(r"[0-9a-f]{32}", result["decision_id"]), result
    assert isinstance(result["reward"], (int, float)) and not isinstance(result["reward"], bool), result
    assert result["invalid_argument_code"] == 3, result
