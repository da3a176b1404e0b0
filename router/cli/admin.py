"""Administration of a running service: a tenant's `banditroute cache`, `rules` and `budgets`, and the
deployment's `models`."""

from __future__ import annotations

import argparse
from pathlib import Path

from router.cli.remote import (add_addr_option, add_service_and_tenant, add_tls_options, as_printed, call_server,
                               call_with_file)


def add_commands(commands: argparse._SubParsersAction) -> None:
    _add_cache(commands)
    _add_rules(commands)
    _add_budgets(commands)
    _add_models(commands)


def _add_cache(commands) -> None:
    p = commands.add_parser("cache", help="administer a running service's semantic cache",
                            description="Semantic-cache administration on a running service.")
    actions = p.add_subparsers(title="actions", required=True, metavar="ACTION")
    invalidate = actions.add_parser("invalidate", help="drop every cached answer of a tenant",
                                    description="Drop every cached answer of a tenant and print how many there were.")
    add_addr_option(invalidate)
    add_tls_options(invalidate)
    invalidate.add_argument("--tenant", required=True, help="tenant id")
    invalidate.set_defaults(run=lambda args: call_server(
        args.addr, lambda client: {"entries_removed": client.invalidate_cache(args.tenant)}))


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
        add_service_and_tenant(action)
    listing.set_defaults(run=lambda args: call_server(
        args.addr, lambda c: as_printed({"rules": c.list_rules(args.tenant)})))
    put.set_defaults(run=_put_rules)
    delete.set_defaults(run=lambda args: call_server(
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
        add_service_and_tenant(action)
    put.set_defaults(run=lambda args: call_with_file(
        args, lambda c: as_printed({"budgets": c.set_budgets(args.tenant, _yaml_list(args.file))})))
    clear.set_defaults(run=lambda args: call_server(
        args.addr, lambda c: as_printed({"budgets": c.set_budgets(args.tenant, [])})))


def _add_models(commands) -> None:
    p = commands.add_parser("models", help="list, add, reprice or retire the models a running service routes to",
                            description="The models Route may choose from, changed at run time and kept across "
                            "restarts: a price change acts on the very next Route, a new model given no quality_prior "
                            "starts from its tier's. Changes need an admin key for every tenant.")
    actions = p.add_subparsers(title="actions", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the models and their prices, and the baseline model")
    put = actions.add_parser("put", help="add models, or replace those of the same ids, from a YAML or JSON file")
    put.add_argument("--file", type=Path, required=True,
                     help="one model, or a list, as in the registry file: id, provider, tier, input_per_1m, "
                     "output_per_1m, context_window, max_output_tokens (and optional prices, quality_prior)")
    retire = actions.add_parser("retire", help="stop routing to a model; its decisions still settle")
    retire.add_argument("--id", required=True, help="the model's id")
    for action in (listing, put, retire):
        add_addr_option(action)
        add_tls_options(action)
    listing.set_defaults(run=lambda args: call_server(args.addr, lambda c: as_printed(c.list_models())))
    put.set_defaults(run=lambda args: call_with_file(
        args, lambda c: as_printed([c.put_model(model) for model in _yaml_list(args.file)])))
    retire.set_defaults(run=lambda args: call_server(
        args.addr, lambda c: c.retire_model(args.id) or {"retired": args.id}))


def _yaml_list(path: Path) -> list:
    import yaml

    doc = yaml.safe_load(path.read_text())  # YAML reads JSON too
    return doc if isinstance(doc, list) else [doc]


def _put_rules(args) -> int:
    rules = _yaml_list(args.file)
    return call_with_file(args, lambda c: as_printed([c.put_rule(args.tenant, rule) for rule in rules]))
