"""The `banditroute` command: serve, route, feedback, admin and reports; the simulator adds the demo and
the benchmarks (simulator/commands.py)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Loading MiniLM drew a "Loading weights" bar on stderr at every start: stderr is the server's log, and
# a refusal to start is one line there.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
# The commands draw plots into files only; a notebook importing the same modules keeps its own backend.
os.environ.setdefault("MPLBACKEND", "Agg")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.api_key:
        os.environ["BANDITROUTE_API_KEY"] = args.api_key  # where every client of this process looks
    _export_tls_options(args)
    configure_logging(args.log_level, args.log_format)
    from router.config.check import ConfigError
    from router.domain.errors import CannotStart

    try:
        return args.run(args) or 0
    except ConfigError as exc:
        if exc.whole_file:  # not a config at all: one line says which file and why, as for a damaged data file
            print(f"banditroute: {exc.path} {exc.problems[0]}", file=sys.stderr)
            return 2
        where = exc.path or "the options given"  # no config file: the problem is in serve's own options
        print(f"{where}: the configuration has {len(exc.problems)} problem(s):", file=sys.stderr)
        print("\n".join(f"  {problem}" for problem in exc.problems), file=sys.stderr)
        return 2
    except CannotStart as exc:
        print(f"banditroute: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if exc.name not in BENCH_MODULES:
            raise
        # A server-only install leaves the benchmarks' libraries out: say which extra brings them.
        print(f"banditroute: this command needs {exc.name}, which the server install leaves out: "
              "pip install 'banditroute[bench]' (make demo and make bench install it)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def configure_logging(level: str, form: str) -> None:
    """Log lines on stderr, as readable text or as one JSON object a line for a log shipper."""
    handler = logging.StreamHandler()
    if form == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # Other libraries' warnings and errors always; their debug chatter never drowns the decisions.
    handler.addFilter(lambda record: record.levelno >= logging.WARNING
                      or record.name.partition(".")[0] in ("router", "learners", "simulator"))
    logging.basicConfig(level=level, handlers=[handler])


COMMANDS_GROUP = "banditroute.commands"
BENCH_MODULES = {"mlflow", "matplotlib", "pandas", "pyarrow", "threadpoolctl"}  # the [bench] extra


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="banditroute",
        description="An LLM router: a gRPC decision service that picks the model for each prompt "
        "and learns from quality feedback which choice pays.",
    )
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="WARNING (default) logs warnings and errors only; DEBUG adds a line per decision")
    parser.add_argument("--log-format", default="text", choices=["text", "json"],
                        help="json: one JSON object a line, a decision's fields included (default text)")
    parser.add_argument("--api-key", help="API key for the calls to a server (default $BANDITROUTE_API_KEY; a "
                        "server with no keys configured prints its dev key and keeps it in <data-dir>/dev-api-key)")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    _add_serve(commands)
    _add_config(commands)
    _add_keys(commands)
    _add_route(commands)
    _add_feedback(commands)
    _add_cache(commands)
    _add_rules(commands)
    _add_budgets(commands)
    _add_stats(commands)
    _add_export(commands)
    _add_logs(commands)
    _add_security(commands)
    # The benchmarks (demo, simulate, replay, ...) live in the simulator, which depends on the router and
    # not the other way round: it registers its commands under this entry-point group (pyproject.toml).
    for entry_point in entry_points(group=COMMANDS_GROUP):
        entry_point.load()(commands)
    return parser


# A client command's TLS options and the environment variable each stands for.
_TLS_OPTIONS = {"tls": "BANDITROUTE_TLS", "ca_file": "BANDITROUTE_CA_FILE", "client_cert": "BANDITROUTE_CLIENT_CERT",
                "client_key": "BANDITROUTE_CLIENT_KEY"}


def add_tls_options(p) -> None:
    """The options of every command that calls a server at --addr."""
    p.add_argument("--tls", action="store_true", help="speak TLS, trusting the system's CA certificates unless "
                   "--ca-file is given (default: plain text, or $BANDITROUTE_TLS=1)")
    p.add_argument("--ca-file", type=Path, metavar="PEM", help="trust the server certificates this CA signed; "
                   "implies --tls (default $BANDITROUTE_CA_FILE)")
    p.add_argument("--client-cert", type=Path, metavar="PEM", help="certificate to present to a server that asks "
                   "for one (mutual TLS), with --client-key; implies --tls (default $BANDITROUTE_CLIENT_CERT)")
    p.add_argument("--client-key", type=Path, metavar="PEM", help="the client certificate's unencrypted private key "
                   "(default $BANDITROUTE_CLIENT_KEY)")


def _export_tls_options(args) -> None:
    """Put the TLS options given in the environment, as --api-key's key: every client of this process
    (the simulator's too) reads its TLS settings there."""
    for option, variable in _TLS_OPTIONS.items():
        value = getattr(args, option, None)
        if value:
            os.environ[variable] = "1" if value is True else str(value)


def _add_serve(commands) -> None:
    p = commands.add_parser("serve", help="run the decision service", description="Run the gRPC decision "
                            "service until SIGTERM/SIGINT; then it finishes in-flight calls and snapshots the learner.")
    p.add_argument("--port", type=int, default=50051, help="port to listen on; 0 picks a free one (default 50051)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--data-dir", type=Path, help="where the decision log, snapshots and cache live (default ./data)")
    p.add_argument("--config", type=Path, help="YAML configuration file (see README); defaults otherwise")
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
                            tls=tls or None).settings
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


