"""`banditroute serve`, and what its operator prepares for it: `config check` and `keys new`."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_commands(commands: argparse._SubParsersAction) -> None:
    _add_serve(commands)
    _add_config(commands)
    _add_keys(commands)


def _add_serve(commands) -> None:
    p = commands.add_parser("serve", help="run the decision service", description="Run the gRPC decision "
                            "service until SIGTERM/SIGINT; then it finishes in-flight calls and snapshots the learner.")
    p.add_argument("--port", type=int, default=50051, help="port to listen on; 0 picks a free one (default 50051)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--data-dir", type=Path, help="where the decision log, snapshots and cache live (default ./data)")
    p.add_argument("--config", type=Path, help="YAML configuration file (see README); defaults otherwise")
    p.add_argument("--storage", metavar="WHERE", help="sqlite (a file per store under the data dir), memory, or a "
                   "postgresql://user:password@host:port/database URI: one database that any number of replicas "
                   "share, each a `serve` of its own (default: the config's storage, else $BANDITROUTE_STORAGE, "
                   "else sqlite)")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this HTTP port (0: a free one; "
                   "default: the config's metrics_port, else none)")
    p.add_argument("--tls-cert", type=Path, metavar="PEM", help="certificate chain to serve TLS with, with "
                   "--tls-key (default: the config's tls.cert_file, else plain text)")
    p.add_argument("--tls-key", type=Path, metavar="PEM", help="its unencrypted private key (tls.key_file)")
    p.add_argument("--tls-client-ca", type=Path, metavar="PEM", help="accept only clients with a certificate this "
                   "CA signed: mutual TLS (tls.client_ca_file)")
    p.add_argument("--rebuild-learner", action="store_true", help="when the learner's snapshots do not match "
                   "the decision log (it was emptied, replaced or restored from an older backup), move them to "
                   "snapshots/set-aside-<time>/ and learn again from the feedback the log holds; without this "
                   "flag the server refuses to start")
    p.set_defaults(run=_serve)


def _serve(args) -> None:
    from router.config.check import check_config
    from router.transport.server import serve

    tls = {key: value for key, value in (("cert_file", args.tls_cert), ("key_file", args.tls_key),
                                         ("client_ca_file", args.tls_client_ca)) if value is not None}
    settings = check_config(args.config, data_dir=args.data_dir, metrics_port=args.metrics_port,
                            tls=tls or None, storage=args.storage).settings
    serve(settings, args.port, args.host, rebuild_learner=args.rebuild_learner)


def _add_config(commands) -> None:
    p = commands.add_parser("config", help="check a configuration file", description="Configuration files.")
    actions = p.add_subparsers(title="actions", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="say whether the server would start with a config file",
                               description="Read FILE as `serve --config FILE` would (every key, the model registry "
                               "it names, every rule's models) and print what it holds, or each problem with its "
                               "key (exit 2).")
    check.add_argument("file", type=Path, metavar="FILE", help="the YAML configuration file")
    check.set_defaults(run=_check_config)


def _check_config(args) -> None:
    from router.config.check import check_config

    print(f"{args.file}: ok: {check_config(args.file).summary()}")


def _add_keys(commands) -> None:
    p = commands.add_parser("keys", help="make API keys", description="API keys for the server's config.")
    actions = p.add_subparsers(title="actions", required=True, metavar="ACTION")
    new = actions.add_parser("new", help="make a key and print it with its config entry",
                             description="Print a new random key (give it to the caller; it is shown once) and "
                             "the entry to add under auth.keys in the server's YAML config, which holds only its "
                             "SHA-256.")
    new.add_argument("--name", required=True, help="who holds the key (shown in the server's messages)")
    new.add_argument("--tenant", help="the one tenant the key acts for (default: every tenant)")
    new.add_argument("--admin", action="store_true", help="may also change rules and invalidate the cache")
    new.set_defaults(run=_new_key)


def _new_key(args) -> None:
    import yaml

    from router.transport.auth import key_hash, new_key

    key = new_key()
    entry = {"name": args.name, "sha256": key_hash(key), "tenant": args.tenant, "admin": args.admin}
    print(f"key: {key}\n\n# under auth.keys in the server config:")
    print(yaml.safe_dump([{k: v for k, v in entry.items() if v is not None}], sort_keys=False), end="")
