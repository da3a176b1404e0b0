"""The task categories the classifier assigns, and what each implies for routing.

The first six are seed 002's decision-tree categories; the last four are seed 003's broad
categories for prompts that are not software work.
"""

SECURITY_CRITICAL = "security_critical"

CATEGORIES: tuple[str, ...] = (
    SECURITY_CRITICAL,
    "complex_implementation",
    "standard_implementation",
    "analysis_debug",
    "documentation",
    "simple_query",
    "chat",
    "content",
    "reasoning",
    "creative",
)

# Typical answer length when the caller gives none: output-heavy work writes more (seed 002).
DEFAULT_OUTPUT_TOKENS: dict[str, int] = {
    SECURITY_CRITICAL: 1200,
    "complex_implementation": 1600,
    "standard_implementation": 900,
    "analysis_debug": 700,
    "documentation": 800,
    "simple_query": 150,
    "chat": 120,
    "content": 500,
    "reasoning": 600,
    "creative": 700,
}

# Which column of the seeds' per-model quality table (seed 003) speaks for each category.
QUALITY_COLUMN: dict[str, str] = {
    SECURITY_CRITICAL: "coding",
    "complex_implementation": "coding",
    "standard_implementation": "coding",
    "analysis_debug": "analysis",
    "documentation": "content",
    "simple_query": "chat",
    "chat": "chat",
    "content": "content",
    "reasoning": "reasoning",
    "creative": "creative",
}

# How long a cached answer may be served, in seconds (seed 003's per-task TTLs, mapped onto these
# categories). 0 means never cached: an idea or a story should come out fresh each time, a worked
# calculation is cheap to get wrong by matching a near twin with other numbers, and a security
# answer must come from a premium model, not from a neighbour's question.
DEFAULT_CACHE_TTL_SECONDS: dict[str, int] = {
    SECURITY_CRITICAL: 0,
    "complex_implementation": 3600,
    "standard_implementation": 3600,
    "analysis_debug": 3600,
    "documentation": 86400,
    "simple_query": 3600,
    "chat": 60,
    "content": 3600,
    "reasoning": 0,
    "creative": 0,
}