def _add_route(commands) -> None:
    p = commands.add_parser("route", help="ask a running service which model should answer a prompt",
                            description="Route one prompt and print the decision as JSON.")
    p.add_argument("--addr", default="127.0.0.1:50051", help="service address HOST:PORT")
    add_tls_options(p)
    p.add_argument("--tenant", default="default", help="tenant id (default 'default')")
    p.add_argument("--prompt", help="the user message; read from stdin when absent")
    p.add_argument("--system", default="", help="system prompt")
    p.add_argument("--cost-weight", type=float, help="λ, the weight of cost against quality (tenant default otherwise)")
    p.add_argument("--allow", nargs="+", default=[], metavar="MODEL", help="only these models may be chosen")
    p.add_argument("--max-cost", type=float, help="maximum estimated cost of the call in USD")
    p.add_argument("--output-tokens", type=int, help="expected answer length in tokens")
    p.add_argument("--hint", default="", help="task hint, e.g. 'security'")
    p.add_argument("--no-cache", action="store_true", help="do not answer from the semantic cache")
    for field in ("team", "project", "feature", "user"):
        p.add_argument(f"--{field}", default="", help=f"attribution: {field}")
    p.set_defaults(run=_route)


def _route(args) -> int:
    from router.domain.types import ChatMessage, Constraints, Metadata, RouteRequest

    prompt = args.prompt if args.prompt is not None else sys.stdin.read()
    messages = ([ChatMessage("system", args.system)] if args.system else []) + [ChatMessage("user", prompt)]
    request = RouteRequest(
        tenant_id=args.tenant,
        messages=tuple(messages),
        cost_weight=args.cost_weight,
        constraints=Constraints(tuple(args.allow), args.max_cost, args.output_tokens),
        metadata=Metadata(args.team, args.project, args.feature, args.user),
        task_hint=args.hint,
        bypass_cache=args.no_cache,
    )
    return _call(args.addr, lambda client: client.route(request))


