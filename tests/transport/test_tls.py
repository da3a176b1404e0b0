"""TLS: a server with a certificate speaks TLS only and answers clients that trust its CA; with a
client CA it answers only clients presenting a certificate that CA signed (mutual TLS). The clients,
the CLI and `config check` are driven against real servers, with certificates made here."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from router.cli.main import main
from router.client import AsyncRouterClient, RouterClient, channel_credentials
from router.client.process import ServerProcess
from router.config.check import check_config
from router.domain.types import ChatMessage, FeedbackRequest, RouteRequest

REQUEST = RouteRequest("acme", (ChatMessage("user", "What is the capital of Peru?"),))
TLS_ENV = ("BANDITROUTE_TLS", "BANDITROUTE_CA_FILE", "BANDITROUTE_CLIENT_CERT", "BANDITROUTE_CLIENT_KEY")


@dataclass(frozen=True)
class Pki:
    ca: Path  # signs the server's and the client's certificates
    other_ca: Path  # a CA nobody here trusts
    server_cert: Path  # for localhost and 127.0.0.1
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # a client certificate the other CA signed
    stranger_key: Path


def make_pki(root: Path) -> Pki:
    ca = _issue(root, "ca", "banditroute test CA", ca=True)
    other_ca = _issue(root, "other-ca", "some other CA", ca=True)
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = _issue(root, "server", "localhost", issuer=ca, sans=sans, usage=ExtendedKeyUsageOID.SERVER_AUTH)
    client = _issue(root, "client", "acme-backend", issuer=ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    stranger = _issue(root, "stranger", "acme-backend", issuer=other_ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    return Pki(ca[0], other_ca[0], server[0], server[1], client[0], client[1], stranger[0], stranger[1])


def _issue(root: Path, stem: str, name: str, issuer: tuple | None = None, sans: list | None = None,
           usage: x509.ObjectIdentifier | None = None, ca: bool = False) -> tuple[Path, Path, x509.Certificate, object]:
    """A certificate and its key, written as PEM files (their paths come first) and kept to sign others
    with; self-signed without an issuer."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = (issuer[2].subject, issuer[3]) if issuer else (subject, key)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    cert_path, key_path = root / f"{stem}.pem", root / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path, cert, key


@pytest.fixture(autouse=True)
def no_tls_from_the_environment(monkeypatch):
    """The clients read TLS settings from the environment: a developer's own must not decide these tests."""
    for variable in TLS_ENV:
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def start(root: Path, tls: dict, client_tls: dict) -> ServerProcess:
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump({"tls": {k: str(v) for k, v in tls.items()}, "sqlite_synchronous": "NORMAL"}))
    return ServerProcess(root / "data", config, tls=client_tls)


@pytest.fixture(scope="module")
def tls_server(pki, tmp_path_factory):
    with start(tmp_path_factory.mktemp("tls"), {"cert_file": pki.server_cert, "key_file": pki.server_key},
               {"ca_file": pki.ca}) as running:
        yield running


@pytest.fixture(scope="module")
def mtls_server(pki, tmp_path_factory):
    tls = {"cert_file": pki.server_cert, "key_file": pki.server_key, "client_ca_file": pki.ca}
    client_tls = {"ca_file": pki.ca, "client_cert_file": pki.client_cert, "client_key_file": pki.client_key}
    with start(tmp_path_factory.mktemp("mtls"), tls, client_tls) as running:
        yield running


def refusal(addr: str, api_key: str | None, **tls) -> grpc.StatusCode:
    """The status a Route gets from a client with these TLS options (one attempt, a short deadline)."""
    with RouterClient(addr, timeout=10, api_key=api_key, attempts=1, **tls) as client:
        with pytest.raises(grpc.RpcError) as refused:
            client.route(REQUEST)
    return refused.value.code()


@pytest.mark.slow
def test_a_tls_server_routes_and_learns_for_a_client_that_trusts_its_ca(tls_server):
    assert any("(TLS, data in" in line for line in tls_server.output)  # the line process.py found the port in
    with tls_server.client() as client:
        decision = client.route(REQUEST)
        learned = client.feedback(FeedbackRequest(decision["decision_id"], 0.9, 20, 40))
    assert decision["model"] and len(decision["decision_id"]) == 32
    assert learned["actual_cost_usd"] > 0


@pytest.mark.slow
def test_the_asyncio_client_speaks_tls_too(tls_server, pki):
    async def route() -> dict:
        async with AsyncRouterClient(tls_server.addr, api_key=tls_server.dev_key, ca_file=pki.ca) as client:
            return await client.route(REQUEST)

    assert asyncio.run(route())["model"]


@pytest.mark.slow
def test_a_plain_text_client_gets_unavailable_from_a_tls_server(tls_server):
    assert refusal(tls_server.addr, tls_server.dev_key) == grpc.StatusCode.UNAVAILABLE


