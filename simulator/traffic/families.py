"""What each category draws from: its profile, and the families that sit between two categories."""

from __future__ import annotations

from router.domain.categories import CATEGORIES, SECURITY_CRITICAL
from simulator.traffic.engineering import COMPLEX, DEBUG, DOCS, STANDARD
from simulator.traffic.everyday import CONVERSATION, FICTION, LOGIC, PROSE, SIMPLE
from simulator.traffic.family import Family, Profile, ambiguous
from simulator.traffic.security import SECURITY

PROFILES: dict[str, Profile] = {
    SECURITY_CRITICAL: SECURITY,
    "complex_implementation": COMPLEX,
    "standard_implementation": STANDARD,
    "analysis_debug": DEBUG,
    "documentation": DOCS,
    "simple_query": SIMPLE,
    "chat": CONVERSATION,
    "content": PROSE,
    "reasoning": LOGIC,
    "creative": FICTION,
}

# Prompts that a reasonable reader could file under either of two categories.
_AMBIGUOUS: tuple[Family, ...] = (
    ambiguous(("analysis_debug", SECURITY_CRITICAL),
              "Users sometimes see another user's {entities} right after logging in. Here's the session "
              "code; what's going on?\n\n{login_snippet}",
              "Right after login, some users briefly get someone else's {entities}. Session code below. "
              "[Any idea why?|What's causing it?]\n\n{login_snippet}",
              clauses=("We can't reproduce it locally.", "It started after we put a CDN in front of the app.",
                       "Explain the root cause, not just the fix.")),
    ambiguous(("analysis_debug", SECURITY_CRITICAL),
              "Our {framework} app throws {error} in the login handler when the {header} header is "
              "missing. Just a bug, or something worse?\n\n{login_snippet}",
              "When requests come in without {a_header} header, the login handler dies with {error}. "
              "Is that only a crash or also a risk?\n\n{login_snippet}",
              clauses=("Give a concrete fix, with code in {lang}.", "It happens a few hundred times a day.")),
    ambiguous(("standard_implementation", SECURITY_CRITICAL),
              "Write {a_framework} login endpoint that checks the password hash and sets a session cookie.",
              "Implement login in {framework}: verify the password against the stored hash, then issue a "
              "session cookie.",
              clauses=("Include {test_lib} tests.", "Lock the account after {k1} failed attempts.",
                       "Return the same error for unknown users and wrong passwords."), implicit=True),
    ambiguous(("standard_implementation", SECURITY_CRITICAL),
              "Add a password reset flow to our {framework} app: email a link, let the user choose a new "
              "password.",
              "Build password reset for {framework}: send a reset link by email and let the user set a "
              "new password.",
              clauses=("Links should expire after {k2} minutes.", "Include {test_lib} tests.",
                       "Don't reveal whether an email address has an account."), implicit=True),
    ambiguous(("documentation", "complex_implementation"),
              "Describe how {entity} sync works end to end between the {service} service, {queue} and {db}, "
              "including retries and partial failures.",
              "Explain, for the team wiki, the full path of {a_entity} sync through {service}, {queue} and "
              "{db}, and what happens on retries or partial failure.",
              clauses=("Describe the data flow in a form we can turn into a Mermaid diagram.",
                       "Point out where duplicates can happen.", "Suggest what you would change.")),
    ambiguous(("documentation", "complex_implementation"),
              "Write up a sharding scheme for the {table} table in {db} so the team can review it before "
              "we build it.",
              "Before we build it, put the sharding plan for {table} in {db} on paper for review.",
              clauses=("The table has {n_big} rows and grows {pct}% a month.", "Include the resharding procedure.",
                       "Keep it under {n_words} words.")),
    ambiguous(("analysis_debug", "standard_implementation"),
              "This returns the wrong total when {a_entity} has no {num_field}. Fix it:\n\n{snippet}",
              "Fix this so {entities} with no {num_field} don't break the totals:\n\n{snippet}",
              clauses=("Add a test that reproduces it.", "Keep the function signature.")),
    ambiguous(("analysis_debug", "complex_implementation"),
              "Our {queue} consumers fall behind every evening. Find out why and redesign the consumer "
              "group so it keeps up with {n_big} messages an hour.",
              "Every evening the {queue} consumers lag. Diagnose it and rework the consumer setup to handle "
              "{n_big} messages an hour.",
              clauses=("Messages for the same {entity} must stay in order.", "We run {n} consumers today.",
                       "Budget is tight: everything should fit on {n} small instances.")),
    ambiguous(("simple_query", "reasoning"), "Is {n_prime} a prime number?", "Is {n_prime} prime?"),
    ambiguous(("simple_query", "reasoning"),
              "How many handshakes are there if {k2} people each shake hands once with everyone else?",
              "{k2} people, everyone shakes everyone's hand once. How many handshakes?",
              clauses=("Show the formula.",)),
    ambiguous(("simple_query", "standard_implementation"),
              "How do I reverse a list in {plang}?", "Reversing a list in {plang}, how?",
              clauses=("In place, if possible.",)),
    ambiguous(("chat", "creative"), "Tell me a joke about {hobby}.", "Got a joke about {hobby}?",
              clauses=("Keep it clean.",)),
    ambiguous(("chat", "creative"), "I'm bored, make up a riddle for me.", "Give me a riddle to pass the time?"),
    ambiguous(("content", "creative"),
              "Rewrite this product description so it's punchier:\n\n{product_blurb}",
              "Make this product blurb snappier:\n\n{product_blurb}",
              clauses=("Keep it under {n_words} words.", "Keep the warranty details.")),
    ambiguous(("content", "creative"),
              "Write a short announcement for the {company} newsletter about our new {feature} feature.",
              "Newsletter blurb for {company}: we just launched {feature}. Write it.",
              clauses=("Use {a_tone} tone.", "Keep it under {n_words} words.")),
    ambiguous(("content", "documentation"),
              "Turn these notes about the {service} migration into a page for the team wiki:\n\n{notes}",
              "Make a wiki page out of these {service} migration notes:\n\n{notes}",
              clauses=("Use Markdown headings.", "Put open questions at the end.")),
    ambiguous(("analysis_debug", "reasoning"),
              "Our {metric} dropped {pct}% after the release while traffic rose {pct2}%. What's the most "
              "likely explanation?",
              "Traffic is up {pct2}% since the release but {metric} is down {pct}%. How do you explain that?",
              clauses=("State any assumptions you make.", "Say what data would settle it.")),
    ambiguous(("documentation", "analysis_debug"),
              "Explain what this {lang} code does, step by step:\n\n{snippet}",
              "Walk me through what this {lang} code is doing:\n\n{snippet}",
              clauses=("I'm new to {lang}.", "Point out anything that looks wrong.")),
    ambiguous(("reasoning", "creative"),
              "Come up with a fair way for {n} friends to split a holiday house with rooms of different "
              "sizes.",
              "{n} friends, one holiday house, rooms of different sizes. Suggest a fair way to split it.",
              clauses=("The biggest room has its own bathroom.", "The total rent is ${budget}.")),
)

AMBIGUOUS_BY_CATEGORY: dict[str, tuple[Family, ...]] = {
    category: tuple(f for f in _AMBIGUOUS if category in f.categories) for category in CATEGORIES
}