def _add_feedback(commands) -> None:
    p = commands.add_parser("feedback", help="report the quality of a routed call",
                            description="Send feedback for a decision and print the reward learned.")
    p.add_argument("--addr", default="127.0.0.1:50051", help="service address HOST:PORT")
    add_tls_options(p)
    p.add_argument("--decision-id", required=True, help="the decision_id that route returned")
    p.add_argument("--quality", type=float, help="quality of the answer in [0, 1] (required unless --error)")
    p.add_argument("--input-tokens", type=int, help="actual input tokens (the estimate otherwise)")
    p.add_argument("--output-tokens", type=int, help="actual output tokens (the estimate otherwise)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="latency of the call in ms")
    p.add_argument("--error", action="store_true", help="the call failed (learned as quality 0)")
    p.add_argument("--response", help="the answer's text: cached when the quality reaches the cache's bar")
    p.set_defaults(run=_feedback)


def _feedback(args) -> int:
    from router.domain.types import FeedbackRequest

    request = FeedbackRequest(
        args.decision_id, args.quality, args.input_tokens, args.output_tokens, args.latency_ms, args.error,
        args.response,
    )
    return _call(args.addr, lambda client: client.feedback(request))


def _add_cache(commands) -> None:
    p = commands.add_parser("cache", help="administer a running service's semantic cache",
                            description="Semantic-cache administration on a running service.")
    actions = p.add_subparsers(title="actions", required=True, metavar="ACTION")
    invalidate = actions.add_parser("invalidate", help="drop every cached answer of a tenant",
                                    description="Drop every cached answer of a tenant and print how many there were.")
    invalidate.add_argument("--addr", default="127.0.0.1:50051", help="service address HOST:PORT")
    add_tls_options(invalidate)
    invalidate.add_argument("--tenant", required=True, help="tenant id")
    invalidate.set_defaults(run=lambda args: _call(
        args.addr, lambda client: {"entries_removed": client.invalidate_cache(args.tenant)}))


def _call(addr: str, call, as_json: bool = True) -> int:
    """Print the answer (as JSON, or as the text the call returns), or the gRPC status and message on
    stderr with exit code 1."""
    import grpc

    from router.client import RouterClient

    try:
        client = RouterClient(addr)  # its key and TLS options are in the environment (see main)
    except (OSError, ValueError) as exc:  # an unreadable certificate file, a client certificate without its key
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


def _add_rules(commands) -> None:
    p = commands.add_parser("rules", help="list, add, update or delete a tenant's routing rules",
                            description="Routing-rule administration on a running service. A rule is written as "
                            "in the config file (see README); rules from the config file are read-only here.")
    actions = p.add_subparsers(title="actions", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="a tenant's rules in the order they are tried, with match counts")
    put = actions.add_parser("put", help="add rules, or replace those of the same ids, from a YAML or JSON file")
    put.add_argument("--file", type=Path, required=True, help="one rule, or a list of rules (YAML or JSON)")
    delete = actions.add_parser("delete", help="delete one rule")
    delete.add_argument("--id", required=True, help="the rule's id")
    for action in (listing, put, delete):
        _add_service_and_tenant(action)
    listing.set_defaults(run=lambda args: _call(
        args.addr, lambda c: _as_printed({"rules": c.list_rules(args.tenant)})))
    put.set_defaults(run=_put_rules)
    delete.set_defaults(run=lambda args: _call(
        args.addr, lambda c: c.delete_rule(args.tenant, args.id) or {"deleted": args.id}))


def _add_budgets(commands) -> None:
    p = commands.add_parser("budgets", help="set a tenant's budgets on a running service",
                            description="Replace the budgets of a tenant set over gRPC (those in the server's config "
                            "file stay) and print all its budgets as they stand. Needs an admin key.")
    actions = p.add_subparsers(title="actions", required=True, metavar="ACTION")
    put = actions.add_parser("set", help="replace them with those of a YAML or JSON file")
    put.add_argument("--file", type=Path, required=True,
                     help="a list of budgets as in the config file, "
                     "e.g. [{daily_usd: 50}, {team: search, monthly_usd: 300}]")
    clear = actions.add_parser("clear", help="remove them")
    for action in (put, clear):
        _add_service_and_tenant(action)
    put.set_defaults(run=lambda args: _call_with_file(
        args, lambda c: _as_printed({"budgets": c.set_budgets(args.tenant, _yaml_list(args.file))})))
    clear.set_defaults(run=lambda args: _call(
        args.addr, lambda c: _as_printed({"budgets": c.set_budgets(args.tenant, [])})))


def _yaml_list(path: Path) -> list:
    import yaml

    doc = yaml.safe_load(path.read_text())  # YAML reads JSON too
    return doc if isinstance(doc, list) else [doc]


def _add_service_and_tenant(p) -> None:
    """The options every tenant administration or report command takes."""
    p.add_argument("--addr", default="127.0.0.1:50051", help="service address HOST:PORT")
    add_tls_options(p)
    p.add_argument("--tenant", required=True, help="tenant id")


def _put_rules(args) -> int:
    rules = _yaml_list(args.file)
    return _call_with_file(args, lambda c: _as_printed([c.put_rule(args.tenant, rule) for rule in rules]))


def _call_with_file(args, call) -> int:
    """`_call`, with a file's content that does not fit the message reported against the file."""
    from google.protobuf.json_format import ParseError

    try:
        return _call(args.addr, call)
    except ParseError as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return 2


def _as_printed(answer: object) -> object:
    """An admin answer as these commands have always printed it: protobuf's JSON form, which leaves out
    an optional field the client gives as None (a rule's action's cost_weight, a mean_quality)."""
    if isinstance(answer, dict):
        return {key: _as_printed(value) for key, value in answer.items() if value is not None}
    if isinstance(answer, list):
        return [_as_printed(item) for item in answer]
    return answer


def _add_stats(commands) -> None:
    from router.service.report import GROUP_FIELDS

    p = commands.add_parser("stats", help="a tenant's spend, savings, model mix, cache, budgets and alerts",
                            description="What a tenant spent over a window, what routing saved against always "
                            "calling the premium model, its model mix, cache hits, mean quality, budget modes, "
                            "budgets now and spend alerts; optionally grouped by an attribution field.")
    _add_service_and_tenant(p)
    _add_window(p, default_since="24h")
    p.add_argument("--group-by", default="", choices=GROUP_FIELDS, metavar="FIELD",
                   help=f"also give the figures per value of one of: {', '.join(GROUP_FIELDS)}")
    p.add_argument("--json", action="store_true", help="print the full answer as JSON instead of a report")
    p.set_defaults(run=_stats)


def _add_window(p, default_since: str) -> None:
    p.add_argument("--since", default=default_since, type=_moment, help="from this moment: an ISO date or time "
                   f"(UTC unless it says), 'now', or an age like 30m, 24h, 7d (default {default_since})")
    p.add_argument("--until", default="now", type=_moment, help="up to this moment, same forms (default now)")


def _moment(text: str) -> float:
    """A UNIX time from '2026-11-22', '2026-11-22T10:00', 'now' or an age such as '24h'."""
    import re
    import time
    from datetime import datetime, timezone

    ages = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text == "now":
        return time.time()
    if (age := re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text)) is not None:
        return time.time() - float(age[1]) * ages[age[2]]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date/time, 'now' or an age like 24h") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _stats(args) -> int:
    from router.cli.text import stats_report

    if args.json:
        return _call(args.addr, lambda c: _as_printed(c.stats(args.tenant, args.since, args.until, args.group_by)))
    return _call(args.addr, lambda c: stats_report(args.tenant, c.stats(args.tenant, args.since, args.until,
                                                                         args.group_by)), as_json=False)


