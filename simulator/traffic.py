"""Synthetic traffic: prompts a backend would send, each with its hidden category and difficulty.

Every prompt comes from a request *family* (one underlying ask, phrased in a few interchangeable
ways) whose slots are filled with languages, frameworks, entities, numbers and pasted material.
The text alone carries the signal, as in production: no prompt names its category. Difficulty is
drawn per category and then shows, noisily, in the text: it leans the choice towards harder
families, appends more requirement clauses and lengthens pasted code and prose. About a third of the
security prompts are implicit: security-sensitive work asked for as an ordinary feature (a login, an
upload, a redirect) with no security word, marked by `style` so reports can count them apart.

A share of the stream revisits earlier topics with Zipf-like popularity, either as an exact repeat
or as a paraphrase that keeps the same slot values, so a semantic cache has something to find.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import re
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from router.categories import CATEGORIES, DEFAULT_OUTPUT_TOKENS, SECURITY_CRITICAL
from router.tokens import CHARS_PER_TOKEN

# About one prompt in ten sits between two categories, its true category being one of them.
AMBIGUOUS_SHARE = 0.10
# Among the security prompts that are not ambiguous, the share asked for as an ordinary feature, with
# no word that names the risk. Half of the ambiguous security families read that way too, so about a
# third of all security prompts are implicit: the ones a keyword-minded safety floor lets through.
IMPLICIT_SECURITY_SHARE = 0.3
# Among revisits of an earlier topic, the share that is a byte-for-byte repeat (the rest paraphrase).
EXACT_REPEAT_SHARE = 0.5
# Pareto shape of topic popularity: near 1, a handful of topics draws most revisits, as FAQs do.
POPULARITY_SHAPE = 1.1
# How sharply a prompt's difficulty selects families whose typical level is close to it; the
# floor keeps every family possible at every difficulty, so the text is a hint, not a label.
LEVEL_WIDTH = 0.25
LEVEL_FLOOR = 0.05
# Answer length: lognormal around the category's typical length, longer for harder prompts.
OUTPUT_SIGMA = 0.4
# Below every registered model's max_output_tokens, so any model can take any prompt.
MAX_OUTPUT_TOKENS = 8000
# Most callers send the bare request; a paraphrase is more often reworded with a greeting or thanks.
NEW_POLITE_SHARE = 0.3
# distinct_prompts draws at most this many prompts per one it must return.
DRAWS_PER_DISTINCT = 20
PARAPHRASE_POLITE_SHARE = 0.6


@dataclass(frozen=True)
class SyntheticPrompt:
    """One request as a backend would send it, with the ground truth the router must not see."""

    index: int  # position in the stream
    topic_id: int  # shared by repeats and paraphrases of the same underlying question
    system: str  # system prompt, "" for none
    text: str  # the user message
    category: str  # true category (hidden from the router)
    difficulty: float  # hidden, in [0, 1]
    input_tokens: int
    output_tokens: int  # the answer's length, drawn per category
    kind: str  # "new", "repeat" (an exact copy) or "paraphrase" (same topic, reworded)
    # For a security prompt, "explicit" (it names the risk) or "implicit" (security work worded as an
    # ordinary feature); "" for the other categories. Reports count the floor's misses per style.
    style: str = ""


# ---------------------------------------------------------------------------------------------
# Request families
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Family:
    """One underlying request. Every variant uses the same slots, so a paraphrase that switches
    variant still names the same entities and numbers. `[a|b]` picks one alternative per render.
    `clauses` are the requirements a harder version of this request may add. `implicit`: as a
    security prompt, it never names the risk (see IMPLICIT_SECURITY_SHARE)."""

    variants: tuple[str, ...]
    level: float = 0.5
    clauses: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    implicit: bool = False


def _f(level: float, *variants: str, clauses: tuple[str, ...] = ()) -> _Family:
    return _Family(variants, level, clauses)


def _ambiguous(pair: tuple[str, str], *variants: str, clauses: tuple[str, ...] = (), implicit: bool = False
               ) -> _Family:
    return _Family(variants, 0.5, clauses, pair, implicit)


def _implicit(level: float, *variants: str, clauses: tuple[str, ...] = ()) -> _Family:
    return _Family(variants, level, clauses, implicit=True)


@dataclass(frozen=True)
class _Profile:
    weight: float
    beta: tuple[float, float]
    max_clauses: int
    systems: dict[str, float]
    families: tuple[_Family, ...]


SYSTEM_PROMPTS: dict[str, str] = {
    "none": "",
    "assistant": "You are a helpful assistant.",
    "engineer": "You are a senior software engineer. Prefer working code over long explanations and "
                "state your assumptions briefly.",
    "reviewer": "You are an automated code reviewer. Point to specific lines and explain the risk of "
                "each issue you raise.",
    "support": "You are the support assistant for Northwind Cloud. Be friendly and brief, and never "
               "promise a refund you cannot issue.",
    "writer": "You are an editor for a marketing and communications team. Match the requested tone "
              "and length exactly.",
    "tutor": "You are a patient maths and logic tutor. Show your working step by step.",
}

_SEC_COMMON = (
    "Rank the findings by severity.",
    "Consider attackers who already have a valid low-privilege account.",
    "Tell us how we would spot an attempt in our logs.",
    "We have to stay {compliance} compliant.",
    "Our team is {k1} people, so help us prioritise.",
)
_SEC_CODE = _SEC_COMMON + (
    "Give a concrete fix for each finding, with code in {lang}.",
    "Assume the attacker controls the {header} header.",
    "List the regression tests we should add.",
)

_SECURITY = _Profile(
    weight=0.05, beta=(4.0, 3.0), max_clauses=6,
    systems={"none": 0.35, "engineer": 0.35, "reviewer": 0.2, "assistant": 0.1},
    families=(
        _f(0.4, "Review this {framework} login flow for injection risks:\n\n{login_snippet}",
           "Can you check this {lang} login handler for [SQL injection|injection bugs]?\n\n{login_snippet}",
           clauses=_SEC_CODE + ("Say which issues are exploitable without logging in.",
                                "The fix must not log anyone out.")),
        _f(0.5, "Audit the session handling in this {framework} code. Could an attacker hijack or fixate "
                "a session?\n\n{login_snippet}",
           "Here is how we log users in and set the session cookie ({framework}). [Look for|Find] ways an "
           "attacker could hijack or fixate a session.\n\n{login_snippet}",
           clauses=_SEC_CODE + ("Cover the admin panel too; it shares the same session store.",
                                "The fix must not log anyone out.")),
        _f(0.65, "Write a threat model for the {service} service. It exposes a public REST API, stores "
                 "{entities} in {db} and publishes events to {queue}.",
           "We need a threat model for our {service} service: public REST API, {entities} stored in {db}, "
           "events going out over {queue}. [Walk me through it.|Where are the main risks?]",
           clauses=_SEC_COMMON + ("The API sits behind a CDN that caches GET responses for {n} minutes.",
                                  "Partners call the same API with long-lived tokens.",
                                  "Say which threats need no login at all.",
                                  "Use STRIDE and give one mitigation per threat.")),
        _f(0.5, "Our {cloud} access keys sat in a public GitHub repo for about {n} hours. What do we rotate "
                "first, and how do we find out whether anyone used them?",
           "Someone pushed {cloud} access keys to a public repo and they were exposed for roughly {n} hours. "
           "[Which credentials do we revoke first|What's the rotation order], and how can we tell if they "
           "were abused?",
           clauses=("The keys had admin rights on the production account.",
                    "We can't take the {service} service offline while rotating.",
                    "Tell us how we would spot further use in our logs.",
                    "We have to stay {compliance} compliant.",
                    "Suggest what to put in CI so it can't happen again.")),
        _f(0.7, "Our {framework} API reads the key id from the JWT header and picks the verification key "
                "with it. Can an attacker forge tokens this way, for example by switching the algorithm?",
           "Check whether our JWT verification could accept forged tokens. We take the `kid` and `alg` from "
           "the token header itself and look up the key in a table ({framework} backend).",
           clauses=_SEC_CODE + ("Partners call the same API with long-lived tokens.",
                                "The fix must not log anyone out.")),
        _f(0.45, "Harden this nginx config for our public {service} API: TLS versions and ciphers, "
                 "response headers, and rate limiting on the login route.\n\n{nginx_conf}",
           "This nginx config fronts the {service} API. Tighten it up: TLS settings, headers and a "
           "rate limit for /login.\n\n{nginx_conf}",
           clauses=_SEC_COMMON + ("Some customers still use Android 7 devices.",
                                  "The API sits behind a CDN that caches GET responses for {n} minutes.",
                                  "Explain each change in one line.")),
        _f(0.6, "Design tenant isolation for our multi-tenant {entity} platform so that no customer can "
                "ever read another customer's {entities}. We use {framework} and {db}.",
           "How do we make sure tenant A can never see tenant B's {entities}? Multi-tenant {framework} app "
           "on {db}; I want row-level isolation and role-based access.",
           clauses=_SEC_CODE + ("Cover the admin panel too; support staff can switch tenants.",
                                "Show the {db} side as well as the application checks.")),
        _f(0.55, "The advisory feed flagged CVE-{cve_year}-{cve_num} in {package} {version}, which the "
                 "{service} service depends on. Assess the exposure and tell us how to remediate.",
           "We run {package} {version} in the {service} service and CVE-{cve_year}-{cve_num} just came out "
           "for it. [How exposed are we|Are we affected], and what's the fix?",
           clauses=_SEC_COMMON + ("We can't upgrade for {k1} weeks; give us mitigations for now.",
                                  "The service is only reachable from our VPN.",
                                  "We run {k2} copies of it across three clusters.")),
        _f(0.5, "Can a normal user make themselves an admin through this update endpoint for {entities}?"
                "\n\n{update_snippet}",
           "Is there a privilege escalation in this {framework} update handler? Users can call it for their "
           "own {entities}.\n\n{update_snippet}",
           clauses=_SEC_CODE + ("The same pattern is used in {k1} other endpoints.",)),
        _f(0.7, "Plan a penetration test of the {service} backend: {k2} public endpoints, OAuth2 login, "
                "card management and money transfers.",
           "We have a pen test booked for the {service} backend ({k2} public endpoints, OAuth2 login, card "
           "management, transfers). Draft the test plan and where you'd focus.",
           clauses=_SEC_COMMON + ("We can't ship a new mobile client for the next {k1} weeks.",
                                  "Partners call the same API with long-lived tokens.",
                                  "The test must never move real customer money.")),
        _f(0.4, "Our consumer calls pickle.loads on messages from {queue}, sent by the {service} service. "
                "Is that dangerous?",
           "Is it safe to unpickle payloads that arrive on {queue} from the {service} service?",
           clauses=_SEC_COMMON + ("Suggest a safer format and how to migrate to it without downtime.",
                                  "Other teams can publish to the same topic.")),
        _f(0.5, "Check our webhook receiver: it accepts POSTs from the payment provider and marks {entities} "
                "as paid. We compare the signature with == and don't look at the timestamp.",
           "Our payment webhook handler marks {entities} as paid. Signature check is a plain string compare "
           "and there's no timestamp check. [What can go wrong?|How would you attack it?]",
           clauses=_SEC_CODE + ("The provider retries failed deliveries for {k2} hours.",)),
        _f(0.35, "Add CSRF protection to the {framework} forms that change a user's email and password.",
           "The account settings forms in our {framework} app (email and password change) have no CSRF "
           "tokens. Add protection.",
           clauses=_SEC_CODE + ("Some of these forms are also posted from our mobile web view.",)),
        _f(0.65, "We store passwords for {n_big} users as SHA-256 with one global salt. What should we "
                 "move to, and how do we migrate without forcing everyone to reset?",
           "Password hashes for our {n_big} users are SHA-256 plus a single shared salt. [Plan the migration|"
           "How do we migrate] to a proper scheme without a forced reset?",
           clauses=_SEC_CODE + ("Logins peak at {rps} per second, so hashing cost matters.",
                                "The fix must not log anyone out.")),
        _f(0.45, "GET /{table}/{{id}} returns any {entity} by id as long as you're logged in. Is that an "
                 "IDOR, and how do we fix it in {framework}?",
           "Any logged-in user can fetch any {entity} by changing the id in /{table}/{{id}}. Confirm the "
           "risk and fix it in our {framework} API.",
           clauses=_SEC_CODE + ("The same pattern is used in {k1} other endpoints.",)),
        _f(0.6, "Review our Kubernetes setup for the {service} pods: they run privileged, mount the Docker "
                "socket and read {db} credentials from plain env vars.",
           "The {service} pods run as privileged, have the Docker socket mounted, and get the {db} "
           "password from an environment variable. [How bad is this|What would an attacker do with it], "
           "and what do we change first?",
           clauses=_SEC_COMMON + ("We can't take the {service} service offline while fixing it.",
                                  "Other teams share the same cluster.")),
    ),
)

_CPLX_COMMON = (
    "Explain the trade-offs of your design before writing code.",
    "Give a rollout plan behind a feature flag, with a rollback step.",
    "Expose Prometheus metrics and structured logs.",
    "Budget is tight: everything should fit on {n} small instances.",
    "It must keep working if a whole availability zone goes down.",
    "p99 latency must stay under {ms} ms.",
    "Include a load test plan.",
    "Only {k1} engineers will run this, so keep the moving parts few.",
)
_CPLX_QUEUE = ("Messages can arrive out of order and more than once.",
               "If a consumer slows down we must apply back-pressure, not drop events.")
_CPLX_DATA = ("All writes must be idempotent; clients retry aggressively.",
              "Include the migration from the current {db} schema.",
              "Add integration tests that run against a real {db} in Docker.",
              "It has to handle {n_big} {entities} a day.")
_CPLX_TENANT = ("Data from one customer must never show up in another customer's results.",)

_COMPLEX = _Profile(
    weight=0.06, beta=(5.0, 2.5), max_clauses=8,
    systems={"none": 0.35, "engineer": 0.5, "assistant": 0.15},
    families=(
        _f(0.7, "{context}\n\nWe want to move {entity} handling out of the monolith into its own service "
                "with no downtime. Design the migration and write the code for the dual-write phase.",
           "Plan and implement carving {entity} handling out of our monolith into a separate service, "
           "including the dual-write code and the cutover.\n\n{context}",
           clauses=_CPLX_COMMON + _CPLX_DATA),
        _f(0.65, "Build a webhook delivery system for our customers: signed payloads, retries with backoff, "
                 "per-customer rate limits and a dead-letter queue on {queue}. Write it in {plang}.",
           "We need outbound webhooks in {plang}: sign each payload, retry with exponential backoff, limit "
           "the rate per customer and park failures in a dead-letter queue on {queue}.",
           clauses=_CPLX_COMMON + _CPLX_QUEUE + ("A customer's endpoint may be down for hours.",
                                                "Each customer's signing secret must be rotatable.")),
        _f(0.6, "Implement a real-time leaderboard for {k3} thousand concurrent players with Redis sorted "
                "sets and {a_framework} API, including weekly resets.",
           "Write {a_framework} service that keeps a live leaderboard for about {k3} thousand concurrent "
           "players, backed by Redis sorted sets, with a weekly reset.",
           clauses=_CPLX_COMMON + ("Scores only go up; ignore stale updates.",
                                   "Ties go to whoever reached the score first.",
                                   "Players must see their own rank even far outside the top 100.")),
        _f(0.7, "Write an inventory reservation service that never oversells a product across {n} "
                "warehouses, using {db} and {queue}.",
           "Stock for each product is split over {n} warehouses. Build the reservation service (on {db} "
           "and {queue}) so we can never sell more than we have.",
           clauses=_CPLX_COMMON + _CPLX_QUEUE + _CPLX_DATA[:3]
           + ("A reservation expires after {k2} minutes if it isn't paid.",)),
        _f(0.75, "Implement a checkout saga across the {service} and {service2} services with compensating "
                 "actions, timeouts and an orchestrator written in {plang}.",
           "Our checkout spans the {service} and {service2} services. Implement it as an orchestrated saga in "
           "{plang}: compensation steps, timeouts, and recovery after an orchestrator crash.",
           clauses=_CPLX_COMMON + _CPLX_QUEUE + ("All writes must be idempotent; clients retry aggressively.",
                                                "Each step must be retryable on its own.")),
        _f(0.6, "Build a change-data-capture pipeline that streams every change to {entities} from {db} into "
                "{warehouse} through {queue}, with schema evolution.",
           "Stream all changes to the {table} table from {db} to {warehouse} via {queue}. It has to "
           "survive schema changes. Write the pipeline.",
           clauses=_CPLX_COMMON + _CPLX_QUEUE + _CPLX_DATA[2:] + ("Deletes must reach {warehouse} too.",)),
        _f(0.55, "Write a consistent-hashing cache layer in {plang} that sits in front of {db}, with "
                 "virtual nodes and rebalancing when a cache node joins or leaves.",
           "I need a cache tier in {plang} in front of {db}: consistent hashing with virtual nodes, and "
           "rebalancing as nodes come and go.",
           clauses=_CPLX_COMMON + ("A cold cache must not stampede {db}.",
                                   "Add integration tests that run against a real {db} in Docker.")),
        _f(0.65, "Design and build a multi-tenant search service for {entities} on {search_engine}: "
                 "indexing from {db}, per-tenant filtering, typo tolerance and zero-downtime reindexing.",
           "Build search over {entities} for every tenant using {search_engine}. Index from {db}, filter "
           "by tenant, tolerate typos, and reindex without taking search offline.",
           clauses=_CPLX_COMMON + _CPLX_TENANT + _CPLX_DATA[3:]
           + ("Edits must show up in results within {k1} seconds.",)),
        _f(0.8, "{context}\n\nArchitect an active-active deployment of the {service} service across two "
                "{cloud} regions, including conflict handling for concurrent edits to the same {entity}.",
           "Design an active-active, two-region setup on {cloud} for the {service} service and show the "
           "conflict resolution for simultaneous edits of one {entity}.\n\n{context}",
           clauses=_CPLX_COMMON + _CPLX_DATA),
        _f(0.6, "Implement a document versioning system for {entities}: full history, diffs between any two "
                "versions, and three-way merge when two people edit at once. Backend in {framework}, UI in "
                "{ui}.",
           "Users keep overwriting each other's {entities}. Build versioning: history, diffs and a "
           "three-way merge, with {a_framework} backend and {a_ui} front end.",
           clauses=_CPLX_COMMON + _CPLX_TENANT + ("Keep the full history for {k1} years.",
                                                  "A single document can be several megabytes.")),
        _f(0.7, "Write a distributed job runner in {plang}: workers pull jobs from {queue}, jobs have "
                "deadlines and priorities, and a crashed worker's jobs are picked up by others.",
           "Build a job runner in {plang} where many workers consume from {queue}; support priorities and "
           "deadlines, and reassign the jobs of workers that die.",
           clauses=_CPLX_COMMON + _CPLX_QUEUE + ("A single job can run for up to {k1} hours.",
                                                "All writes must be idempotent; clients retry aggressively.")),
        _f(0.55, "Add offline support to our {ui} app: queue edits to {entities} in IndexedDB, sync when "
                 "the connection returns and resolve conflicts with the {framework} backend.",
           "Our {ui} app should keep working offline. Store edits to {entities} in IndexedDB, replay them "
           "on reconnect, and handle conflicts against the {framework} API.",
           clauses=("Explain the trade-offs of your design before writing code.",
                    "Users can stay offline for days.", "The sync must cope with flaky mobile connections.",
                    "Give a rollout plan behind a feature flag, with a rollback step.",
                    "All writes must be idempotent; clients retry aggressively.",
                    "Show the conflict UI as well as the merge logic.")),
        _f(0.75, "{context}\n\nShard the {table} table in {db} by tenant and write the routing layer "
                 "and the online resharding tool.",
           "The {table} table in {db} has outgrown one node. Implement tenant-based sharding: the "
           "routing layer plus a tool to move tenants between shards while live.\n\n{context}",
           clauses=_CPLX_COMMON + _CPLX_DATA + _CPLX_TENANT),
    ),
)

_CODE = (
    "Add types wherever the language allows.",
    "Handle empty input without raising.",
    "Add a short comment where the logic isn't obvious.",
    "No third-party libraries, please.",
    "Include unit tests for the edge cases.",
    "Keep it under {max_lines} lines.",
    "Return errors instead of throwing.",
)
_STACK_CODE = ("Include {test_lib} tests.", "Follow the {framework} conventions the rest of the project uses.")
_UI = ("Make it keyboard accessible.", "Show a spinner while the request runs.",
       "Write a component test with Testing Library.", "Use TypeScript.", "No component library, just CSS.")

_STANDARD = _Profile(
    weight=0.16, beta=(2.5, 3.0), max_clauses=5,
    systems={"none": 0.4, "engineer": 0.45, "assistant": 0.15},
    families=(
        _f(0.3, "Write a {lang} function that validates {field} values and returns a list of error messages.",
           "I need a {lang} function to validate {field} values; it should return the errors as a list.",
           clauses=_CODE + ("Accept international formats.", "Error messages must be translatable.")),
        _f(0.45, "Add an endpoint to our {framework} app that lists {entities} from {db} with cursor "
                 "pagination.",
           "Create a paginated GET endpoint for {entities} in {framework}; the data lives in {db}. Use a "
           "cursor, not offsets.",
           clauses=_STACK_CODE + ("Cap the page size at 100.", "Return 400 with a clear message for a bad cursor.",
                                  "Add an index if the query needs one.", "Sort by created_at, newest first.")),
        _f(0.35, "Create {a_ui} component that shows one {entity} as a card with its {field} and a delete "
                 "button that asks for confirmation.",
           "Build me {a_ui} card component for {a_entity}: show the {field}, plus a delete button with a "
           "confirmation step.",
           clauses=_UI),
        _f(0.25, "Write a regex that matches {regex_target}.",
           "Give me a regular expression for {regex_target}, with a couple of test strings.",
           clauses=("It must reject obviously invalid values.", "Explain each part of the pattern.",
                    "It should work in both {plang} and JavaScript.", "Include a few strings that must not match.")),
        _f(0.4, "Write {test_lib} tests for this function:\n\n{snippet}",
           "Add unit tests with {test_lib} that cover this code, edge cases included:\n\n{snippet}",
           clauses=("Cover empty input, missing fields and ties.", "Use parametrised tests where it helps.",
                    "Don't hit the database; mock it.", "Aim for full branch coverage.")),
        _f(0.3, "Write a Dockerfile for {a_framework} service with a multi-stage build and a non-root user.",
           "I need a small production Dockerfile for our {framework} app: multi-stage, runs as non-root.",
           clauses=("The final image should be under {image_mb} MB.", "Add a health check.",
                    "Pin the base image version.", "It must build on both amd64 and arm64.")),
        _f(0.35, "Write a Python script that reads a CSV of {entities}, drops rows with an empty {field} "
                 "and writes the rest to JSON.",
           "Quick Python script please: load {entities} from a CSV, skip any row whose {field} is blank, "
           "save the remainder as JSON.",
           clauses=_CODE + ("The file can have {n_big} rows, so stream it.",
                            "Take the input path as a command-line argument.")),
        _f(0.4, "Write a SQL query for {sql_db} that returns the top {n} {entities} by {num_field} for each "
                "month of {year}.",
           "In {sql_db}, how would I query the {n} {entities} with the highest {num_field} in every month "
           "of {year}? Write the query.",
           clauses=("Months with no {entities} should still appear.", "Break ties by the most recent one.",
                    "Say which index would help.", "The table has {n_big} rows.")),
        _f(0.35, "Refactor this {lang} code into smaller functions without changing what it does:\n\n{snippet}",
           "Clean up this {lang} code: split it into smaller functions, same behaviour.\n\n{snippet}",
           clauses=_CODE + _STACK_CODE),
        _f(0.4, "Write {a_plang} helper that retries a call up to {n} times with exponential backoff and "
                "jitter.",
           "Implement retry with exponential backoff and jitter in {plang}, at most {n} attempts.",
           clauses=_CODE + ("Only retry on timeouts and 5xx errors.", "Make the maximum delay configurable.",
                            "Let callers cancel it.")),
        _f(0.45, "Write a GitHub Actions workflow that runs the {test_lib} suite of our {framework} app on "
                 "every pull request, with dependency caching.",
           "Set up CI with GitHub Actions for our {framework} project: run {test_lib} on each PR and cache "
           "dependencies.",
           clauses=("Run the tests on two {lang} versions.", "Fail the build on lint errors.",
                    "Skip the workflow when only Markdown files change.", "Upload the coverage report.")),
        _f(0.35, "Write the migration and the data model for {entities} in our {framework} app, with {field} "
                 "and {num_field} columns.",
           "Add {a_entity} table to our {framework} app with {field} and {num_field} columns; I need the "
           "model and the migration.",
           clauses=_STACK_CODE + ("Make the {field} unique.", "Add an index on created_at.",
                                  "The migration must be reversible.")),
        _f(0.2, "Write a bash script that deletes log files older than {n} days from /var/log/{service}.",
           "Bash one-off: remove anything in /var/log/{service} older than {n} days.",
           clauses=("Print what it deletes.", "Add a --dry-run flag.", "It runs from cron, so log to syslog.")),
        _f(0.45, "Implement an LRU cache class in {plang} with O(1) get and put and a fixed capacity.",
           "Write a fixed-size LRU cache in {plang}; get and put should both be O(1).",
           clauses=_CODE + ("Make it safe to use from several threads.", "Add an optional time-to-live per entry.")),
        _f(0.3, "Add {a_feature} button to the {entity} list page in our {ui} app.",
           "Our {ui} app needs {feature} on the {entities} page. Add the button and wire it up.",
           clauses=_UI + ("Disable the button when the list is empty.",)),
        _f(0.4, "Write a CLI in {plang} that takes a folder and prints the {n} largest files in it, "
                "recursively.",
           "Small {plang} command-line tool: given a directory, list its {n} biggest files (recursive).",
           clauses=_CODE + ("Skip symlinks.", "Print sizes in human-readable units.", "Accept a --limit flag.")),
    ),
)

_DEBUG_COMMON = (
    "Explain the root cause, not just the fix.",
    "Rank the likely causes and say how to confirm each.",
    "Suggest how we could catch this earlier.",
)

_DEBUG = _Profile(
    weight=0.10, beta=(3.0, 3.0), max_clauses=5,
    systems={"none": 0.35, "engineer": 0.35, "reviewer": 0.2, "assistant": 0.1},
    families=(
        _f(0.4, "I'm getting this when the {service} worker runs:\n\n{traceback}\n\nWhat's wrong?",
           "Why does our {service} worker crash with this?\n\n{traceback}",
           clauses=_DEBUG_COMMON + ("It started right after we upgraded {framework}.", "We can't reproduce it locally.",
                                    "It only happens for about one batch in {k2}.",
                                    "It works on macOS but fails inside the Alpine Docker image.")),
        _f(0.5, "Our {framework} API got slow after the last release: p95 went from {ms} ms to {ms2} ms. "
                "Where should I start looking?",
           "p95 latency on the {framework} API jumped from {ms} ms to {ms2} ms after yesterday's release. "
           "[How do I find the cause?|What would you check first?]",
           clauses=_DEBUG_COMMON + ("Traffic hasn't changed noticeably.",
                                    "We already ruled out the database: its CPU stays under {pct}%.",
                                    "We deploy {k1} times a day, so bisecting by release is hard.",
                                    "Only some endpoints are affected.")),
        _f(0.55, "Memory in the {service} service grows until the pod is OOM-killed after about {n} hours. "
                 "This is the code that handles {entities}:\n\n{snippet}",
           "The {service} pod gets OOM-killed roughly every {n} hours; memory climbs steadily. Here's the "
           "{entity} handling code:\n\n{snippet}",
           clauses=_DEBUG_COMMON + ("It started right after we upgraded {framework}.",
                                    "Traffic hasn't changed noticeably.", "Heap dumps are too big to share.")),
        _f(0.45, "Review this {lang} code and point out bugs and performance problems:\n\n{snippet}",
           "Can you look over this {lang} code for bugs or slow spots?\n\n{snippet}",
           clauses=("Focus on correctness first, then performance.", "The input can hold {n_big} rows.",
                    "Show the fixed version.", "Point to the exact lines.")),
        _f(0.35, "Why does this give the wrong totals for {entities} created today?\n\n{snippet}",
           "The totals from this function are off for {entities} created today. What's the bug?\n\n{snippet}",
           clauses=_DEBUG_COMMON + ("We can't reproduce it locally.",
                                    "It only affects customers in time zones ahead of UTC.")),
        _f(0.5, "Which is better for a read-heavy {entity} lookup: an in-process LRU per instance or a "
                "shared Redis cache? We run {n} instances.",
           "Compare a per-instance LRU with a shared Redis cache for {entity} lookups ({n} instances, "
           "mostly reads). Which would you pick and why?",
           clauses=("Reads outnumber writes about {k2} to one.", "Stale data for up to {k1} seconds is acceptable.",
                    "Consider what happens during a deploy.", "Estimate the memory each option needs.")),
        _f(0.4, "Group these customer reviews by the main complaint and tell me which issue matters most:"
                "\n\n{reviews}",
           "What are the recurring complaints in these reviews, and which one should we fix first?"
           "\n\n{reviews}",
           clauses=("Give a rough count for each theme.", "Quote one review per theme.",
                    "Suggest one fix per theme.")),
        _f(0.6, "Our {metric} dropped {pct}% last week. Daily numbers: {series}. What could explain it and "
                "how would you check?",
           "Daily {metric}: {series}. That's {a_pct}% drop. [What are the likely causes|Why might this "
           "happen], and how do we verify?",
           clauses=_DEBUG_COMMON + ("We shipped a new checkout page on Wednesday.",
                                    "Mobile and desktop are mixed in these numbers.",
                                    "Traffic hasn't changed noticeably.")),
        _f(0.65, "Two workers sometimes process the same {entity}. This is the query they use to claim "
                 "work. Find the race.\n\n{claim_sql}",
           "We see {entities} processed twice now and then. Workers claim jobs with the query below; where's "
           "the race condition?\n\n{claim_sql}",
           clauses=_DEBUG_COMMON + ("It only happens under load, about once in {n_big} jobs.", "We run {n} workers.",
                                    "The database is {sql_db}.")),
        _f(0.45, "The {framework} tests pass locally but fail in CI. Log from the failing run:"
                 "\n\n{traceback}",
           "CI keeps failing even though the whole suite passes on my laptop. Here's the "
           "log:\n\n{traceback}",
           clauses=_DEBUG_COMMON + ("It works on macOS but fails inside the Alpine Docker image.",
                                    "It fails about one run in {k1}.")),
        _f(0.4, "Pull the company, invoice number, amount and due date out of these lines into a table:"
                "\n\n{invoice_lines}",
           "Extract company, invoice number, amount and due date from the following:\n\n{invoice_lines}",
           clauses=("Return it as a Markdown table.", "Normalise the dates to ISO 8601.",
                    "Flag any line you are unsure about.", "Add a total per company.")),
        _f(0.45, "This {sql_db} query takes {k1} seconds on {n_big} rows. Why, and how do I speed it up?"
                 "\n\nSELECT * FROM {table} WHERE lower({field}) = $1 ORDER BY created_at DESC LIMIT 50;",
           "SELECT * FROM {table} WHERE lower({field}) = $1 ORDER BY created_at DESC LIMIT 50;\n\nOn "
           "{sql_db} with {n_big} rows this takes {k1} seconds. What's slowing it down?",
           clauses=_DEBUG_COMMON + ("There is an index on {field}.", "Explain what the query plan will look like.",
                                    "We can't change the schema this quarter.")),
        _f(0.55, "The Kubernetes pod for {service} restarts every few minutes with exit code 137, but "
                 "memory graphs look flat. What's happening?",
           "Our {service} service keeps restarting in Kubernetes with exit code 137 although memory usage "
           "looks flat on the dashboard. Ideas?",
           clauses=_DEBUG_COMMON + ("The node has plenty of free memory.",
                                    "It started right after we upgraded {framework}.")),
    ),
)

_DOCS_COMMON = (
    "Use Markdown headings we can link to.",
    "Keep it under {n_words} words.",
    "Write in plain English; many readers are not native speakers.",
    "Mention the known limitations.",
)

_DOCS = _Profile(
    weight=0.06, beta=(2.0, 3.0), max_clauses=5,
    systems={"none": 0.45, "engineer": 0.35, "assistant": 0.2},
    families=(
        _f(0.3, "Write a README for the {service} service: what it does, how to run it locally with "
                "Docker, and the environment variables it reads.",
           "Our {service} service has no README. Write one covering its purpose, running it locally in "
           "Docker, and its environment variables.",
           clauses=_DOCS_COMMON + ("List every environment variable with its default.",
                                   "Include a quickstart that takes under five minutes.",
                                   "Add a troubleshooting section for the {n} most common errors.")),
        _f(0.35, "Add docstrings to every function in this code:\n\n{snippet}",
           "Document this {lang} code with [docstrings|doc comments] for each function:\n\n{snippet}",
           clauses=("Describe parameters, return values and errors.", "Keep each one short.",
                    "Mention the bug you notice, but don't fix it.")),
        _f(0.5, "Write the API reference for our {entity} endpoints (list, get, create, update, delete) "
                "with request and response examples.",
           "We need reference docs for the {entities} API: list, get, create, update and delete, each "
           "with example requests and responses.",
           clauses=_DOCS_COMMON + ("Add a curl example for each endpoint.", "Document every error code.",
                                   "Say which fields are optional.")),
        _f(0.4, "Draft release notes for version {version} of the {service} service from these changes:"
                "\n\n{changes}",
           "Turn this list of changes into release notes for {service} {version}:\n\n{changes}",
           clauses=("Group the changes into features, fixes and deprecations.",
                    "Write it for customers, not engineers.", "Call out anything users must act on.",
                    "Keep it under {n_words} words.")),
        _f(0.55, "Write an on-call runbook for when the {service} consumers fall behind on {queue}: how to "
                 "spot it, mitigate it and recover.",
           "On-call needs a runbook for {a_queue} backlog in the {service} service: detection, mitigation, "
           "recovery, and who to page.",
           clauses=_DOCS_COMMON + ("Give the exact commands to run.", "Name the dashboards and alerts to check.",
                                   "Add a troubleshooting section for the {n} most common errors.")),
        _f(0.6, "Write a design doc for moving {entities} from {db} to {db2}: background, goals, "
                "non-goals, the plan and the risks.",
           "Draft the design doc for migrating {entity} storage off {db} onto {db2}. Sections: "
           "background, goals, non-goals, plan, risks.",
           clauses=_DOCS_COMMON + ("Include a rollback plan.", "Estimate the effort in weeks.",
                                   "Describe the data flow in a form we can turn into a Mermaid diagram.")),
        _f(0.35, "Write a CONTRIBUTING.md for our open-source {plang} library: setup, running the tests, "
                 "commit style and how releases work.",
           "Our {plang} library needs a CONTRIBUTING.md that explains setup, tests, commit messages and "
           "the release process.",
           clauses=_DOCS_COMMON + ("Mention how to run the linters.",
                                   "Explain how we label issues for first-time contributors.")),
        _f(0.45, "Write an onboarding guide page that explains how a request flows through our {framework} "
                 "app, from routing down to {db}.",
           "New hires keep asking how a request travels through our {framework} app to {db}. Write the "
           "guide page that explains it.",
           clauses=_DOCS_COMMON + ("The readers have never used {framework}.",
                                   "Describe the data flow in a form we can turn into a Mermaid diagram.",
                                   "Point to where each step lives in the code.")),
        _f(0.4, "Write an architecture decision record for choosing {queue} over {queue2} for {entity} "
                "events.",
           "Record our decision to use {queue} rather than {queue2} for {entity} events as an ADR.",
           clauses=_DOCS_COMMON + ("Include the options we rejected and why.", "Note the consequences we accept.")),
        _f(0.3, "Write the usage section of the README for our `{cli}` tool, covering its {n} subcommands "
                "and their flags.",
           "Document the `{cli}` command-line tool in the README: all {n} subcommands with their flags.",
           clauses=_DOCS_COMMON + ("Add an example for each subcommand.", "Document the exit codes.")),
        _f(0.45, "Write a data dictionary for the {table} table: every column, its type, what it means and "
                 "an example value.",
           "Describe each column of {table} (type, meaning, example) for the analytics team's wiki.",
           clauses=("Mark which columns hold personal data.", "Note which columns can be null.",
                    "Output it as a Markdown table.")),
    ),
)

_SHORT = ("Just the answer, please.", "One line is enough.", "Short answer please.")

_SIMPLE = _Profile(
    weight=0.20, beta=(1.5, 5.0), max_clauses=1,
    systems={"none": 0.55, "assistant": 0.35, "support": 0.1},
    families=(
        _f(0.05, "What's the capital of {country}?", "Capital of {country}?", clauses=_SHORT),
        _f(0.1, "How many {units_a} are in {unit_b}?", "How many {units_a} make {unit_b}?", clauses=_SHORT),
        _f(0.2, "What's the default port for {port_service}?", "Which port does {port_service} use by default?",
           clauses=_SHORT),
        _f(0.15, "What does {acronym} stand for?", "{acronym}: what does it stand for?", clauses=_SHORT),
        _f(0.2, "How do I {git_task} in git?", "git question: how do I {git_task}?", clauses=_SHORT),
        _f(0.1, "Who wrote {book}?", "Who's the author of {book}?", clauses=_SHORT),
        _f(0.15, "What is {temp} degrees Celsius in Fahrenheit?", "Convert {temp}°C to Fahrenheit.", clauses=_SHORT),
        _f(0.4, "What's the difference between {concept_a} and {concept_b}?",
           "Difference between {concept_a} and {concept_b}?", clauses=_SHORT),
        _f(0.3, "How do you write {a_syntax_thing} in {plang}?", "What's the syntax for {a_syntax_thing} in {plang}?",
           clauses=_SHORT),
        _f(0.15, "What time is it in {city} when it's noon in {city2}?",
           "If it's noon in {city2}, what time is it in {city}?", clauses=_SHORT),
        _f(0.25, "When did {event}?", "What year did {event}?", clauses=_SHORT),
        _f(0.25, "What's the shortcut to {shortcut_task} in {editor}?",
           "Keyboard shortcut to {shortcut_task} in {editor}?", clauses=_SHORT),
        _f(0.35, "What's the default transaction isolation level in {sql_db}?",
           "Which isolation level does {sql_db} use by default?", clauses=_SHORT),
        _f(0.3, "What does HTTP status {http_status} mean?", "HTTP {http_status}: what does it mean?", clauses=_SHORT),
    ),
)

_SUPPORT = ("I already tried restarting the app.", "I'm on my phone, so short replies please.",
            "I'm on the {plan} plan, if that matters.", "Sorry if this is a silly question.")

_CONVERSATION = _Profile(
    weight=0.17, beta=(1.2, 6.0), max_clauses=2,
    systems={"none": 0.3, "support": 0.45, "assistant": 0.25},
    families=(
        _f(0.05, "Hi! How's your day going?", "Hey there, how are you today?"),
        _f(0.2, "My order {order_id} still hasn't arrived and it's been {n} days. Can you help?",
           "It's been {n} days and order {order_id} is still not here. What's going on?", clauses=_SUPPORT),
        _f(0.2, "I'd like to cancel my {plan} subscription.", "How do I cancel the {plan} plan?", clauses=_SUPPORT),
        _f(0.05, "Thanks, that fixed it!", "That worked, thank you so much!"),
        _f(0.3, "Let's play a game: you're {a_character} and I'm a traveller asking for directions.",
           "Can you play {a_character}? I'll be a lost traveller asking the way.",
           clauses=("Stay in character the whole time.", "Keep your replies short.")),
        _f(0.15, "Good morning! Any tips for staying focused when working from home?",
           "Morning! How do you stay focused working from home?"),
        _f(0.25, "I was charged twice for the {plan} plan this month. Can one of the charges be refunded?",
           "There are two charges for my {plan} plan this month. Could you refund one?", clauses=_SUPPORT),
        _f(0.15, "I'm bored. Tell me something fun about {hobby}.", "Talk to me about {hobby}, I'm bored.",
           clauses=("Keep it light.",)),
        _f(0.2, "I can't log in, it says my password is wrong even though I just reset it.",
           "Password reset didn't help, I still can't get into my account.", clauses=_SUPPORT),
        _f(0.3, "I've had a rough week at work. Can we just talk for a bit?",
           "Rough week. Mind if I vent for a minute?"),
        _f(0.1, "Do you have a name?", "What should I call you?"),
        _f(0.2, "Can you recommend {a_genre} movie for tonight?", "Any good {genre} film for tonight?",
           clauses=("Nothing longer than two hours.", "I've seen most of the big ones.")),
        _f(0.15, "ok cool, see you tomorrow", "alright, bye for now!"),
        _f(0.25, "Can I change the delivery address on order {order_id}?",
           "I need to update the shipping address for order {order_id}.", clauses=_SUPPORT),
    ),
)

_PROSE_FAITHFUL = ("Keep every number exactly as it is.", "Don't add anything that isn't in the original.")
_PROSE_STYLE = ("Use British spelling.", "Avoid jargon.", "End with a one-sentence takeaway.",
                "Keep it under {n_words} words.")

_PROSE = _Profile(
    weight=0.09, beta=(2.0, 3.5), max_clauses=4,
    systems={"none": 0.35, "writer": 0.4, "assistant": 0.25},
    families=(
        _f(0.3, "Summarize this paragraph: {paragraph}", "Can you give me a short summary of this?\n\n{paragraph}",
           clauses=_PROSE_FAITHFUL + _PROSE_STYLE),
        _f(0.35, "Translate this into {language}:\n\n{paragraph}",
           "Please translate the following text to {language}.\n\n{paragraph}",
           clauses=_PROSE_FAITHFUL + ("Keep company and place names in English.", "Use a formal register.",
                                      "Keep the sentence breaks as they are.")),
        _f(0.25, "Proofread this email and fix the grammar and spelling:\n\n{email_text}",
           "Fix the typos and grammar in this email before I send it:\n\n{email_text}",
           clauses=("Don't change the meaning.", "Keep it sounding like me.", "List the changes you made.")),
        _f(0.5, "Write {a_n_words}-word blog post about {topic} for {audience}.",
           "I need a blog post on {topic}, around {n_words} words, aimed at {audience}.",
           clauses=_PROSE_STYLE[:3] + ("Include a catchy headline.", "Use {a_tone} tone.")),
        _f(0.35, "Rewrite this paragraph in a more {tone} tone:\n\n{paragraph}",
           "Make this sound more {tone}:\n\n{paragraph}",
           clauses=_PROSE_FAITHFUL + ("Keep it about the same length.",)),
        _f(0.3, "Turn these meeting notes into a short update email for the team:\n\n{notes}",
           "Write up these notes as a brief email to the team:\n\n{notes}",
           clauses=("Put the action items at the top.", "Keep it under {n_words} words.", "Use {a_tone} tone.",
                    "Mention owners by name.")),
        _f(0.4, "Write a LinkedIn post announcing that {company} is hiring {k1} engineers in {city}.",
           "Draft a LinkedIn announcement: {company} is opening {k1} engineering roles in {city}.",
           clauses=("Keep it under {n_words} words.", "Use {a_tone} tone.", "Add three hashtags.",
                    "Mention that hours are flexible.")),
        _f(0.55, "Write a newsletter article explaining {topic} to {audience}, with a headline and three "
                 "subheadings.",
           "Explain {topic} for {audience} in a newsletter piece: headline, three subheadings.",
           clauses=_PROSE_STYLE),
        _f(0.3, "Shorten this to three bullet points:\n\n{paragraph}",
           "Boil this down to three bullets:\n\n{paragraph}",
           clauses=_PROSE_FAITHFUL + ("Each bullet under {k2} words.",)),
        _f(0.35, "Write a polite reply to this customer that declines the refund but offers store credit:"
                 "\n\n{customer_email}",
           "Reply to this customer kindly: no refund, but offer store credit.\n\n{customer_email}",
           clauses=("Use {a_tone} tone.", "Keep it under {n_words} words.",
                    "Mention that store credit never expires.")),
        _f(0.45, "Simplify this paragraph so a teenager could follow it:\n\n{paragraph}",
           "Rewrite this in plain language a teenager would understand:\n\n{paragraph}",
           clauses=_PROSE_FAITHFUL + ("Avoid jargon.", "Keep it about the same length.")),
    ),
)

_STEPS = ("Show every step.", "State any assumptions you make.", "Put the final answer on its own line.",
          "Check the result a second way.")
_GENERAL = _STEPS + ("Then generalise the answer.",)
_SCALED = _STEPS + ("Also say how the answer changes if the numbers double.",)

_LOGIC = _Profile(
    weight=0.06, beta=(3.5, 2.5), max_clauses=3,
    systems={"none": 0.45, "tutor": 0.3, "assistant": 0.25},
    families=(
        _f(0.3, "A train leaves {city} at {hour}:00 at {speed1} km/h. Another leaves {city2}, {dist} km away, "
                "at {hour2}:00 at {speed2} km/h, heading towards the first. When and where do they meet?",
           "Two trains, {dist} km apart: one from {city} at {hour}:00 doing {speed1} km/h, the other from "
           "{city2} at {hour2}:00 doing {speed2} km/h, towards each other. At what time do they meet, and "
           "how far from {city}?",
           clauses=_SCALED),
        _f(0.35, "A drawer holds {k1} red, {n} blue and {k2} green socks. How many must I pull out in the "
                 "dark to be sure of a matching pair? And of two matching pairs?",
           "Socks in a drawer: {k1} red, {n} blue, {k2} green. In the dark, how many do I take to "
           "guarantee one matching pair, and how many for two pairs?",
           clauses=_GENERAL),
        _f(0.55, "We have {n} engineers and {k2} tickets sized 1, 2, 3, 5 or 8 points. How should we split "
                 "them so the load is as even as possible? Explain the approach step by step.",
           "Split {k2} tickets (1, 2, 3, 5 or 8 points each) across {n} engineers as evenly as possible. "
           "What method would you use, and why does it work?",
           clauses=_GENERAL),
        _f(0.6, "Prove that 1 + 3 + 5 + ... + (2n - 1) = n^2, then use it to find the sum of the first {k3} "
                "odd numbers.",
           "Show that the first n odd numbers, 1 + 3 + 5 + ... + (2n - 1), add up to n^2, and apply it to "
           "the first {k3} odd numbers.",
           clauses=_STEPS),
        _f(0.5, "Rent or buy? Rent is ${rent} a month; the flat costs ${house_price} with a {rate}% mortgage "
                "over {years} years. Work through the numbers over {k1} years.",
           "Over {a_k1}-year horizon, is it better to pay ${rent}/month rent or buy for ${house_price} with "
           "a {years}-year mortgage at {rate}%? Work it out.",
           clauses=_SCALED),
        _f(0.55, "{first_name}, {first_name2}, {first_name3}, {first_name4} and {first_name5} sit in a row. "
                 "{first_name} is not at either end, {first_name2} sits directly right of {first_name3}, and "
                 "{first_name4} is not next to {first_name}. How many seatings are possible?",
           "Five people in a row: {first_name}, {first_name2}, {first_name3}, {first_name4}, {first_name5}. "
           "Constraints: {first_name} isn't on an end; {first_name2} is immediately to the right of "
           "{first_name3}; {first_name4} and {first_name} aren't neighbours. Count the arrangements.",
           clauses=_GENERAL),
        _f(0.3, "A jacket costs ${price_small} after {a_pct}% discount. What was the original price?",
           "After {pct}% off, a jacket is ${price_small}. What did it cost before the discount?",
           clauses=_SCALED),
        _f(0.5, "A bag has {k1} white and {k2} black balls. I draw {n_draw} without replacement. What's the "
                "probability that exactly two are black?",
           "Drawing {n_draw} balls without replacement from {k1} white and {k2} black, what is P(exactly "
           "two black)?",
           clauses=_GENERAL),
        _f(0.65, "Vendor A charges ${vendor_a} a year for 99.5% uptime; vendor B charges ${vendor_b} for "
                 "99.95%. An hour of downtime costs us ${downtime_cost}. Which is cheaper in expectation?",
           "Expected yearly cost: vendor A at ${vendor_a} with 99.5% uptime or vendor B at ${vendor_b} with "
           "99.95%, when each hour down costs ${downtime_cost}?",
           clauses=_SCALED),
        _f(0.45, "Plan {a_n}-day rail trip through {city}, {city2} and {city3} with a budget of ${budget}. "
                 "Which order minimises travel time, and how should the days be split?",
           "I have {n} days and ${budget} to visit {city}, {city2} and {city3} by train. Work out the best "
           "order and how many days to spend in each.",
           clauses=_STEPS),
        _f(0.7, "A staircase has {k2} steps and you can climb 1, 2 or 3 at a time. In how many ways can you "
                "reach the top? Derive the recurrence.",
           "Count the ways to climb {k2} stairs taking 1, 2 or 3 steps at once, and explain the "
           "recurrence you use.",
           clauses=_GENERAL),
        _f(0.4, "If all {group_a} are {group_b} and some {group_b} are {group_c}, must some {group_a} be "
                "{group_c}?",
           "All {group_a} are {group_b}. Some {group_b} are {group_c}. Does it follow that some {group_a} "
           "are {group_c}? Explain.",
           clauses=_STEPS[:2] + ("Give a counterexample if it doesn't follow.",)),
        _f(0.75, "Our team of {n} must finish {k2} tasks; some depend on others and each takes 1-5 days. "
                 "Describe how to find the shortest schedule and what the critical path tells us.",
           "Given {k2} tasks with dependencies, durations of 1-5 days and {n} people, how do we find the "
           "minimum project length? Walk through the method.",
           clauses=_STEPS[:2] + ("Work through a small example with six tasks.",)),
    ),
)

_FICTION_COMMON = ("Keep it family-friendly.", "Avoid clichés.")

_FICTION = _Profile(
    weight=0.05, beta=(2.0, 3.0), max_clauses=4,
    systems={"none": 0.4, "writer": 0.35, "assistant": 0.25},
    families=(
        _f(0.3, "Write {a_poem_form} about {poem_subject}.", "Could you write me {a_poem_form} about {poem_subject}?",
           clauses=_FICTION_COMMON + ("Make it rhyme.", "Exactly {n_lines} lines.", "Write it in the second person.")),
        _f(0.5, "Write a short story of about {n_words} words about {a_character} who {plot}.",
           "Short story, roughly {n_words} words: {a_character} {plot}.",
           clauses=_FICTION_COMMON + ("End with a twist.", "Write it in the second person.", "Set it in {setting}.")),
        _f(0.2, "Give me {n} name ideas for {a_business}.", "Brainstorm {n} names for {a_business}.",
           clauses=("Each name should be one or two words.", "Check they'd work as a domain name.", "Avoid puns.")),
        _f(0.25, "Write a slogan for {product}.", "I need a catchy tagline for {product}.",
           clauses=("Give me {k1} options.", "Under eight words.", "Funny, but not silly.")),
        _f(0.35, "Write landing-page copy for {product}: a headline, a subheading and three short "
                 "benefit blurbs.",
           "Landing page for {product}: give me the headline, a subheading and three benefit blurbs.",
           clauses=_FICTION_COMMON + ("Funny, but not silly.", "Use {a_tone} tone.")),
        _f(0.55, "Write the opening scene of a mystery set in {setting}.",
           "Open a mystery novel for me. Setting: {setting}.",
           clauses=_FICTION_COMMON + ("End with a twist.", "Write it in the first person.",
                                      "Introduce the detective in the first paragraph.")),
        _f(0.25, "Come up with {n} themes for {a_occasion} party.", "{n} party theme ideas for {a_occasion}?",
           clauses=("Include one food idea per theme.", "Keep it cheap.")),
        _f(0.4, "Write {music_genre} song lyrics about {poem_subject}.",
           "Lyrics for a {music_genre} song about {poem_subject}, please.",
           clauses=("Make it rhyme.", "Include a chorus that repeats.", "Funny, but not silly.")),
        _f(0.45, "Write a bedtime story for {a_age}-year-old about {a_animal} who {plot}.",
           "Bedtime story for my {age}-year-old: {a_animal} {plot}.",
           clauses=_FICTION_COMMON + ("Make it rhyme.", "Under {n_words} words.",
                                      "End with the {animal} falling asleep.")),
        _f(0.6, "Write a dialogue between {person} and a modern teenager who shows them a smartphone.",
           "Imagine {person} meets a teenager today who hands them a smartphone. Write their conversation.",
           clauses=("Funny, but not silly.", "Keep it historically plausible for {person}.", "Under {n_words} words.")),
        _f(0.3, "Write a funny toast for {first_name}'s {occasion}.",
           "Help me with a short, funny toast for my friend {first_name}'s {occasion}.",
           clauses=("Under two minutes when read aloud.", "Mention that we met at university.",
                    "Keep it family-friendly.")),
        _f(0.5, "Invent a card game for {n} players with a {setting_short} theme and explain the rules.",
           "Design a {setting_short}-themed card game for {n} players, rules included.",
           clauses=("A game should last under {k2} minutes.", "Use a standard 52-card deck.",
                    "Include a scoring example.")),
    ),
)

_PROFILES: dict[str, _Profile] = {
    SECURITY_CRITICAL: _SECURITY,
    "complex_implementation": _COMPLEX,
    "standard_implementation": _STANDARD,
    "analysis_debug": _DEBUG,
    "documentation": _DOCS,
    "simple_query": _SIMPLE,
    "chat": _CONVERSATION,
    "content": _PROSE,
    "reasoning": _LOGIC,
    "creative": _FICTION,
}

# Prompts that a reasonable reader could file under either of two categories.
_AMBIGUOUS: tuple[_Family, ...] = (
    _ambiguous(("analysis_debug", SECURITY_CRITICAL),
               "Users sometimes see another user's {entities} right after logging in. Here's the session "
               "code; what's going on?\n\n{login_snippet}",
               "Right after login, some users briefly get someone else's {entities}. Session code below. "
               "[Any idea why?|What's causing it?]\n\n{login_snippet}",
               clauses=("We can't reproduce it locally.", "It started after we put a CDN in front of the app.",
                        "Explain the root cause, not just the fix.")),
    _ambiguous(("analysis_debug", SECURITY_CRITICAL),
               "Our {framework} app throws {error} in the login handler when the {header} header is "
               "missing. Just a bug, or something worse?\n\n{login_snippet}",
               "When requests come in without {a_header} header, the login handler dies with {error}. "
               "Is that only a crash or also a risk?\n\n{login_snippet}",
               clauses=("Give a concrete fix, with code in {lang}.", "It happens a few hundred times a day.")),
    _ambiguous(("standard_implementation", SECURITY_CRITICAL),
               "Write {a_framework} login endpoint that checks the password hash and sets a session cookie.",
               "Implement login in {framework}: verify the password against the stored hash, then issue a "
               "session cookie.",
               clauses=("Include {test_lib} tests.", "Lock the account after {k1} failed attempts.",
                        "Return the same error for unknown users and wrong passwords."), implicit=True),
    _ambiguous(("standard_implementation", SECURITY_CRITICAL),
               "Add a password reset flow to our {framework} app: email a link, let the user choose a new "
               "password.",
               "Build password reset for {framework}: send a reset link by email and let the user set a "
               "new password.",
               clauses=("Links should expire after {k2} minutes.", "Include {test_lib} tests.",
                        "Don't reveal whether an email address has an account."), implicit=True),
    _ambiguous(("documentation", "complex_implementation"),
               "Describe how {entity} sync works end to end between the {service} service, {queue} and {db}, "
               "including retries and partial failures.",
               "Explain, for the team wiki, the full path of {a_entity} sync through {service}, {queue} and "
               "{db}, and what happens on retries or partial failure.",
               clauses=("Describe the data flow in a form we can turn into a Mermaid diagram.",
                        "Point out where duplicates can happen.", "Suggest what you would change.")),
    _ambiguous(("documentation", "complex_implementation"),
               "Write up a sharding scheme for the {table} table in {db} so the team can review it before "
               "we build it.",
               "Before we build it, put the sharding plan for {table} in {db} on paper for review.",
               clauses=("The table has {n_big} rows and grows {pct}% a month.", "Include the resharding procedure.",
                        "Keep it under {n_words} words.")),
    _ambiguous(("analysis_debug", "standard_implementation"),
               "This returns the wrong total when {a_entity} has no {num_field}. Fix it:\n\n{snippet}",
               "Fix this so {entities} with no {num_field} don't break the totals:\n\n{snippet}",
               clauses=("Add a test that reproduces it.", "Keep the function signature.")),
    _ambiguous(("analysis_debug", "complex_implementation"),
               "Our {queue} consumers fall behind every evening. Find out why and redesign the consumer "
               "group so it keeps up with {n_big} messages an hour.",
               "Every evening the {queue} consumers lag. Diagnose it and rework the consumer setup to handle "
               "{n_big} messages an hour.",
               clauses=("Messages for the same {entity} must stay in order.", "We run {n} consumers today.",
                        "Budget is tight: everything should fit on {n} small instances.")),
    _ambiguous(("simple_query", "reasoning"), "Is {n_prime} a prime number?", "Is {n_prime} prime?"),
    _ambiguous(("simple_query", "reasoning"),
               "How many handshakes are there if {k2} people each shake hands once with everyone else?",
               "{k2} people, everyone shakes everyone's hand once. How many handshakes?",
               clauses=("Show the formula.",)),
    _ambiguous(("simple_query", "standard_implementation"),
               "How do I reverse a list in {plang}?", "Reversing a list in {plang}, how?",
               clauses=("In place, if possible.",)),
    _ambiguous(("chat", "creative"), "Tell me a joke about {hobby}.", "Got a joke about {hobby}?",
               clauses=("Keep it clean.",)),
    _ambiguous(("chat", "creative"), "I'm bored, make up a riddle for me.", "Give me a riddle to pass the time?"),
    _ambiguous(("content", "creative"),
               "Rewrite this product description so it's punchier:\n\n{product_blurb}",
               "Make this product blurb snappier:\n\n{product_blurb}",
               clauses=("Keep it under {n_words} words.", "Keep the warranty details.")),
    _ambiguous(("content", "creative"),
               "Write a short announcement for the {company} newsletter about our new {feature} feature.",
               "Newsletter blurb for {company}: we just launched {feature}. Write it.",
               clauses=("Use {a_tone} tone.", "Keep it under {n_words} words.")),
    _ambiguous(("content", "documentation"),
               "Turn these notes about the {service} migration into a page for the team wiki:\n\n{notes}",
               "Make a wiki page out of these {service} migration notes:\n\n{notes}",
               clauses=("Use Markdown headings.", "Put open questions at the end.")),
    _ambiguous(("analysis_debug", "reasoning"),
               "Our {metric} dropped {pct}% after the release while traffic rose {pct2}%. What's the most "
               "likely explanation?",
               "Traffic is up {pct2}% since the release but {metric} is down {pct}%. How do you explain that?",
               clauses=("State any assumptions you make.", "Say what data would settle it.")),
    _ambiguous(("documentation", "analysis_debug"),
               "Explain what this {lang} code does, step by step:\n\n{snippet}",
               "Walk me through what this {lang} code is doing:\n\n{snippet}",
               clauses=("I'm new to {lang}.", "Point out anything that looks wrong.")),
    _ambiguous(("reasoning", "creative"),
               "Come up with a fair way for {n} friends to split a holiday house with rooms of different "
               "sizes.",
               "{n} friends, one holiday house, rooms of different sizes. Suggest a fair way to split it.",
               clauses=("The biggest room has its own bathroom.", "The total rent is ${budget}.")),
)

_AMBIGUOUS_BY_CATEGORY: dict[str, tuple[_Family, ...]] = {
    category: tuple(f for f in _AMBIGUOUS if category in f.categories) for category in CATEGORIES
}

# Security work asked for as an ordinary feature (IMPLICIT_SECURITY_SHARE): no word names the risk, yet
# the plain way to build each one trusts what a client sends (a file name, a URL, a token, a blob), so a
# weaker model's first draft is the hole. Clauses stay ordinary product requirements for the same reason.
_FEATURE = _STACK_CODE + ("Keep it under {max_lines} lines.", "We want to ship it this week, so keep it small.")

_IMPLICIT_SECURITY: tuple[_Family, ...] = (
    _implicit(0.4, 'Add a "remember me" option to this {framework} login so people stay signed in for {k2} days:'
                   "\n\n{login_snippet}",
              "Here's our {lang} login handler. When the user ticks \"keep me signed in\", the login should last "
              "{k2} days instead of ending with the browser session.\n\n{login_snippet}",
              "[Extend|Change] the sign-in below so that a ticked checkbox keeps users logged in for {k2} days "
              "({framework}).\n\n{login_snippet}",
              clauses=_FEATURE + ("People often use several devices at once.",
                                  "Logging out should end the long sign-in too.")),
    _implicit(0.35, "Write the sign-up endpoint for our {framework} API: it takes an email and a password, stores "
                    "the new user in {db} and sends a welcome email.",
              "We need user registration in {framework}. The email and password come in the request body; save "
              "the account to {db} and send a welcome message.",
              "Implement `POST /signup` in {lang} ({framework}): create the account in {db} from the submitted "
              "email and password and return the new user as JSON.",
              clauses=_FEATURE + ("Passwords must be at least {k1} characters long.",
                                  "Return 409 when the email is already taken.",
                                  "We expect about {n_big} sign-ups in the first month.")),
    _implicit(0.4, "Add an endpoint to our {framework} app where users upload {upload_kind} for their {entities}. "
                   "Save each file under its original name and return a link to it.",
              "Users should be able to attach {upload_kind} to {a_entity}. Write the {framework} upload handler: "
              "keep the filename they sent, store the file in /srv/uploads and give back its URL.",
              "Build file uploads for {entities} in {lang}: accept a multipart form, write the file to the uploads "
              "folder with the name it came with, and serve it again from /files/<name>.",
              clauses=_FEATURE + ("Files can be up to {k2} MB.", "Show upload progress in the {ui} front end.",
                                  "Later we want to move the files to {cloud} object storage.")),
    _implicit(0.5, "Our {deser_lang} backend gets each user's saved {entity} drafts back from the browser as a "
                   "base64 blob made with {deser_call}. Write the endpoint that turns it back into objects and "
                   "stores them.",
              "The front end keeps its state as a {deser_call} blob that our {deser_lang} server produced, and "
              "posts it back on every page load. Write the code that restores the objects from it.",
              "Clients send back a base64 string we created with {deser_call}. [Restore|Rebuild] the original "
              "objects from it in {deser_lang}, keeping their exact types, and merge them into the {entity}.",
              clauses=("Blobs can be up to {k2} KB.", "Older clients send an earlier version of the format.",
                       "Keep it under {max_lines} lines.", "Log how long decoding takes.",
                       "Include unit tests for the edge cases.")),
    _implicit(0.45, "Add an endpoint to our {framework} app that takes a file name from the query string, runs "
                    "{shell_tool} on it through the shell and returns {a_shell_output}.",
              "Users pick one of their files in the UI and want {a_shell_output} of it. Write the {lang} code that "
              "builds the {shell_tool} command line from their choice and runs it.",
              "Wrap {shell_tool} in a small {framework} API: the caller sends the file name and extra options as "
              "JSON, we run the command and stream back {a_shell_output}.",
              clauses=_FEATURE + ("Stop the command after {k2} seconds.",
                                  "Return the command's error output when it fails.",
                                  "Several requests can run at once.")),
    _implicit(0.3, "Add a network check page to our internal {framework} tools: the user types a host name and we "
                   "show the output of ping and traceroute for it.",
              "Write {a_framework} endpoint that takes a hostname or IP address from a form field, pings it {k1} "
              "times and returns the output.",
              "Our support team wants to know whether a customer's server is reachable. Build a {lang} route that "
              "pings whatever address they enter and shows the result.",
              clauses=("Keep it under {max_lines} lines.", "Show the output as it arrives.",
                       "Include {test_lib} tests.", "It must work on Linux and macOS.")),
    _implicit(0.45, "Add search to the {entities} list in our {framework} app: build the WHERE clause from the "
                    "filters in the query string, and let users sort by whatever column name they pass.",
              "The {table} report page needs user-chosen filters and sort order. Write the {lang} function that "
              "turns the request parameters into the SQL for {sql_db}.",
              "Write a generic {lang} helper that takes the filter dict and the `order_by` string from an API "
              "request and builds the SELECT on {table} ({sql_db}).",
              clauses=("Support partial matches on {field}.", "Results are paged, {k2} per page.",
                       "There are {n_big} rows in {table}.", "Include {test_lib} tests.",
                       "No ORM, plain SQL please.")),
    _implicit(0.35, "Write a provisioning script that puts the {db} password and the {cloud} access keys of the "
                    "{service} service into /etc/{service}/credentials.env on each server.",
              "How should we create the env file that holds the {service} service's API keys on our VMs? Write "
              "the bash that generates it at provisioning time, owner and mode included.",
              "Our Ansible role needs a task that drops a config file with the {db} credentials for {service} "
              "onto each host. Write it, including the file's owner and mode.",
              clauses=("The servers run Ubuntu 22.04.", "Several services share each VM.",
                       "It must be safe to run twice.", "It runs from our CI pipeline.",
                       "The service runs as its own system user.")),
    _implicit(0.3, "After login, send users back to the page they came from: read `next` from the query string "
                   "and redirect there ({framework}).",
              "Our {lang} sign-in should remember where the user was heading. Take the URL from the `next` "
              "parameter and redirect to it once they're logged in.",
              "Make the {framework} login [honour|respect] a `next` query parameter: after a successful sign-in, "
              "redirect to whatever URL it holds.",
              clauses=("Default to the dashboard when the parameter is missing.", "Keep it under {max_lines} lines.",
                       "Include {test_lib} tests.", "Partner sites link to our login with their own return URL.")),
    _implicit(0.35, "Implement `GET /out?url=...` in {framework}: record the click on {a_entity} link in {db}, "
                    "then redirect the browser to the given URL.",
              "We want to count clicks on the links in our {entity} emails. Write the {lang} endpoint that logs "
              "the click and forwards the user to the URL passed in the query string.",
              clauses=_FEATURE + ("We send about {n_big} emails a week.", "Count each user once per link.")),
    _implicit(0.45, "Add link previews to our chat: when a message contains a URL, the {framework} backend fetches "
                    "the page and pulls out its title, description and image.",
              "Write the {lang} service behind our link previews: given any URL a user posts, download the page "
              "and return its title, description and preview image.",
              "When someone pastes a link into a comment on {a_entity}, show a preview card. Write the server "
              "side in {framework} that fetches the URL and reads its Open Graph tags.",
              clauses=("Cache previews for {k1} hours.", "Follow redirects.", "Give up after {k1} seconds.",
                       "Include {test_lib} tests.")),
    _implicit(0.4, "Let users import {entities} by pasting a link to a CSV file. Write the {framework} endpoint "
                   "that downloads the file from that link and loads the rows into {db}.",
              "Add 'import from URL' for {entities}: the user gives us a URL, our {lang} backend fetches the CSV "
              "behind it and saves each row to {db}.",
              clauses=("The CSV can hold {n_big} rows, so don't load it all at once.",
                       "Skip rows with an empty {field}.", "Report how many rows were imported.",
                       "Include {test_lib} tests.")),
    _implicit(0.35, "Show user comments on the {entity} page with their formatting: the rich-text editor stores "
                    "them as HTML. Write the {ui} component that renders them.",
              "Comments on {entities} can contain bold text, links and lists, and our API returns them as HTML. "
              "Render them in the {ui} app exactly as the author wrote them.",
              "Write {a_ui} component that lists the latest comments on {a_entity}, showing each body as the "
              "user typed it, markup included.",
              clauses=("Show the author's name and the date next to each comment.", "Newest comments first.",
                       "Add a Testing Library test.", "Collapse comments longer than {k2} lines.")),
    _implicit(0.45, "Write the code that generates password reset codes for our {framework} app: {k1}-digit "
                    "numbers sent by SMS, valid for {k2} minutes.",
              "We want short reset codes people can type from a text message: {k1} digits, valid {k2} minutes. "
              "Write the {lang} code that creates, stores and checks them.",
              "Generate the one-time codes for 'forgot password' in {lang}: {k1} digits, texted to the user, "
              "expiring after {k2} minutes. Include the check on the reset page.",
              clauses=_FEATURE + ("Store the codes in {db}.", "Users sometimes ask for several codes in a row.")),
    _implicit(0.5, "Write {a_framework} middleware that takes the bearer token from the Authorization header, "
                   "decodes the JWT and puts the user id and roles on the request.",
              "Our mobile app sends a JWT with every call. Add the {lang} middleware that decodes it and attaches "
              "the user to the request for the handlers.",
              "Parse the JWTs our login service issues in {framework}: read the claims and make the user id and "
              "roles available to every route.",
              clauses=_FEATURE + ("Our login service signs tokens with RS256.",
                                  "Return 401 when the header is missing.",
                                  "Partners' tokens come from a second issuer.")),
    _implicit(0.45, "Add an admin page to our {framework} app where staff can edit and delete any {entity}. Only "
                    "users with the admin role may open it.",
              "Build the /admin/{table} routes in {framework} so the support team can list, edit and delete "
              "{entities}. Regular users must not reach them.",
              "We need a back-office screen in {framework} for editing {entities}; staff with the admin role can "
              "use it and everyone else gets a 404.",
              clauses=_FEATURE + ("Roles are stored on the users table in {db}.", "Log who changed what.",
                                  "Support staff should only be able to read.")),
    _implicit(0.45, "Write the {framework} endpoint that receives payment events from our provider and marks "
                    "{entities} as paid. Each body is signed with a shared key in the `{sig_header}` header; check "
                    "it.",
              "Implement the incoming webhook for {entity} status updates in {lang}. Requests carry an HMAC of "
              "the body in `{sig_header}`; verify it before writing to {db}.",
              "Our provider posts events to us with an HMAC-SHA256 of the raw body in `{sig_header}`. Add the "
              "{framework} handler that checks it and then updates the matching {entity}.",
              clauses=_FEATURE + ("Events can arrive twice or out of order.", "Answer within {k1} seconds.")),
    _implicit(0.5, "Users upload a zip of {entity} attachments. Write the {lang} code that extracts it into the "
                   "user's folder under /data/{service} and registers each file in {db}.",
              "Add bulk import to our {framework} app: accept a .zip, unpack every file into the account's "
              "storage folder keeping the paths inside the archive, then index them in {db}.",
              clauses=_FEATURE + ("Archives can hold {k3} files.", "Skip empty folders.")),
    _implicit(0.3, "Add a download endpoint to our {framework} app: `GET /reports/<name>` returns the file with "
                   "that name from /srv/{service}/reports.",
              "Users need to download their generated reports. Write the {lang} handler that takes the file name "
              "from the URL and streams the file from the /srv/{service}/reports folder.",
              clauses=_FEATURE + ("Set Content-Disposition so the browser saves the file.",
                                  "Files can be several hundred MB.")),
    _implicit(0.3, "Our {ui} front end now lives on its own domain and the browser blocks its calls to the "
                   "{framework} API with a CORS error. Make it work for any origin, cookies included.",
              "Fix the CORS errors between our {ui} app and the {framework} backend: allow every origin and let "
              "the browser send credentials.",
              clauses=("Preflight responses should be cached.", "Our staging front end runs on another port.",
                       "Keep it under {max_lines} lines.")),
    _implicit(0.3, "Add middleware to our {framework} app that logs every request and response body to {queue} "
                   "so support can debug customer issues.",
              "To debug customer issues we want the full body of every request and response of the {service} API "
              "in our logs. Write the {lang} middleware.",
              clauses=_FEATURE + ("Include how long each request took.", "Truncate bodies after {k2} KB.")),
    _implicit(0.5, "Let customers create API keys for the {service} API: show each key once, store it in {db}, "
                   "and look it up on every request.",
              "Build API key management in {framework}: customers generate keys in their settings, we keep them "
              "in {db} and accept them on every call.",
              clauses=_FEATURE + ("Customers can have up to {k1} keys.", "Keys can be revoked from the settings page.",
                                  "Show when each key was last used.")),
    _implicit(0.55, "Customers want to edit the emails we send them. Let them write templates with "
                    "`{{{{ placeholders }}}}` on the settings page, and render them with our {framework} app's "
                    "template engine whenever {a_entity} changes.",
              "Add customer-editable email templates to our {framework} app: they type the template in a text "
              "box and we render it with the server's template engine, filling in the {entity} fields.",
              clauses=_FEATURE + ("Show a live preview while they type.",
                                  "Fall back to our default template if rendering fails.")),
    _implicit(0.55, "Let users add computed columns to their {entities} table by typing a formula such as "
                    "`{num_field} * 1.2`. Write the {lang} code that evaluates the formula for each row on the "
                    "server.",
              "Our power users want spreadsheet-style formulas over {entities}, for example `{num_field} * 1.2`. "
              "Evaluate whatever expression they type, server side, in {lang}.",
              clauses=("Formulas can use any numeric column.", "Show a clear message when a formula doesn't parse.",
                       "Each account has up to {n_big} rows.", "Include {test_lib} tests.")),
    _implicit(0.35, "Let users change the email address on their account from the settings page ({framework}). "
                    "Update it in {db} and send a confirmation to the new address.",
              "Add 'change email' to the account settings in our {framework} app: the user enters a new address "
              "and we save it to {db}.",
              clauses=_FEATURE + ("The email address is also the login name.", "Show a toast when it's done.")),
    _implicit(0.55, "Support staff want to see the app exactly as a given customer does. Add a 'log in as this "
                    "user' button to our {framework} back office.",
              "Let our support team switch into a customer's account from the back office ({framework}) to "
              "reproduce a problem, and switch back when done.",
              clauses=_FEATURE + ("Show a banner while someone is switched in.",
                                  "Record who switched into which account.")),
    _implicit(0.5, "Add 'Sign in with Google' to our {framework} app and link it to existing accounts by email "
                   "address.",
              "Implement Google login in {framework}: handle the OAuth callback, find the user by the email in the "
              "ID token and start their session.",
              clauses=_FEATURE + ("Existing users signed up with a password.",
                                  "We'll add Microsoft accounts later.")),
    _implicit(0.35, "Write the team invite feature in {framework}: an owner enters an email, we generate an invite "
                    "link, and whoever opens it joins the team.",
              "Generate invite links for new team members in {lang}: a code in the URL, valid for {k1} days, that "
              "adds the person to the team when they open it.",
              clauses=_FEATURE + ("Invites can be withdrawn.", "Show pending invites in the team settings.")),
    _implicit(0.5, "Customers upload their {entities} as XML exported from their old system. Write the {lang} "
                   "parser that reads the file and creates the records in {db}.",
              "Add XML import for {entities} to our {framework} app: parse the uploaded file and save each element "
              "as a row in {table}.",
              clauses=_FEATURE + ("Exports can reach {k2} MB.",
                                  "Some exports declare a DTD with entities for repeated values.",
                                  "Report the line of any element that fails.")),
    _implicit(0.4, "Add `GET /{table}?account_id=...` to our {framework} API: it returns the {entities} of the "
                   "given account from {db}.",
              "The {ui} dashboard needs an endpoint that lists {entities} for an account whose id comes in the "
              "query string. Write it in {framework} on top of {db}.",
              clauses=_FEATURE + ("Return at most {k2} per page.", "Newest {entities} first.")),
)

# Politeness around the request; a paraphrase usually changes it.
_PREFIXES: tuple[str, ...] = ("", "Hi! ", "Hey! ", "Hello. ", "Quick one: ", "Could you help with this? ")
_SUFFIXES: tuple[str, ...] = ("", "Thanks!", "Thank you.", "Thanks in advance.", "Much appreciated.")
_CLAUSE_HEADER = "[Requirements|Constraints|A few things to keep in mind|Details]:"

# ---------------------------------------------------------------------------------------------
# Slot fillers
# ---------------------------------------------------------------------------------------------

_WORDS: dict[str, tuple[str, ...]] = {
    "entity": ("invoice", "order", "patient record", "shipment", "booking", "subscription", "support ticket",
               "product", "payment", "comment", "sensor reading", "employee", "coupon", "appointment",
               "listing", "delivery", "insurance policy", "playlist", "expense report", "enrollment"),
    "field": ("email", "phone_number", "postal_code", "username", "display_name", "iban", "sku", "tax_id",
              "date_of_birth", "website_url"),
    "num_field": ("amount", "quantity", "weight_kg", "duration_ms", "price_cents", "discount", "balance"),
    "service": ("billing", "checkout", "notifications", "search", "inventory", "accounts", "reporting",
                "ingestion", "payments", "recommendations", "scheduling", "messaging"),
    "db": ("PostgreSQL", "MySQL", "MongoDB", "DynamoDB", "Cassandra", "SQL Server", "CockroachDB"),
    "sql_db": ("PostgreSQL", "MySQL", "SQL Server", "Oracle", "MariaDB"),
    "queue": ("Kafka", "RabbitMQ", "Amazon SQS", "NATS", "Redis Streams", "Google Pub/Sub"),
    "warehouse": ("BigQuery", "Snowflake", "Redshift", "ClickHouse", "Databricks"),
    "cloud": ("AWS", "GCP", "Azure"),
    "plang": ("Python", "TypeScript", "Go", "Rust", "Java", "C#", "Kotlin", "Ruby", "Swift", "C++", "PHP",
              "Elixir", "Scala"),
    "ui": ("React", "Vue", "Svelte", "Angular", "SolidJS"),
    "header": ("X-Forwarded-For", "Host", "Referer", "X-Tenant-Id", "Origin", "X-User-Role"),
    "compliance": ("PCI DSS", "SOC 2", "HIPAA", "GDPR", "ISO 27001"),
    "package": ("log4j-core", "openssl", "jackson-databind", "lodash", "xz-utils", "libwebp", "urllib3",
                "spring-web"),
    "search_engine": ("Elasticsearch", "OpenSearch", "Meilisearch", "Typesense"),
    "cli": ("deployctl", "dbsnap", "logtail", "envsync", "pkgaudit"),
    "upload_kind": ("profile pictures", "PDF invoices", "CSV imports", "scanned documents", "photos",
                    "voice notes", "spreadsheets"),
    "sig_header": ("X-Signature", "X-Hub-Signature-256", "X-Webhook-Signature", "X-Payload-Digest"),
    "feature": ("CSV export", "dark mode", "two-factor login", "bulk editing", "saved searches",
                "calendar sync", "offline mode"),
    "metric": ("checkout conversion", "weekly active users", "signup completion", "average order value",
               "trial-to-paid conversion", "email open rate"),
    "regex_target": ("UK postcodes", "ISO 8601 dates", "semantic version strings",
                     "US phone numbers with an optional country code", "hex colour codes", "IPv4 addresses",
                     "Slack-style @mentions"),
    "country": ("Australia", "Canada", "Kenya", "Peru", "Vietnam", "Norway", "Morocco", "New Zealand",
                "Kazakhstan", "Portugal", "Chile", "Mongolia", "Ghana", "Switzerland", "Sri Lanka"),
    "city": ("Lisbon", "Toronto", "Osaka", "Nairobi", "Melbourne", "Denver", "Kraków", "Bogotá", "Edinburgh",
             "Singapore", "Austin", "Hamburg", "Seoul", "Cape Town", "Montreal"),
    "book": ("Pride and Prejudice", "One Hundred Years of Solitude", "The Left Hand of Darkness",
             "Things Fall Apart", "Dune", "The Remains of the Day", "Beloved", "Middlemarch",
             "The Master and Margarita", "Moby-Dick"),
    "acronym": ("ACID", "CAP", "gRPC", "SMTP", "DNS", "TLS", "YAML", "REST", "SLA", "OKR", "ETL", "CDN",
                "RAID", "NAT"),
    "port_service": ("PostgreSQL", "Redis", "MySQL", "MongoDB", "SSH", "HTTPS", "Elasticsearch",
                     "RabbitMQ's management UI", "a Kafka broker", "SMTP submission"),
    "git_task": ("undo my last commit but keep the changes", "rename a branch", "delete a remote branch",
                 "squash the last three commits", "see who last changed a line",
                 "stash only some of my files", "change the last commit message",
                 "throw away local changes to one file"),
    "syntax_thing": ("ternary expression", "multi-line string", "switch statement", "string interpolation",
                     "function with a default argument", "constant", "for loop over a range"),
    "event": ("the Berlin Wall fall", "the first Moon landing take place", "the Titanic sink",
              "the Great Fire of London happen", "Wikipedia launch", "the Panama Canal open",
              "the first iPhone come out"),
    "shortcut_task": ("duplicate a line", "comment out a block", "open the command palette",
                      "rename a symbol everywhere", "jump to the matching bracket", "split the editor"),
    "editor": ("VS Code", "IntelliJ IDEA", "Vim", "Sublime Text", "PyCharm"),
    "http_status": ("301", "304", "401", "403", "409", "422", "429", "502", "503"),
    "language": ("French", "German", "Spanish", "Japanese", "Brazilian Portuguese", "Italian", "Dutch",
                 "Korean", "Polish", "Turkish"),
    "tone": ("formal", "friendly", "persuasive", "neutral", "upbeat", "confident"),
    "audience": ("small business owners", "first-year university students", "busy parents",
                 "hospital administrators", "non-technical managers", "retirees", "high-school teachers",
                 "junior developers"),
    "topic": ("heat pumps", "the four-day work week", "microplastics in drinking water", "how credit scores work",
              "urban beekeeping", "sleep and memory", "electric cargo bikes", "remote onboarding",
              "the history of the shipping container", "password managers", "composting at home",
              "why interest rates move"),
    "company": ("Brightleaf", "Northwind Logistics", "Kestrel Labs", "Harbor & Finch", "Tidewater Foods",
                "Copperline", "Juniper Health", "Atlas Freight"),
    "product": ("a standing desk", "noise-cancelling earbuds", "a meal-kit subscription", "a reusable water bottle",
                "a budgeting app", "an e-bike", "a smart thermostat", "organic coffee beans",
                "a language-learning app", "hiking boots"),
    "gadget": ("wireless speaker", "fitness tracker", "electric toothbrush", "e-reader", "smart lamp",
               "portable projector"),
    "plan": ("Pro", "Team", "Basic", "Premium", "Family", "Starter"),
    "character": ("medieval innkeeper", "pirate captain", "grumpy wizard", "space station AI",
                  "1920s detective", "tour guide in ancient Rome"),
    "hobby": ("chess", "sourdough baking", "birdwatching", "rock climbing", "board games", "astronomy",
              "gardening", "vintage synthesizers"),
    "genre": ("sci-fi", "comedy", "thriller", "animated", "feel-good", "horror", "documentary"),
    "poem_form": ("haiku", "limerick", "sonnet", "short free-verse poem", "villanelle", "pair of rhyming couplets"),
    "poem_subject": ("the first snow of the year", "a lighthouse keeper", "Monday mornings", "an old dog",
                     "the sea at night", "a city waking up", "a lost umbrella", "falling leaves"),
    "business": ("bakery", "dog-walking service", "indie game studio", "bike repair shop", "plant nursery",
                 "coffee truck", "bookkeeping firm", "climbing gym"),
    "occasion": ("30th birthday", "retirement", "housewarming", "wedding", "graduation", "team offsite"),
    "setting": ("a lighthouse off the coast of Maine", "a space station orbiting Jupiter", "1890s Vienna",
                "a night train across Siberia", "a small Welsh village", "a floating city"),
    "setting_short": ("deep-sea", "haunted mansion", "space trading", "medieval market", "jungle expedition"),
    "plot": ("finds a map that redraws itself every night", "must return a library book 200 years overdue",
             "can hear what houseplants think", "wakes up taller than everyone else",
             "has to deliver a letter before the tide comes in"),
    "animal": ("hedgehog", "otter", "fox", "tortoise", "owl", "penguin"),
    "first_name": ("Maya", "Tom", "Priya", "Lukas", "Amara", "Diego", "Hana", "Sam", "Olivia", "Kofi"),
    "person": ("Ada Lovelace", "Julius Caesar", "Marie Curie", "Leonardo da Vinci", "Cleopatra",
               "Benjamin Franklin"),
    "music_genre": ("country", "blues", "synth-pop", "sea shanty", "punk", "jazz"),
    "n_big": ("10,000", "50,000", "250,000", "1.2 million", "5 million", "20 million"),
    "rps": ("500", "1,200", "4,000", "15,000", "40,000"),
    "max_lines": ("40", "60", "80", "120"),
    "image_mb": ("100", "150", "200", "300"),
    "n_words": ("150", "200", "300", "400", "500", "800"),
    "years": ("15", "20", "25", "30"),
    "rate": ("3.5", "4", "4.5", "5.25", "6"),
}


def _binomial(s: _Slots, trials: int) -> int:
    """More material for harder prompts, with noise: the number of successes in `trials` draws."""
    return sum(s.rng.random() < s.difficulty for _ in range(trials))


def _snippet(s: _Slots, kind: str) -> str:
    """A fenced code block in the topic's language, named after its entity."""
    stack = s.stack()
    code = _SNIPPETS[stack.code][kind].safe_substitute(_code_names(s)).strip("\n")
    return f"```{stack.code}\n{code}\n```"


