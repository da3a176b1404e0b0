"""Engineering families: complex and standard implementation, analysis and debugging, documentation."""

from simulator.traffic.family import Profile, f

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

COMPLEX = Profile(
    weight=0.06, beta=(5.0, 2.5), max_clauses=8,
    systems={"none": 0.35, "engineer": 0.5, "assistant": 0.15},
    families=(
        f(0.7, "{context}\n\nWe want to move {entity} handling out of the monolith into its own service "
               "with no downtime. Design the migration and write the code for the dual-write phase.",
          "Plan and implement carving {entity} handling out of our monolith into a separate service, "
          "including the dual-write code and the cutover.\n\n{context}",
          clauses=_CPLX_COMMON + _CPLX_DATA),
        f(0.65, "Build a webhook delivery system for our customers: signed payloads, retries with backoff, "
                "per-customer rate limits and a dead-letter queue on {queue}. Write it in {plang}.",
          "We need outbound webhooks in {plang}: sign each payload, retry with exponential backoff, limit "
          "the rate per customer and park failures in a dead-letter queue on {queue}.",
          clauses=_CPLX_COMMON + _CPLX_QUEUE + ("A customer's endpoint may be down for hours.",
                                               "Each customer's signing secret must be rotatable.")),
        f(0.6, "Implement a real-time leaderboard for {k3} thousand concurrent players with Redis sorted "
               "sets and {a_framework} API, including weekly resets.",
          "Write {a_framework} service that keeps a live leaderboard for about {k3} thousand concurrent "
          "players, backed by Redis sorted sets, with a weekly reset.",
          clauses=_CPLX_COMMON + ("Scores only go up; ignore stale updates.",
                                  "Ties go to whoever reached the score first.",
                                  "Players must see their own rank even far outside the top 100.")),
        f(0.7, "Write an inventory reservation service that never oversells a product across {n} "
               "warehouses, using {db} and {queue}.",
          "Stock for each product is split over {n} warehouses. Build the reservation service (on {db} "
          "and {queue}) so we can never sell more than we have.",
          clauses=_CPLX_COMMON + _CPLX_QUEUE + _CPLX_DATA[:3]
          + ("A reservation expires after {k2} minutes if it isn't paid.",)),
        f(0.75, "Implement a checkout saga across the {service} and {service2} services with compensating "
                "actions, timeouts and an orchestrator written in {plang}.",
          "Our checkout spans the {service} and {service2} services. Implement it as an orchestrated saga in "
          "{plang}: compensation steps, timeouts, and recovery after an orchestrator crash.",
          clauses=_CPLX_COMMON + _CPLX_QUEUE + ("All writes must be idempotent; clients retry aggressively.",
                                               "Each step must be retryable on its own.")),
        f(0.6, "Build a change-data-capture pipeline that streams every change to {entities} from {db} into "
               "{warehouse} through {queue}, with schema evolution.",
          "Stream all changes to the {table} table from {db} to {warehouse} via {queue}. It has to "
          "survive schema changes. Write the pipeline.",
          clauses=_CPLX_COMMON + _CPLX_QUEUE + _CPLX_DATA[2:] + ("Deletes must reach {warehouse} too.",)),
        f(0.55, "Write a consistent-hashing cache layer in {plang} that sits in front of {db}, with "
                "virtual nodes and rebalancing when a cache node joins or leaves.",
          "I need a cache tier in {plang} in front of {db}: consistent hashing with virtual nodes, and "
          "rebalancing as nodes come and go.",
          clauses=_CPLX_COMMON + ("A cold cache must not stampede {db}.",
                                  "Add integration tests that run against a real {db} in Docker.")),
        f(0.65, "Design and build a multi-tenant search service for {entities} on {search_engine}: "
                "indexing from {db}, per-tenant filtering, typo tolerance and zero-downtime reindexing.",
          "Build search over {entities} for every tenant using {search_engine}. Index from {db}, filter "
          "by tenant, tolerate typos, and reindex without taking search offline.",
          clauses=_CPLX_COMMON + _CPLX_TENANT + _CPLX_DATA[3:]
          + ("Edits must show up in results within {k1} seconds.",)),
        f(0.8, "{context}\n\nArchitect an active-active deployment of the {service} service across two "
               "{cloud} regions, including conflict handling for concurrent edits to the same {entity}.",
          "Design an active-active, two-region setup on {cloud} for the {service} service and show the "
          "conflict resolution for simultaneous edits of one {entity}.\n\n{context}",
          clauses=_CPLX_COMMON + _CPLX_DATA),
        f(0.6, "Implement a document versioning system for {entities}: full history, diffs between any two "
               "versions, and three-way merge when two people edit at once. Backend in {framework}, UI in "
               "{ui}.",
          "Users keep overwriting each other's {entities}. Build versioning: history, diffs and a "
          "three-way merge, with {a_framework} backend and {a_ui} front end.",
          clauses=_CPLX_COMMON + _CPLX_TENANT + ("Keep the full history for {k1} years.",
                                                 "A single document can be several megabytes.")),
        f(0.7, "Write a distributed job runner in {plang}: workers pull jobs from {queue}, jobs have "
               "deadlines and priorities, and a crashed worker's jobs are picked up by others.",
          "Build a job runner in {plang} where many workers consume from {queue}; support priorities and "
          "deadlines, and reassign the jobs of workers that die.",
          clauses=_CPLX_COMMON + _CPLX_QUEUE + ("A single job can run for up to {k1} hours.",
                                               "All writes must be idempotent; clients retry aggressively.")),
        f(0.55, "Add offline support to our {ui} app: queue edits to {entities} in IndexedDB, sync when "
                "the connection returns and resolve conflicts with the {framework} backend.",
          "Our {ui} app should keep working offline. Store edits to {entities} in IndexedDB, replay them "
          "on reconnect, and handle conflicts against the {framework} API.",
          clauses=("Explain the trade-offs of your design before writing code.",
                   "Users can stay offline for days.", "The sync must cope with flaky mobile connections.",
                   "Give a rollout plan behind a feature flag, with a rollback step.",
                   "All writes must be idempotent; clients retry aggressively.",
                   "Show the conflict UI as well as the merge logic.")),
        f(0.75, "{context}\n\nShard the {table} table in {db} by tenant and write the routing layer "
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
STACK_CODE = ("Include {test_lib} tests.", "Follow the {framework} conventions the rest of the project uses.")
_UI = ("Make it keyboard accessible.", "Show a spinner while the request runs.",
       "Write a component test with Testing Library.", "Use TypeScript.", "No component library, just CSS.")

STANDARD = Profile(
    weight=0.16, beta=(2.5, 3.0), max_clauses=5,
    systems={"none": 0.4, "engineer": 0.45, "assistant": 0.15},
    families=(
        f(0.3, "Write a {lang} function that validates {field} values and returns a list of error messages.",
          "I need a {lang} function to validate {field} values; it should return the errors as a list.",
          clauses=_CODE + ("Accept international formats.", "Error messages must be translatable.")),
        f(0.45, "Add an endpoint to our {framework} app that lists {entities} from {db} with cursor "
                "pagination.",
          "Create a paginated GET endpoint for {entities} in {framework}; the data lives in {db}. Use a "
          "cursor, not offsets.",
          clauses=STACK_CODE + ("Cap the page size at 100.", "Return 400 with a clear message for a bad cursor.",
                                "Add an index if the query needs one.", "Sort by created_at, newest first.")),
        f(0.35, "Create {a_ui} component that shows one {entity} as a card with its {field} and a delete "
                "button that asks for confirmation.",
          "Build me {a_ui} card component for {a_entity}: show the {field}, plus a delete button with a "
          "confirmation step.",
          clauses=_UI),
        f(0.25, "Write a regex that matches {regex_target}.",
          "Give me a regular expression for {regex_target}, with a couple of test strings.",
          clauses=("It must reject obviously invalid values.", "Explain each part of the pattern.",
                   "It should work in both {plang} and JavaScript.", "Include a few strings that must not match.")),
        f(0.4, "Write {test_lib} tests for this function:\n\n{snippet}",
          "Add unit tests with {test_lib} that cover this code, edge cases included:\n\n{snippet}",
          clauses=("Cover empty input, missing fields and ties.", "Use parametrised tests where it helps.",
                   "Don't hit the database; mock it.", "Aim for full branch coverage.")),
        f(0.3, "Write a Dockerfile for {a_framework} service with a multi-stage build and a non-root user.",
          "I need a small production Dockerfile for our {framework} app: multi-stage, runs as non-root.",
          clauses=("The final image should be under {image_mb} MB.", "Add a health check.",
                   "Pin the base image version.", "It must build on both amd64 and arm64.")),
        f(0.35, "Write a Python script that reads a CSV of {entities}, drops rows with an empty {field} "
                "and writes the rest to JSON.",
          "Quick Python script please: load {entities} from a CSV, skip any row whose {field} is blank, "
          "save the remainder as JSON.",
          clauses=_CODE + ("The file can have {n_big} rows, so stream it.",
                           "Take the input path as a command-line argument.")),
        f(0.4, "Write a SQL query for {sql_db} that returns the top {n} {entities} by {num_field} for each "
               "month of {year}.",
          "In {sql_db}, how would I query the {n} {entities} with the highest {num_field} in every month "
          "of {year}? Write the query.",
          clauses=("Months with no {entities} should still appear.", "Break ties by the most recent one.",
                   "Say which index would help.", "The table has {n_big} rows.")),
        f(0.35, "Refactor this {lang} code into smaller functions without changing what it does:\n\n{snippet}",
          "Clean up this {lang} code: split it into smaller functions, same behaviour.\n\n{snippet}",
          clauses=_CODE + STACK_CODE),
        f(0.4, "Write {a_plang} helper that retries a call up to {n} times with exponential backoff and "
               "jitter.",
          "Implement retry with exponential backoff and jitter in {plang}, at most {n} attempts.",
          clauses=_CODE + ("Only retry on timeouts and 5xx errors.", "Make the maximum delay configurable.",
                           "Let callers cancel it.")),
        f(0.45, "Write a GitHub Actions workflow that runs the {test_lib} suite of our {framework} app on "
                "every pull request, with dependency caching.",
          "Set up CI with GitHub Actions for our {framework} project: run {test_lib} on each PR and cache "
          "dependencies.",
          clauses=("Run the tests on two {lang} versions.", "Fail the build on lint errors.",
                   "Skip the workflow when only Markdown files change.", "Upload the coverage report.")),
        f(0.35, "Write the migration and the data model for {entities} in our {framework} app, with {field} "
                "and {num_field} columns.",
          "Add {a_entity} table to our {framework} app with {field} and {num_field} columns; I need the "
          "model and the migration.",
          clauses=STACK_CODE + ("Make the {field} unique.", "Add an index on created_at.",
                                "The migration must be reversible.")),
        f(0.2, "Write a bash script that deletes log files older than {n} days from /var/log/{service}.",
          "Bash one-off: remove anything in /var/log/{service} older than {n} days.",
          clauses=("Print what it deletes.", "Add a --dry-run flag.", "It runs from cron, so log to syslog.")),
        f(0.45, "Implement an LRU cache class in {plang} with O(1) get and put and a fixed capacity.",
          "Write a fixed-size LRU cache in {plang}; get and put should both be O(1).",
          clauses=_CODE + ("Make it safe to use from several threads.", "Add an optional time-to-live per entry.")),
        f(0.3, "Add {a_feature} button to the {entity} list page in our {ui} app.",
          "Our {ui} app needs {feature} on the {entities} page. Add the button and wire it up.",
          clauses=_UI + ("Disable the button when the list is empty.",)),
        f(0.4, "Write a CLI in {plang} that takes a folder and prints the {n} largest files in it, "
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

DEBUG = Profile(
    weight=0.10, beta=(3.0, 3.0), max_clauses=5,
    systems={"none": 0.35, "engineer": 0.35, "reviewer": 0.2, "assistant": 0.1},
    families=(
        f(0.4, "I'm getting this when the {service} worker runs:\n\n{traceback}\n\nWhat's wrong?",
          "Why does our {service} worker crash with this?\n\n{traceback}",
          clauses=_DEBUG_COMMON + ("It started right after we upgraded {framework}.", "We can't reproduce it locally.",
                                   "It only happens for about one batch in {k2}.",
                                   "It works on macOS but fails inside the Alpine Docker image.")),
        f(0.5, "Our {framework} API got slow after the last release: p95 went from {ms} ms to {ms2} ms. "
               "Where should I start looking?",
          "p95 latency on the {framework} API jumped from {ms} ms to {ms2} ms after yesterday's release. "
          "[How do I find the cause?|What would you check first?]",
          clauses=_DEBUG_COMMON + ("Traffic hasn't changed noticeably.",
                                   "We already ruled out the database: its CPU stays under {pct}%.",
                                   "We deploy {k1} times a day, so bisecting by release is hard.",
                                   "Only some endpoints are affected.")),
        f(0.55, "Memory in the {service} service grows until the pod is OOM-killed after about {n} hours. "
                "This is the code that handles {entities}:\n\n{snippet}",
          "The {service} pod gets OOM-killed roughly every {n} hours; memory climbs steadily. Here's the "
          "{entity} handling code:\n\n{snippet}",
          clauses=_DEBUG_COMMON + ("It started right after we upgraded {framework}.",
                                   "Traffic hasn't changed noticeably.", "Heap dumps are too big to share.")),
        f(0.45, "Review this {lang} code and point out bugs and performance problems:\n\n{snippet}",
          "Can you look over this {lang} code for bugs or slow spots?\n\n{snippet}",
          clauses=("Focus on correctness first, then performance.", "The input can hold {n_big} rows.",
                   "Show the fixed version.", "Point to the exact lines.")),
        f(0.35, "Why does this give the wrong totals for {entities} created today?\n\n{snippet}",
          "The totals from this function are off for {entities} created today. What's the bug?\n\n{snippet}",
          clauses=_DEBUG_COMMON + ("We can't reproduce it locally.",
                                   "It only affects customers in time zones ahead of UTC.")),
        f(0.5, "Which is better for a read-heavy {entity} lookup: an in-process LRU per instance or a "
               "shared Redis cache? We run {n} instances.",
          "Compare a per-instance LRU with a shared Redis cache for {entity} lookups ({n} instances, "
          "mostly reads). Which would you pick and why?",
          clauses=("Reads outnumber writes about {k2} to one.", "Stale data for up to {k1} seconds is acceptable.",
                   "Consider what happens during a deploy.", "Estimate the memory each option needs.")),
        f(0.4, "Group these customer reviews by the main complaint and tell me which issue matters most:"
               "\n\n{reviews}",
          "What are the recurring complaints in these reviews, and which one should we fix first?"
          "\n\n{reviews}",
          clauses=("Give a rough count for each theme.", "Quote one review per theme.",
                   "Suggest one fix per theme.")),
        f(0.6, "Our {metric} dropped {pct}% last week. Daily numbers: {series}. What could explain it and "
               "how would you check?",
          "Daily {metric}: {series}. That's {a_pct}% drop. [What are the likely causes|Why might this "
          "happen], and how do we verify?",
          clauses=_DEBUG_COMMON + ("We shipped a new checkout page on Wednesday.",
                                   "Mobile and desktop are mixed in these numbers.",
                                   "Traffic hasn't changed noticeably.")),
        f(0.65, "Two workers sometimes process the same {entity}. This is the query they use to claim "
                "work. Find the race.\n\n{claim_sql}",
          "We see {entities} processed twice now and then. Workers claim jobs with the query below; where's "
          "the race condition?\n\n{claim_sql}",
          clauses=_DEBUG_COMMON + ("It only happens under load, about once in {n_big} jobs.", "We run {n} workers.",
                                   "The database is {sql_db}.")),
        f(0.45, "The {framework} tests pass locally but fail in CI. Log from the failing run:"
                "\n\n{traceback}",
          "CI keeps failing even though the whole suite passes on my laptop. Here's the "
          "log:\n\n{traceback}",
          clauses=_DEBUG_COMMON + ("It works on macOS but fails inside the Alpine Docker image.",
                                   "It fails about one run in {k1}.")),
        f(0.4, "Pull the company, invoice number, amount and due date out of these lines into a table:"
               "\n\n{invoice_lines}",
          "Extract company, invoice number, amount and due date from the following:\n\n{invoice_lines}",
          clauses=("Return it as a Markdown table.", "Normalise the dates to ISO 8601.",
                   "Flag any line you are unsure about.", "Add a total per company.")),
        f(0.45, "This {sql_db} query takes {k1} seconds on {n_big} rows. Why, and how do I speed it up?"
                "\n\nSELECT * FROM {table} WHERE lower({field}) = $1 ORDER BY created_at DESC LIMIT 50;",
          "SELECT * FROM {table} WHERE lower({field}) = $1 ORDER BY created_at DESC LIMIT 50;\n\nOn "
          "{sql_db} with {n_big} rows this takes {k1} seconds. What's slowing it down?",
          clauses=_DEBUG_COMMON + ("There is an index on {field}.", "Explain what the query plan will look like.",
                                   "We can't change the schema this quarter.")),
        f(0.55, "The Kubernetes pod for {service} restarts every few minutes with exit code 137, but "
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

DOCS = Profile(
    weight=0.06, beta=(2.0, 3.0), max_clauses=5,
    systems={"none": 0.45, "engineer": 0.35, "assistant": 0.2},
    families=(
        f(0.3, "Write a README for the {service} service: what it does, how to run it locally with "
               "Docker, and the environment variables it reads.",
          "Our {service} service has no README. Write one covering its purpose, running it locally in "
          "Docker, and its environment variables.",
          clauses=_DOCS_COMMON + ("List every environment variable with its default.",
                                  "Include a quickstart that takes under five minutes.",
                                  "Add a troubleshooting section for the {n} most common errors.")),
        f(0.35, "Add docstrings to every function in this code:\n\n{snippet}",
          "Document this {lang} code with [docstrings|doc comments] for each function:\n\n{snippet}",
          clauses=("Describe parameters, return values and errors.", "Keep each one short.",
                   "Mention the bug you notice, but don't fix it.")),
        f(0.5, "Write the API reference for our {entity} endpoints (list, get, create, update, delete) "
               "with request and response examples.",
          "We need reference docs for the {entities} API: list, get, create, update and delete, each "
          "with example requests and responses.",
          clauses=_DOCS_COMMON + ("Add a curl example for each endpoint.", "Document every error code.",
                                  "Say which fields are optional.")),
        f(0.4, "Draft release notes for version {version} of the {service} service from these changes:"
               "\n\n{changes}",
          "Turn this list of changes into release notes for {service} {version}:\n\n{changes}",
          clauses=("Group the changes into features, fixes and deprecations.",
                   "Write it for customers, not engineers.", "Call out anything users must act on.",
                   "Keep it under {n_words} words.")),
        f(0.55, "Write an on-call runbook for when the {service} consumers fall behind on {queue}: how to "
                "spot it, mitigate it and recover.",
          "On-call needs a runbook for {a_queue} backlog in the {service} service: detection, mitigation, "
          "recovery, and who to page.",
          clauses=_DOCS_COMMON + ("Give the exact commands to run.", "Name the dashboards and alerts to check.",
                                  "Add a troubleshooting section for the {n} most common errors.")),
        f(0.6, "Write a design doc for moving {entities} from {db} to {db2}: background, goals, "
               "non-goals, the plan and the risks.",
          "Draft the design doc for migrating {entity} storage off {db} onto {db2}. Sections: "
          "background, goals, non-goals, plan, risks.",
          clauses=_DOCS_COMMON + ("Include a rollback plan.", "Estimate the effort in weeks.",
                                  "Describe the data flow in a form we can turn into a Mermaid diagram.")),
        f(0.35, "Write a CONTRIBUTING.md for our open-source {plang} library: setup, running the tests, "
                "commit style and how releases work.",
          "Our {plang} library needs a CONTRIBUTING.md that explains setup, tests, commit messages and "
          "the release process.",
          clauses=_DOCS_COMMON + ("Mention how to run the linters.",
                                  "Explain how we label issues for first-time contributors.")),
        f(0.45, "Write an onboarding guide page that explains how a request flows through our {framework} "
                "app, from routing down to {db}.",
          "New hires keep asking how a request travels through our {framework} app to {db}. Write the "
          "guide page that explains it.",
          clauses=_DOCS_COMMON + ("The readers have never used {framework}.",
                                  "Describe the data flow in a form we can turn into a Mermaid diagram.",
                                  "Point to where each step lives in the code.")),
        f(0.4, "Write an architecture decision record for choosing {queue} over {queue2} for {entity} "
               "events.",
          "Record our decision to use {queue} rather than {queue2} for {entity} events as an ADR.",
          clauses=_DOCS_COMMON + ("Include the options we rejected and why.", "Note the consequences we accept.")),
        f(0.3, "Write the usage section of the README for our `{cli}` tool, covering its {n} subcommands "
               "and their flags.",
          "Document the `{cli}` command-line tool in the README: all {n} subcommands with their flags.",
          clauses=_DOCS_COMMON + ("Add an example for each subcommand.", "Document the exit codes.")),
        f(0.45, "Write a data dictionary for the {table} table: every column, its type, what it means and "
                "an example value.",
          "Describe each column of {table} (type, meaning, example) for the analytics team's wiki.",
          clauses=("Mark which columns hold personal data.", "Note which columns can be null.",
                   "Output it as a Markdown table.")),
    ),
)
