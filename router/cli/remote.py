"""What the commands that call a running server share: their --addr, --tenant and TLS options, and the call
that prints the server's answer, or its gRPC error with an exit code."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from router.client import RouterClient

# A client command's TLS options and the environment variable each stands for.
_TLS_OPTIONS = {"tls": "BANDITROUTE_TLS", "ca_file": "BANDITROUTE_CA_FILE", "client_cert": "BANDITROUTE_CLIENT_CERT",
                "client_key": "BANDITROUTE_CLIENT_KEY", "server_name": "BANDITROUTE_SERVER_NAME"}


def add_addr_option(p: argparse.ArgumentParser) -> None:
    """--addr: one server, or several replicas of it (RouterClient takes the comma-separated list)."""
    p.add_argument("--addr", default="127.0.0.1:50051", metavar="HOST:PORT[,...]",
                   help="service address HOST:PORT, or several replicas' IP:PORT separated by commas, or "
                   "dns:///NAME:PORT for a name that resolves to every replica: calls are spread over them with "
                   "gRPC's round_robin, and a call that fails UNAVAILABLE is retried on another replica")


def add_tls_options(p: argparse.ArgumentParser) -> None:
    """The options of every command that calls a server at --addr."""
    p.add_argument("--tls", action="store_true", help="speak TLS, trusting the system's CA certificates unless "
                   "--ca-file is given (default: plain text, or $BANDITROUTE_TLS=1)")
    p.add_argument("--ca-file", type=Path, metavar="PEM", help="trust the server certificates this CA signed; "
                   "implies --tls (default $BANDITROUTE_CA_FILE)")
    p.add_argument("--client-cert", type=Path, metavar="PEM", help="certificate to present to a server that asks "
                   "for one (mutual TLS), with --client-key; implies --tls (default $BANDITROUTE_CLIENT_CERT)")
    p.add_argument("--client-key", type=Path, metavar="PEM", help="the client certificate's unencrypted private key "
                   "(default $BANDITROUTE_CLIENT_KEY)")
    p.add_argument("--server-name", metavar="NAME", help="with TLS, the name the servers' certificates must carry, "
                   "checked instead of the address; needed with several addresses in --addr "
                   "(default $BANDITROUTE_SERVER_NAME)")


def export_tls_options(args: argparse.Namespace) -> None:
    """Put the TLS options given in the environment, as --api-key's key: every client of this process
    (the simulator's too) reads its TLS settings there."""
    for option, variable in _TLS_OPTIONS.items():
        value = getattr(args, option, None)
        if value:
            os.environ[variable] = "1" if value is True else str(value)


def add_service_and_tenant(p: argparse.ArgumentParser) -> None:
    """The options every tenant administration or report command takes."""
    add_addr_option(p)
    add_tls_options(p)
    p.add_argument("--tenant", required=True, help="tenant id")


def call_server(addr: str, call: Callable[[RouterClient], object], as_json: bool = True) -> int:
    """Print the answer (as JSON, or as the text the call returns), or the gRPC status and message on
    stderr with exit code 1."""
    import grpc

    from router.client import RouterClient

    try:
        client = RouterClient(addr)  # its key and TLS options are in the environment (see main)
    except (OSError, ValueError) as exc:  # a certificate file unreadable or without its key; a bad --addr list
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with client:
        try:
            answer = call(client)
        except grpc.RpcError as exc:
            print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                print("give the key with --api-key or $BANDITROUTE_API_KEY (a server with no keys configured keeps "
                      "its dev key in <data-dir>/dev-api-key)", file=sys.stderr)
            return 1
    if answer:
        print(json.dumps(answer, indent=2) if as_json else answer)
    return 0


def call_with_file(args: argparse.Namespace, call: Callable[[RouterClient], object]) -> int:
    """`call_server`, with a file's content that does not fit the message reported against the file."""
    from google.protobuf.json_format import ParseError

    try:
        return call_server(args.addr, call)
    except ParseError as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return 2


def as_printed(answer: object) -> object:
    """An admin answer as these commands have always printed it: protobuf's JSON form, which leaves out
    an optional field the client gives as None (a rule's action's cost_weight, a mean_quality)."""
    if isinstance(answer, dict):
        return {key: as_printed(value) for key, value in answer.items() if value is not None}
    if isinstance(answer, list):
        return [as_printed(item) for item in answer]
    return answer