@pytest.mark.slow
def test_a_client_trusting_another_ca_gets_unavailable(tls_server, pki):
    assert refusal(tls_server.addr, tls_server.dev_key, ca_file=pki.other_ca) == grpc.StatusCode.UNAVAILABLE


@pytest.mark.slow
def test_with_a_client_ca_a_client_certificate_that_ca_signed_is_answered(mtls_server):
    assert any("(mutual TLS, data in" in line for line in mtls_server.output)
    with mtls_server.client() as client:
        assert client.route(REQUEST)["model"]


@pytest.mark.slow
@pytest.mark.parametrize("certificate", ["none", "another CA's"])
def test_with_a_client_ca_any_other_client_is_refused(mtls_server, pki, certificate):
    own = {"client_cert_file": pki.stranger_cert, "client_key_file": pki.stranger_key} \
        if certificate == "another CA's" else {}
    assert refusal(mtls_server.addr, mtls_server.dev_key, ca_file=pki.ca, **own) == grpc.StatusCode.UNAVAILABLE


def cli(*argv: str) -> subprocess.CompletedProcess:
    """The command in its own process: it puts its TLS options in its environment, which must not leak here."""
    env = {k: v for k, v in os.environ.items() if k not in TLS_ENV}
    return subprocess.run([sys.executable, "-m", "router.cli.main", *argv], capture_output=True, text=True, timeout=120,
                          env=dict(env, HF_HUB_OFFLINE="1"))


@pytest.mark.slow
def test_the_cli_calls_a_tls_server_with_its_ca(tls_server, pki):
    with tls_server.client() as client:
        client.route(RouteRequest("cli-stats", REQUEST.messages))
    done = cli("--api-key", tls_server.dev_key, "stats", "--addr", tls_server.addr, "--tenant", "cli-stats",
               "--json", "--ca-file", str(pki.ca))
    assert done.returncode == 0, done.stderr
    assert int(json.loads(done.stdout)["total"]["calls"]) == 1


@pytest.mark.slow
def test_the_cli_presents_its_client_certificate_to_a_mutual_tls_server(mtls_server, pki):
    common = ["--api-key", mtls_server.dev_key, "route", "--addr", mtls_server.addr, "--prompt", "Hello there",
              "--tenant", "acme", "--ca-file", str(pki.ca)]
    answered = cli(*common, "--client-cert", str(pki.client_cert), "--client-key", str(pki.client_key))
    refused = cli(*common)
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout)["model"]
    assert refused.returncode == 1 and "error: UNAVAILABLE" in refused.stderr


@pytest.mark.parametrize("command", ["check", "serve"])
def test_a_missing_certificate_file_is_one_line_naming_it(tmp_path, capsys, pki, command):
    missing = tmp_path / "absent.pem"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"tls": {"cert_file": str(missing), "key_file": str(pki.server_key)}}))
    argv = ["config", "check", str(config)] if command == "check" else ["serve", "--config", str(config), "--port",
                                                                          "0", "--data-dir", str(tmp_path / "data")]
    assert main(argv) == 2
    said = capsys.readouterr()
    problems = [line for line in said.err.splitlines() if line.startswith("  ")]
    assert problems == [f"  tls.cert_file: cannot read {missing}: No such file or directory"]
    assert "Traceback" not in said.err + said.out


@pytest.mark.parametrize("tls, problem", [
    ({"cert_file": "server.pem"}, "tls: cert_file and key_file go together"),
    ({"cert_file": "server.pem", "key_file": "client.key"}, "tls.key_file: {root}/server.pem and {root}/client.key "
                                                           "are not a PEM certificate chain"),
    ({"cert_file": "server.pem", "key_file": "server.key", "client_ca_file": "server.key"},
     "tls.client_ca_file: {root}/server.key holds no PEM certificate"),
])
def test_certificate_files_that_do_not_fit_are_said_before_the_server_starts(tmp_path, capsys, pki, tls, problem):
    root = pki.ca.parent
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"tls": {key: str(root / name) for key, name in tls.items()}}))
    assert main(["config", "check", str(config)]) == 2
    assert problem.format(root=root) in capsys.readouterr().err


def test_serve_options_change_only_the_tls_keys_they_name(tmp_path, pki):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"tls": {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)}}))
    tls = check_config(config, tls={"client_ca_file": pki.ca}).settings.tls
    assert (tls.cert_file, tls.key_file, tls.client_ca_file, tls.mode) == \
        (pki.server_cert, pki.server_key, pki.ca, "mutual TLS")


def test_a_client_is_plain_text_unless_told_and_a_certificate_needs_its_key(pki, monkeypatch):
    assert channel_credentials() is None
    assert channel_credentials(tls=True) is not None  # the system's roots
    with pytest.raises(ValueError, match="client_key_file"):
        channel_credentials(ca_file=pki.ca, client_cert_file=pki.client_cert)
    monkeypatch.setenv("BANDITROUTE_CA_FILE", str(pki.ca))
    assert channel_credentials() is not None  # what the CLI's --ca-file sets for every client of its process
