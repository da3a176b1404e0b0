"""`banditroute route` and `banditroute feedback`: ask a running service for a decision, and report how
the routed call went."""

from __future__ import annotations

import argparse
import sys

from router.cli.remote import add_addr_option, add_tls_options, call_server


def add_commands(commands: argparse._SubParsersAction) -> None:
    _add_route(commands)
    _add_feedback(commands)


def _add_route(commands) -> None:
    p = commands.add_parser("route", help="ask a running service which model should answer a prompt",
                            description="Route one prompt and print the decision as JSON.")
    add_addr_option(p)
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
    return call_server(args.addr, lambda client: client.route(request))


def _add_feedback(commands) -> None:
    p = commands.add_parser("feedback", help="report the quality of a routed call",
                            description="Send feedback for a decision and print the reward learned.")
    add_addr_option(p)
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
    return call_server(args.addr, lambda client: client.feedback(request))