def _add_export(commands) -> None:
    p = commands.add_parser("export", help="a tenant's ledger of settled calls, as JSON or CSV",
                            description="Write every settled call of a tenant in a window: who it was for (team, "
                            "project, feature, user), model, tokens, cost, quality, cache hit, budget mode, and what "
                            "always-premium would have cost.")
    _add_service_and_tenant(p)
    p.add_argument("--format", choices=["json", "csv"], default="json", help="output format (default json)")
    p.add_argument("--out", type=Path, help="write here instead of stdout")
    _add_window(p, default_since="30d")
    p.set_defaults(run=_export)


def _export(args) -> int:
    from router.cli.text import write_ledger

    out = args.out.open("w", newline="") if args.out else sys.stdout
    try:
        return _call(args.addr, lambda c: write_ledger(c.export_ledger(args.tenant, args.since, args.until),
                                                       args.format, out), as_json=False)
    finally:
        if args.out:
            out.close()


def _add_logs(commands) -> None:
    p = commands.add_parser("logs", help="the decision log as bandit data, for offline policy evaluation",
                            description="Read a data directory's decision log (also while the server runs).")
    actions = p.add_subparsers(title="actions", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export", help="one row per feedback event: context, allowed models, choice, probability, reward",
        description="Write every feedback event of the window: the context a policy decides on (routing "
        "embedding, category, complexity, tokens, λ), the allowed models and the logging policy's probability "
        "of each, the chosen model and its probability, and the outcome (quality, cost, normalised cost, "
        "reward). Cache answers are left out: nothing was chosen.")
    export.add_argument("--data-dir", type=Path, default=Path("data"), help="the service's data dir (default ./data)")
    _add_window(export, default_since="30d")
    out = export.add_mutually_exclusive_group(required=True)
    out.add_argument("--json", type=Path, metavar="OUT", help="write JSON records here")
    out.add_argument("--parquet", type=Path, metavar="OUT", help="write Parquet here")
    export.set_defaults(run=_logs_export)