def _processing_snippet(s: _Slots) -> str:
    # Hard prompts paste more of the surrounding code.
    if s.rng.random() < s.difficulty ** 2:
        return _snippet(s, "process") + "\n\n" + _snippet(s, "update")
    return _snippet(s, "process")


def _code_names(s: _Slots) -> dict[str, str]:
    num_field = s["num_field"]
    return {"entity_id": s["entity"].replace(" ", "_"), "table": s["table"], "Model": s["Model"],
            "num_field": num_field, "NumField": _camel(num_field), "service": s["service"],
            "line1": str(s.rng.randint(20, 400)), "line2": str(s.rng.randint(20, 400))}


def _with_article(noun: str) -> str:
    # "8", "80", "800" start with "eight"; 11 and 18 with "e"; header names like X-Forwarded-For with "ex".
    spoken_vowel = noun[0].lower() in "aeiou" or re.match(r"8|1[18](\D|$)|X-", noun) is not None
    return ("an " if spoken_vowel else "a ") + noun


def _camel(words: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[ _]", words))


def _plural(noun: str) -> str:
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _traceback(s: _Slots) -> str:
    stack = s.stack()
    return _TRACEBACKS[stack.code].safe_substitute(_code_names(s)).strip("\n")


def _sentences(s: _Slots, bank: tuple[str, ...], base: int, extra: int, sep: str = " ") -> str:
    """The bank's opening line, then a difficulty-dependent number of the rest, in bank order."""
    count = min(len(bank) - 1, base - 1 + _binomial(s, extra))
    chosen = sorted(s.rng.sample(range(1, len(bank)), count))
    return sep.join(bank[i].format_map(s) for i in [0, *chosen])


def _paragraph(s: _Slots) -> str:
    return _sentences(s, s.rng.choice(_PARAGRAPH_BANKS), 3, 4)


def _series(s: _Slots) -> str:
    base = s.rng.randint(1200, 9000)
    drop = 1 - int(s["pct"]) / 100
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    values = [base * (drop if i >= 3 else 1) * s.rng.uniform(0.97, 1.03) for i in range(len(days))]
    return ", ".join(f"{day} {round(v):,}" for day, v in zip(days, values))


def _invoice_lines(s: _Slots) -> str:
    lines = []
    for _ in range(3 + _binomial(s, 4)):
        company = s.rng.choice(_WORDS["company"])
        amount = s.rng.randint(120, 48000) + s.rng.randint(0, 99) / 100
        lines.append(f"{company} / INV-{s.rng.randint(10000, 99999)} / ${amount:,.2f} / due "
                     f"{s.rng.randint(1, 28)}.{s.rng.randint(1, 12):02d}.{s.rng.choice((2024, 2025))}")
    return "\n".join(lines)


def _reviews(s: _Slots) -> str:
    count = 4 + _binomial(s, 5)
    return "\n".join(f'- "{line.format_map(s)}"' for line in s.rng.sample(_REVIEWS, min(count, len(_REVIEWS))))


def _in_range(low: int, high: int) -> Callable[[_Slots], str]:
    return lambda s: str(s.rng.randint(low, high))


def _order_id(s: _Slots) -> str:
    return f"#{s.rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}-{s.rng.randint(10000, 99999)}"


def _version(s: _Slots) -> str:
    return f"{s.rng.randint(1, 5)}.{s.rng.randint(0, 19)}.{s.rng.randint(0, 9)}"


def _prime_candidate(s: _Slots) -> str:
    return str(s.rng.randrange(101, 9999, 2))


def _money(low: int, high: int, step: int) -> Callable[[_Slots], str]:
    return lambda s: f"{s.rng.randrange(low, high, step):,}"


def _pair(key_a: str, key_b: str, pairs: tuple[tuple[str, str], ...]) -> dict[str, Callable[[_Slots], str]]:
    """Two slots that must be drawn together (a unit and what it divides, two contrasted ideas)."""
    def draw(s: _Slots, want: str) -> str:
        a, b = s.rng.choice(pairs)
        s[key_a], s[key_b] = a, b
        return s[want]
    return {key_a: lambda s: draw(s, key_a), key_b: lambda s: draw(s, key_b)}


def _syllogism(s: _Slots, want: str) -> str:
    s["group_a"], s["group_b"], s["group_c"] = s.rng.choice(_NONSENSE_GROUPS)
    return s[want]


def _later_hour(s: _Slots) -> str:
    return str(int(s["hour"]) + s.rng.randint(0, 2))


def _slower(s: _Slots) -> str:
    return str(int(s["ms"]) * s.rng.randint(3, 8))


_UNIT_PAIRS = (("ounces", "a pound"), ("millilitres", "a litre"), ("feet", "a mile"), ("seconds", "a day"),
               ("teaspoons", "a tablespoon"), ("bytes", "a kibibyte"), ("centimetres", "an inch"),
               ("minutes", "a week"))
_CONCEPT_PAIRS = (("a process", "a thread"), ("TCP", "UDP"), ("a list", "a tuple in Python"),
                  ("git merge", "git rebase"), ("a mutex", "a semaphore"), ("HTTP PUT", "HTTP PATCH"),
                  ("REST", "GraphQL"), ("an index scan", "a sequential scan"), ("let", "const in JavaScript"),
                  ("weather", "climate"), ("a virus", "a bacterium"), ("stocks", "bonds"))
# Each object-restoring call in the language that has it; each command-line tool with what it makes.
_DESERIALISERS = (("Python", "pickle"), ("Java", "ObjectOutputStream"), ("Ruby", "Marshal.dump"),
                  ("PHP", "serialize()"), ("C#", "BinaryFormatter"), ("Python", "PyYAML's full dumper"))
_SHELL_TOOLS = (("ffmpeg", "short preview clip"), ("ImageMagick", "thumbnail"), ("pdftotext", "plain-text copy"),
                ("LibreOffice in headless mode", "PDF version"), ("zip", "downloadable archive"),
                ("exiftool", "list of the photo's metadata"))
_NONSENSE_GROUPS = (("bloops", "razzies", "lazzies"), ("zorks", "quibs", "flems"), ("wugs", "daxes", "feps"),
                    ("glims", "torps", "snerks"))

_DERIVED: dict[str, Callable[[_Slots], str]] = {
    "lang": lambda s: s.stack().lang,
    "framework": lambda s: s.stack().framework,
    "test_lib": lambda s: s.stack().test_lib,
    "error": lambda s: s.stack().error,
    "entities": lambda s: _plural(s["entity"]),
    "table": lambda s: _plural(s["entity"]).replace(" ", "_"),
    "Model": lambda s: _camel(s["entity"]),
    "snippet": _processing_snippet,
    "login_snippet": lambda s: _snippet(s, "login"),
    "update_snippet": lambda s: _snippet(s, "update"),
    "traceback": _traceback,
    "paragraph": _paragraph,
    "product_blurb": lambda s: _sentences(s, _PRODUCT_BLURB, 3, 3),
    "notes": lambda s: _sentences(s, _MEETING_NOTES, 3, 4, sep="\n"),
    "changes": lambda s: _sentences(s, _CHANGES, 3, 4, sep="\n"),
    "context": lambda s: _sentences(s, _SYSTEM_CONTEXT, 2, 4),
    "email_text": lambda s: s.rng.choice(_TYPO_EMAILS).format_map(s),
    "customer_email": lambda s: s.rng.choice(_CUSTOMER_EMAILS).format_map(s),
    "reviews": _reviews,
    "series": _series,
    "invoice_lines": _invoice_lines,
    "nginx_conf": lambda s: _NGINX.safe_substitute(domain=re.sub(r"\W", "", s["company"].lower()),
                                                   service=s["service"]),
    "claim_sql": lambda s: _CLAIM_SQL.safe_substitute(table=s["table"]),
    "n": _in_range(2, 12),
    "k1": _in_range(2, 9),
    "k2": _in_range(10, 60),
    "k3": _in_range(100, 999),
    "pct": _in_range(5, 40),
    "pct2": _in_range(2, 25),
    "ms": lambda s: str(s.rng.choice((40, 80, 120, 200, 250, 400))),
    "ms2": _slower,
    "n_lines": _in_range(4, 16),
    "year": _in_range(2015, 2024),
    "cve_year": _in_range(2021, 2025),
    "cve_num": _in_range(1000, 49999),
    "version": _version,
    "order_id": _order_id,
    "temp": _in_range(-15, 40),
    "n_prime": _prime_candidate,
    "hour": _in_range(6, 11),
    "hour2": _later_hour,
    "speed1": lambda s: str(s.rng.randrange(60, 170, 10)),
    "speed2": lambda s: str(s.rng.randrange(60, 170, 10)),
    "dist": lambda s: str(s.rng.randrange(200, 900, 10)),
    "n_draw": _in_range(3, 4),
    "age": _in_range(3, 9),
    "rent": _money(900, 3500, 50),
    "house_price": _money(180_000, 900_000, 5_000),
    "price_small": _in_range(15, 180),
    "budget": _money(800, 4000, 100),
    "vendor_a": _money(20_000, 60_000, 1_000),
    "vendor_b": _money(60_000, 140_000, 1_000),
    "downtime_cost": _money(500, 20_000, 500),
    "group_a": lambda s: _syllogism(s, "group_a"),
    "group_b": lambda s: _syllogism(s, "group_b"),
    "group_c": lambda s: _syllogism(s, "group_c"),
    **_pair("units_a", "unit_b", _UNIT_PAIRS),
    **_pair("concept_a", "concept_b", _CONCEPT_PAIRS),
    **_pair("deser_lang", "deser_call", _DESERIALISERS),
    **_pair("shell_tool", "shell_output", _SHELL_TOOLS),
}


class _Slots(dict):
    """The slot values of one topic: drawn on first use, then fixed, so that every rewording of the
    topic names the same entities and numbers. `city2` is a second city, distinct from `city`."""

    def __init__(self, rng: random.Random, difficulty: float):
        super().__init__()
        self.rng = rng
        self.difficulty = difficulty
        self._stack: _Stack | None = None

    def stack(self) -> _Stack:
        """The language, framework and test library this topic is about, drawn once."""
        if self._stack is None:
            self._stack = self.rng.choice(_STACKS)
        return self._stack

    def __missing__(self, key: str) -> str:
        if key.startswith("a_"):
            value = _with_article(self[key[2:]])
        elif key in _DERIVED:
            value = _DERIVED[key](self)
        elif key in _WORDS:
            value = self.rng.choice(_WORDS[key])
        else:
            value = self._another(key)
        self[key] = value
        return value

    def _another(self, key: str) -> str:
        base = key.rstrip(string.digits)
        if base == key or base not in _WORDS:
            raise KeyError(key)
        taken = {self[base]} | {v for k, v in self.items() if k.rstrip(string.digits) == base}
        return self.rng.choice([w for w in _WORDS[base] if w not in taken])


# ---------------------------------------------------------------------------------------------
# Pasted material
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stack:
    lang: str
    framework: str
    test_lib: str
    code: str
    error: str


_STACKS: tuple[_Stack, ...] = (
    _Stack("Python", "FastAPI", "pytest", "python", "a KeyError"),
    _Stack("Python", "Django", "pytest", "python", "a KeyError"),
    _Stack("Python", "Flask", "pytest", "python", "a KeyError"),
    _Stack("TypeScript", "Express", "Jest", "typescript", "a TypeError"),
    _Stack("TypeScript", "NestJS", "Jest", "typescript", "a TypeError"),
    _Stack("TypeScript", "Fastify", "Vitest", "typescript", "a TypeError"),
    _Stack("Go", "chi", "testify", "go", "a nil pointer panic"),
    _Stack("Go", "Gin", "testify", "go", "a nil pointer panic"),
    _Stack("Java", "Spring Boot", "JUnit 5", "java", "a NullPointerException"),
)

_T = string.Template

_SNIPPETS: dict[str, dict[str, string.Template]] = {
    "python": {
        "login": _T('''
def login(request, db):
    username = request.form["username"]
    password = request.form["password"]
    row = db.execute(
        f"SELECT id, password_hash FROM users WHERE username = '{username}'"
    ).fetchone()
    if row and check_password(password, row["password_hash"]):
        session["user_id"] = row["id"]
        return redirect(request.args.get("next", "/dashboard"))
    return render_template("login.html", error="Invalid username or password")
'''),
        "update": _T('''
@app.patch("/$table/<int:item_id>")
@login_required
def update_$entity_id(item_id):
    item = $Model.query.get_or_404(item_id)
    for key, value in request.get_json().items():
        setattr(item, key, value)
    db.session.commit()
    return jsonify(item.to_dict())
'''),
        "process": _T('''
def summarize_$table(rows, since):
    totals = {}
    for row in rows:
        if row["created_at"] < since:
            continue
        key = row["customer_id"]
        totals[key] = totals.get(key, 0) + row["$num_field"]
    ranked = sorted(totals.items(), key=lambda kv: kv[1])
    return ranked[:10]
'''),
    },
    "typescript": {
        "login": _T('''
app.post("/login", async (req, res) => {
  const { email, password } = req.body;
  const result = await db.query(`SELECT * FROM users WHERE email = '${email}'`);
  if (result.rows.length === 0) return res.status(401).send("Unknown email");
  const user = result.rows[0];
  if (!(await bcrypt.compare(password, user.password_hash))) {
    return res.status(401).send("Wrong password");
  }
  res.cookie("uid", String(user.id));
  res.redirect(String(req.query.next ?? "/"));
});
'''),
        "update": _T('''
router.patch("/$table/:id", requireLogin, async (req, res) => {
  const item = await $Model.findByPk(req.params.id);
  if (!item) return res.sendStatus(404);
  Object.assign(item, req.body);
  await item.save();
  res.json(item);
});
'''),
        "process": _T('''
export function summarize(rows: $Model[], since: Date): Map<string, number> {
  const totals = new Map<string, number>();
  rows.forEach((row) => {
    if (row.createdAt < since) return;
    const current = totals.get(row.customerId);
    totals.set(row.customerId, current + row.$num_field);
  });
  return totals;
}
'''),
    },
    "go": {
        "login": _T('''
func loginHandler(w http.ResponseWriter, r *http.Request) {
	user := r.FormValue("username")
	pass := r.FormValue("password")
	query := "SELECT id, password_hash FROM users WHERE username = '" + user + "'"
	var id int
	var hash string
	if err := db.QueryRow(query).Scan(&id, &hash); err != nil {
		http.Error(w, "invalid login", http.StatusUnauthorized)
		return
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(pass)) != nil {
		http.Error(w, "invalid login", http.StatusUnauthorized)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "session", Value: strconv.Itoa(id)})
	http.Redirect(w, r, r.URL.Query().Get("next"), http.StatusFound)
}
'''),
        "update": _T('''
func (h *Handler) Update$Model(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	var patch map[string]any
	if err := json.NewDecoder(r.Body).Decode(&patch); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	item, err := h.store.Get(r.Context(), id)
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	for k, v := range patch {
		item.Fields[k] = v
	}
	h.store.Save(r.Context(), item)
	json.NewEncoder(w).Encode(item)
}
'''),
        "process": _T('''
func Summarize(rows []$Model, since time.Time) map[string]int64 {
	var totals map[string]int64
	for _, row := range rows {
		if row.CreatedAt.Before(since) {
			continue
		}
		totals[row.CustomerID] += row.$NumField
	}
	return totals
}
'''),
    },
    "java": {
        "login": _T('''
@PostMapping("/login")
public ResponseEntity<?> login(@RequestParam String username, @RequestParam String password,
                               HttpSession session) {
    String sql = "SELECT id, password_hash FROM users WHERE username = '" + username + "'";
    Map<String, Object> row = jdbc.queryForMap(sql);
    if (!encoder.matches(password, (String) row.get("password_hash"))) {
        return ResponseEntity.status(401).body("Invalid credentials");
    }
    session.setAttribute("userId", row.get("id"));
    return ResponseEntity.ok().build();
}
'''),
        "update": _T('''
@PatchMapping("/$table/{id}")
public $Model update(@PathVariable long id, @RequestBody Map<String, Object> changes) {
    $Model item = repository.findById(id).orElseThrow();
    changes.forEach((key, value) -> {
        Field field = ReflectionUtils.findField($Model.class, key);
        field.setAccessible(true);
        ReflectionUtils.setField(field, item, value);
    });
    return repository.save(item);
}
'''),
        "process": _T('''
public Map<String, BigDecimal> summarize(List<$Model> rows, Instant since) {
    Map<String, BigDecimal> totals = new HashMap<>();
    for ($Model row : rows) {
        if (row.getCreatedAt().isBefore(since)) continue;
        BigDecimal total = totals.get(row.getCustomerId());
        totals.put(row.getCustomerId(), total.add(row.get$NumField()));
    }
    return totals;
}
'''),
    },
}

_TRACEBACKS: dict[str, string.Template] = {
    "python": _T('''
Traceback (most recent call last):
  File "/app/$service/worker.py", line $line1, in handle
    result = summarize_$table(batch, since)
  File "/app/$service/$table.py", line $line2, in summarize_$table
    totals[key] = totals.get(key, 0) + row["$num_field"]
KeyError: '$num_field'
'''),
    "typescript": _T('''
TypeError: Cannot read properties of undefined (reading '$num_field')
    at summarize (/srv/$service/dist/$table.js:$line1:23)
    at processBatch (/srv/$service/dist/worker.js:$line2:9)
    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)
'''),
    "go": _T('''
panic: assignment to entry in nil map

goroutine 42 [running]:
main.Summarize({0xc000184000, 0x24, 0x40}, {0x0, 0x0, 0x0})
	/app/$service/$table.go:$line1 +0x1b4
main.(*Handler).Report(0xc0000a6000, {0x9d5e40, 0xc0001c2000}, 0xc000198100)
	/app/$service/handlers.go:$line2 +0x2c5
'''),
    "java": _T('''
java.lang.NullPointerException: Cannot invoke "java.math.BigDecimal.add(java.math.BigDecimal)" because "total" is null
	at com.example.$service.${Model}Service.summarize(${Model}Service.java:$line1)
	at com.example.$service.${Model}Controller.report(${Model}Controller.java:$line2)
	at java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)
'''),
}

_NGINX = _T('''```nginx
server {
    listen 80;
    listen 443 ssl;
    server_name api.$domain.com;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2;
    ssl_ciphers ALL;
    location / {
        proxy_pass http://$service:8080;
    }
    location /login {
        proxy_pass http://$service:8080/login;
    }
}
```''')

_CLAIM_SQL = _T('''```sql
UPDATE $table SET status = 'processing', worker_id = $$1
WHERE id = (
  SELECT id FROM $table
  WHERE status = 'pending'
  ORDER BY created_at
  LIMIT 1
)
RETURNING id;
```''')

_PARAGRAPH_BANKS: tuple[tuple[str, ...], ...] = (
    ("{company} reported quarterly revenue of ${k3} million, up {pct}% on the same period last year.",
     "Most of the growth came from its subscription business, which now makes up nearly a third of sales.",
     "The company opened an office in {city} and expects to hire around {k2} people there by the end of "
     "the year.",
     "Operating costs rose faster than expected, mainly because of higher shipping and energy prices.",
     "Customer churn fell for the third quarter in a row, which management credited to a redesigned "
     "onboarding process.",
     "Even so, the company lowered its full-year guidance, citing uncertainty in {country}.",
     "Shares rose {pct2}% in early trading after the announcement."),
    ("Researchers in {city} found that street trees can lower summer pavement temperatures by as much as "
     "{k1} degrees.",
     "The team measured {k3} streets over {k1} summers, comparing blocks with and without mature trees.",
     "Shaded streets also saw fewer heat-related ambulance calls during heatwaves.",
     "The effect was strongest in neighbourhoods with little green space to begin with.",
     "The authors caution that young trees take a decade or more to give meaningful shade.",
     "City officials say the findings will shape where the next {k2} thousand trees are planted."),
    ("A survey of {k3} companies found that {pct}% now let most staff work remotely at least two days a week.",
     "Employers reported lower office costs, but many said onboarding new hires had become harder.",
     "Managers in {city} were the most likely to ask teams back to the office full time.",
     "Employees ranked flexible hours above almost every other benefit.",
     "The report recommends written onboarding plans and regular in-person weeks for new teams.",
     "Only a minority of firms measure whether hybrid arrangements affect productivity at all."),
    ("Sleep researchers have long suspected that memories are consolidated while we sleep.",
     "In a new study, {k2} volunteers learned word pairs in the evening and were tested the next morning.",
     "Those who slept at least seven hours recalled {pct}% more pairs than those kept awake.",
     "Brain scans showed bursts of activity during deep sleep that replayed the learning session.",
     "The researchers now want to test whether short afternoon naps have a similar effect.",
     "They warn that the sample was small and drawn mostly from university students in {city}."),
)

_PRODUCT_BLURB = (
    "Meet the {company} {gadget}, built for people who want more from every day.",
    "It charges fully in {k1} hours and lasts up to {k2} hours on a single charge.",
    "The casing is made from recycled aluminium and comes in three colours.",
    "Setup takes minutes with our companion app for iOS and Android.",
    "Every order ships free and comes with {a_k1}-year warranty.",
    "Thousands of customers already use it at home and at work.",
)

_MEETING_NOTES = (
    "- {service} migration to {db} slipped {k1} weeks, blocked on the data backfill",
    "- {first_name} owns the rollback plan, draft due Friday",
    "- agreed to freeze schema changes until cutover",
    "- load test: p95 {ms} ms at {rps} rps, inside budget",
    "- open question: keep the old read path for a month or switch at once?",
    "- support wants {k1} days' notice before customers see anything",
    "- {first_name2} to check licence costs with finance",
    "- next sync Thursday, same time",
)

_CHANGES = (
    "- Added {feature} for {entities}",
    "- Fixed a crash when {a_entity} had no {field}",
    "- The {service} service now retries failed calls to {queue} up to {k1} times",
    "- Search over {entities} is {pct}% faster",
    "- The v1 {entity} endpoints are deprecated and will be removed in the next major release",
    "- Upgraded the {db} driver",
    "- Exports now include the {num_field} column",
)

_SYSTEM_CONTEXT = (
    "Some background: we run about {k2} services on {cloud}, and the {service} service owns the {entities} "
    "in {db}.",
    "Changes are published to {queue} and consumed by {n} other services.",
    "Peak traffic is around {rps} requests per second.",
    "The team is {k1} engineers, and two other teams depend on the current API.",
    "Deploys go out several times a day through a blue-green pipeline.",
    "Last quarter we had two incidents where a slow {db} query took the whole service down.",
)

_TYPO_EMAILS = (
    "Hi {first_name},\n\nThanks for you're quick reply. I wanted to confirm that we will be shiping the "
    "{k2} units on thursday, however the invoice still show the old price. Could you please send a "
    "updated one before friday?\n\nBest regards,\n{first_name2}",
    "Dear {first_name},\n\nI am writting to follow up on our meeting last week. As discused, we would "
    "like to move forward with the pilot in {city}, but we need the contract to reflect the {pct}% "
    "discount we agreed. Let me know if their is anything else you need from us.\n\nKind regards,\n"
    "{first_name2}",
    "Hello team,\n\nJust a reminder that the office will be close on monday for maintainance. Please "
    "make sure all you're laptops are updated before then, and let {first_name} know if you has any "
    "problem.\n\nThanks,\n{first_name2}",
)

_CUSTOMER_EMAILS = (
    "Hello, I bought {product} from you {k1} weeks ago and I'm not happy with it. It doesn't work the way "
    "the website described. I want my money back, not a replacement. Order {order_id}. {first_name}",
    "Hi, I'd like a full refund for order {order_id}. The item arrived late and I no longer need it. I know "
    "it's past the return window but that's not my fault. Regards, {first_name}",
)

_REVIEWS = (
    "Delivery took {k1} days longer than promised.",
    "Great product, but the app keeps logging me out.",
    "Customer service never replied to my email.",
    "Works as described. Battery could be better.",
    "The sizing chart is completely wrong, had to return it twice.",
    "Arrived damaged, the box was crushed.",
    "Love it! Already ordered a second one.",
    "Checkout failed three times before my payment went through.",
    "Too expensive for what you get.",
    "Tracking link didn't work, no idea where my parcel was for a week.",
)


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------

_ALTERNATION = re.compile(r"\[([^\[\]]*\|[^\[\]]*)\]")


def _fill(template: str, slots: _Slots) -> str:
    chosen = _ALTERNATION.sub(lambda m: slots.rng.choice(m.group(1).split("|")), template)
    return chosen.format_map(slots)


def _attach_clauses(body: str, clauses: list[str], header: str) -> str:
    """Few requirements read as trailing sentences; many read as a list, as in a written spec."""
    if not clauses:
        return body
    if len(clauses) <= 2:
        return body + ("\n\n" if "\n" in body else " ") + " ".join(clauses)
    return body + "\n\n" + header + "\n" + "\n".join("- " + c for c in clauses)


@dataclass
class _Topic:
    """One underlying question and everything needed to ask it again in other words."""

    topic_id: int
    category: str
    difficulty: float
    family: _Family
    slots: _Slots
    clauses: tuple[str, ...]
    system: str
    output_tokens: int
    text: str = ""


def _render(topic: _Topic, variant: int, clause_order: list[int], polite: bool, rng: random.Random) -> str:
    slots = topic.slots
    body = _fill(topic.family.variants[variant], slots)
    clauses = [_fill(topic.clauses[i], slots) for i in clause_order]
    text = _attach_clauses(body, clauses, _fill(_CLAUSE_HEADER, slots))
    if polite and topic.category != "chat":  # small talk carries its own greetings
        text = _wrap(text, rng)
    return text


def _wrap(text: str, rng: random.Random) -> str:
    prefix, suffix = rng.choice(_PREFIXES), rng.choice(_SUFFIXES)
    if suffix:
        text += ("\n\n" if "\n" in text else " ") + suffix
    return prefix + text


# ---------------------------------------------------------------------------------------------
# The stream
# ---------------------------------------------------------------------------------------------


class TrafficGenerator:
    """Deterministic synthetic traffic: `stream(n)` yields the same prompts for the same seed."""

    def __init__(self, seed: int, category_weights: dict[str, float] | None = None, repeat_share: float = 0.2):
        if not 0 <= repeat_share < 1:
            raise ValueError("repeat_share must be in [0, 1)")
        weights = category_weights if category_weights is not None else {c: p.weight for c, p in _PROFILES.items()}
        unknown = sorted(set(weights) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories in category_weights: {unknown}")
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError("category_weights must be non-negative and not all zero")
        self.seed = seed
        self.repeat_share = repeat_share
        self.category_weights = {c: float(weights.get(c, 0.0)) for c in CATEGORIES}

    def stream(self, n: int) -> Iterator[SyntheticPrompt]:
        if n < 0:
            raise ValueError("n must be >= 0")
        state = _StreamState(self)
        for index in range(n):
            yield state.next_prompt(index)


def distinct_prompts(n: int, seed: int, max_input_tokens: int | None = None) -> list[SyntheticPrompt]:
    """n prompts of distinct text (at most `max_input_tokens` each): a benchmark of cache misses.

    The stream repeats and paraphrases on purpose, and its templates run out of new wordings:
    about 28,000 distinct prompts of at most 64 tokens come from 100,000 drawn.
    """
    if n < 1:
        raise ValueError(f"the number of distinct prompts must be >= 1, not {n}")
    seen: set[str] = set()
    prompts = []
    for prompt in TrafficGenerator(seed).stream(n * DRAWS_PER_DISTINCT):
        if (max_input_tokens is None or prompt.input_tokens <= max_input_tokens) and prompt.text not in seen:
            seen.add(prompt.text)
            prompts.append(prompt)
            if len(prompts) == n:
                return prompts
    raise ValueError(f"the generator gave only {len(prompts)} distinct prompts, not {n}")


class _StreamState:
    """The topics seen so far in one stream, and their popularity for revisits."""

    def __init__(self, generator: TrafficGenerator):
        # random.Random rather than numpy: generation draws hundreds of thousands of single values,
        # where the stdlib generator is several times faster per call.
        self.rng = random.Random(generator.seed)
        self.repeat_share = generator.repeat_share
        self.categories = list(generator.category_weights)
        self.cum_weights = list(itertools.accumulate(generator.category_weights.values()))
        self.topics: list[_Topic] = []
        self.cum_popularity: list[float] = []

    def next_prompt(self, index: int) -> SyntheticPrompt:
        rng = self.rng
        if self.topics and rng.random() < self.repeat_share:
            topic = self._popular_topic()
            if rng.random() < EXACT_REPEAT_SHARE:
                return _prompt(index, topic, topic.text, "repeat")
            return _prompt(index, topic, self._paraphrase(topic), "paraphrase")
        topic = self._new_topic()
        return _prompt(index, topic, topic.text, "new")

    def _new_topic(self) -> _Topic:
        rng = self.rng
        category = rng.choices(self.categories, cum_weights=self.cum_weights)[0]
        profile = _PROFILES[category]
        difficulty = rng.betavariate(*profile.beta)
        family = self._family(category, difficulty)
        slots = _Slots(rng, difficulty)
        clause_count = min(len(family.clauses), sum(rng.random() < difficulty for _ in range(profile.max_clauses)))
        # Security work worded as an ordinary feature comes from the callers that ask for ordinary features.
        systems = _STANDARD.systems if family.implicit else profile.systems
        topic = _Topic(
            topic_id=len(self.topics), category=category, difficulty=difficulty, family=family, slots=slots,
            clauses=tuple(rng.sample(family.clauses, clause_count)),
            system=SYSTEM_PROMPTS[rng.choices(list(systems), list(systems.values()))[0]],
            output_tokens=_output_tokens(category, difficulty, rng),
        )
        polite = rng.random() < NEW_POLITE_SHARE
        topic.text = _render(topic, rng.randrange(len(family.variants)), list(range(clause_count)), polite, rng)
        self.topics.append(topic)
        last = self.cum_popularity[-1] if self.cum_popularity else 0.0
        self.cum_popularity.append(last + rng.paretovariate(POPULARITY_SHAPE))
        return topic

    def _family(self, category: str, difficulty: float) -> _Family:
        rng = self.rng
        ambiguous = _AMBIGUOUS_BY_CATEGORY[category]
        if ambiguous and rng.random() < AMBIGUOUS_SHARE:
            return rng.choice(ambiguous)
        if category == SECURITY_CRITICAL and rng.random() < IMPLICIT_SECURITY_SHARE:
            families = _IMPLICIT_SECURITY
        else:
            families = _PROFILES[category].families
        weights = [LEVEL_FLOOR + math.exp(-(((f.level - difficulty) / LEVEL_WIDTH) ** 2)) for f in families]
        return rng.choices(families, weights)[0]

    def _popular_topic(self) -> _Topic:
        point = self.rng.random() * self.cum_popularity[-1]
        index = min(bisect.bisect_right(self.cum_popularity, point), len(self.topics) - 1)
        return self.topics[index]

    def _paraphrase(self, topic: _Topic) -> str:
        """Same slots, another variant, reordered requirements and different politeness."""
        rng = self.rng
        variants = len(topic.family.variants)
        order = list(range(len(topic.clauses)))
        for _ in range(10):
            rng.shuffle(order)
            text = _render(topic, rng.randrange(variants), order, rng.random() < PARAPHRASE_POLITE_SHARE, rng)
            if text != topic.text:
                return text
        return topic.text + " Thanks."



def _output_tokens(category: str, difficulty: float, rng: random.Random) -> int:
    median = DEFAULT_OUTPUT_TOKENS[category] * (0.5 + difficulty)
    return max(8, min(MAX_OUTPUT_TOKENS, round(rng.lognormvariate(math.log(median), OUTPUT_SIGMA))))


def _prompt(index: int, topic: _Topic, text: str, kind: str) -> SyntheticPrompt:
    return SyntheticPrompt(
        index=index, topic_id=topic.topic_id, system=topic.system, text=text, category=topic.category,
        difficulty=topic.difficulty, input_tokens=max(1, round((len(topic.system) + len(text)) / CHARS_PER_TOKEN)),
        output_tokens=topic.output_tokens, kind=kind, style=_style(topic),
    )


def _style(topic: _Topic) -> str:
    if topic.category != SECURITY_CRITICAL:
        return ""
    return "implicit" if topic.family.implicit else "explicit"
