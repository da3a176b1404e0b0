"""The request and decision types under their first import path, kept for users and notebooks; they
live in router/domain/types.py."""

from router.domain.types import (Alert, BudgetMode, CacheAnswer, ChatMessage, Constraints, Context, Decision,
                                 FeedbackRecord, FeedbackRequest, LedgerEntry, Metadata, Reason, RouteRequest,
                                 RuleMatch)

__all__ = ["Alert", "BudgetMode", "CacheAnswer", "ChatMessage", "Constraints", "Context", "Decision", "FeedbackRecord",
           "FeedbackRequest", "LedgerEntry", "Metadata", "Reason", "RouteRequest", "RuleMatch"]
