"""End to end, cost control over gRPC: routing rules, budgets, and the spend reports.

One real server on a free port (`server` in conftest.py) serves every test of the
test_cost_control_e2e_*.py modules; each test uses tenants of its own, so one test's rules, budgets
and ledger never meet another's. This module holds what they share: the server's configuration,
the prompts, and how a request is made and a refusal caught.
"""

from __future__ import annotations

import grpc
import pytest

from router.domain.registry import Registry
from router.domain.types import ChatMessage, Constraints, Metadata, RouteRequest

REGISTRY = Registry.from_yaml()  # the packaged registry, which the server also uses
PREMIUM = frozenset(m for m in REGISTRY.ids if REGISTRY[m].tier == "premium")
SECURITY_PROMPT = "Audit this login handler for SQL injection vulnerabilities"
CHAT_PROMPT = "Summarise the plot of Hamlet in one short paragraph."

# The server's configuration. Budget tenants go economy at half their budget, so that no single
# non-premium call can jump from normal straight past the hard limit (at 500 output tokens the
# dearest mid model costs ~$0.0075; premium ones, ~$0.03+, never fit a $0.02 budget).
CONFIG = {
    "sqlite_synchronous": "NORMAL",
    "tenants": {
        "rules-admin": {
            "rules": [{
                "id": "from-config",
                "name": "legacy feature to the cheapest model",
                "conditions": [{"field": "feature", "op": "eq", "value": "legacy"}],
                "action": {"type": "route", "model": "gemini-2.0-flash"},
            }],
        },
        "budget-soft": {"budgets": [{"daily_usd": 0.02}], "economy_at": 0.5},
        "budget-strict": {"budgets": [{"daily_usd": 0.02}], "economy_at": 0.5, "security_overdraft": False},
        "budget-team": {"budgets": [{"team": "search", "daily_usd": 0.02}], "economy_at": 0.5},
        "budget-settle": {"budgets": [{"daily_usd": 5.0}]},
    },
}
BUDGET_OUTPUT_TOKENS = 500


def ask(tenant: str, text: str = CHAT_PROMPT, team: str = "", project: str = "", feature: str = "",
        **fields) -> RouteRequest:
    return RouteRequest(tenant, (ChatMessage("user", text),), metadata=Metadata(team, project, feature), **fields)


def refused(call, *args) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call(*args)
    return raised.value


# Premium is left out of the ledger traffic, so every call costs less than always-premium would.
CHEAPER = Constraints(allowed_models=("gpt-4o-mini", "gemini-2.0-flash", "claude-sonnet-4"))