def _logs_export(args) -> int:
    from learners.logged import export_events, write_events

    if not (args.data_dir / "decisions.sqlite").exists():
        print(f"error: {args.data_dir} holds no decisions.sqlite", file=sys.stderr)
        return 1
    events = export_events(args.data_dir, args.since, args.until)
    out = args.json or args.parquet
    write_events(events, out, "json" if args.json else "parquet")
    print(f"{len(events)} feedback events written to {out}", file=sys.stderr)
    return 0


def _add_security(commands) -> None:
    p = commands.add_parser("security-eval", help="measure the security flag on labelled prompts",
                            description="Read every text of a JSONL file as Route does (the configured reader, "
                            "MiniLM second looks included) and report per label how many are flagged as security "
                            "work at the threshold, and by what: hint, rule (an explicit security term) or detector.")
    p.add_argument("--data", type=Path, required=True, metavar="FILE.jsonl",
                   help='{"text", "label"} lines, any integer labels (other keys ignored)')
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the figures to this JSON file")
    p.add_argument("--threshold", type=float, help="detector probability that flags a text (default: the "
                   "config's default tenant security_threshold)")
    p.add_argument("--config", type=Path, help="service configuration (YAML): embedding and security_recheck_above")
    p.add_argument("--curve", type=Path, metavar="PNG", help="also plot each label's flagged share across "
                   "thresholds 0.05-0.95 here (and add the curve to the JSON)")
    p.set_defaults(run=_security_eval)
    p = commands.add_parser("security-train", help="retrain the security detectors (takes a few minutes)",
                            description="Train the security detector for each embedding (static, MiniLM) from "
                            "learners/security_data/train.jsonl and the shared data's trainable part, save them, "
                            "and print their cross-validated flagged shares per group of examples.")
    p.add_argument("--shared-data", metavar="DIR", help="the shared data directory (default ../shared/data beside "
                   "the checkout, when there); none: the project's own examples only")
    p.add_argument("--out-dir", type=Path, metavar="DIR", help="where the detectors are saved (default: the "
                   "installed router package, where the service loads them)")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the training report to this JSON file")
    p.add_argument("--threshold", type=float, help="threshold of the reported flagged shares (default: the "
                   "default security_threshold)")
    p.set_defaults(run=_security_train)


def _security_eval(args) -> int:
    from router.cli.security_eval import run_security_eval

    return run_security_eval(args.data, args.json, args.threshold, args.config, args.curve)


def _security_train(args) -> int:
    from router.cli.security_eval import run_security_train

    return run_security_train(args.shared_data, args.out_dir, args.json, args.threshold)


if __name__ == "__main__":
    sys.exit(main())
