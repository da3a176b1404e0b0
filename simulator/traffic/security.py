"""Security-critical families: those that name the risk, and security work asked for as an ordinary feature."""

from __future__ import annotations

from simulator.traffic.engineering import STACK_CODE
from simulator.traffic.family import Family, Profile, f, implicit

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

SECURITY = Profile(
    weight=0.05, beta=(4.0, 3.0), max_clauses=6,
    systems={"none": 0.35, "engineer": 0.35, "reviewer": 0.2, "assistant": 0.1},
    families=(
        f(0.4, "Review this {framework} login flow for injection risks:\n\n{login_snippet}",
          "Can you check this {lang} login handler for [SQL injection|injection bugs]?\n\n{login_snippet}",
          clauses=_SEC_CODE + ("Say which issues are exploitable without logging in.",
                               "The fix must not log anyone out.")),
        f(0.5, "Audit the session handling in this {framework} code. Could an attacker hijack or fixate "
               "a session?\n\n{login_snippet}",
          "Here is how we log users in and set the session cookie ({framework}). [Look for|Find] ways an "
          "attacker could hijack or fixate a session.\n\n{login_snippet}",
          clauses=_SEC_CODE + ("Cover the admin panel too; it shares the same session store.",
                               "The fix must not log anyone out.")),
        f(0.65, "Write a threat model for the {service} service. It exposes a public REST API, stores "
                "{entities} in {db} and publishes events to {queue}.",
          "We need a threat model for our {service} service: public REST API, {entities} stored in {db}, "
          "events going out over {queue}. [Walk me through it.|Where are the main risks?]",
          clauses=_SEC_COMMON + ("The API sits behind a CDN that caches GET responses for {n} minutes.",
                                 "Partners call the same API with long-lived tokens.",
                                 "Say which threats need no login at all.",
                                 "Use STRIDE and give one mitigation per threat.")),
        f(0.5, "Our {cloud} access keys sat in a public GitHub repo for about {n} hours. What do we rotate "
               "first, and how do we find out whether anyone used them?",
          "Someone pushed {cloud} access keys to a public repo and they were exposed for roughly {n} hours. "
          "[Which credentials do we revoke first|What's the rotation order], and how can we tell if they "
          "were abused?",
          clauses=("The keys had admin rights on the production account.",
                   "We can't take the {service} service offline while rotating.",
                   "Tell us how we would spot further use in our logs.",
                   "We have to stay {compliance} compliant.",
                   "Suggest what to put in CI so it can't happen again.")),
        f(0.7, "Our {framework} API reads the key id from the JWT header and picks the verification key "
               "with it. Can an attacker forge tokens this way, for example by switching the algorithm?",
          "Check whether our JWT verification could accept forged tokens. We take the `kid` and `alg` from "
          "the token header itself and look up the key in a table ({framework} backend).",
          clauses=_SEC_CODE + ("Partners call the same API with long-lived tokens.",
                               "The fix must not log anyone out.")),
        f(0.45, "Harden this nginx config for our public {service} API: TLS versions and ciphers, "
                "response headers, and rate limiting on the login route.\n\n{nginx_conf}",
          "This nginx config fronts the {service} API. Tighten it up: TLS settings, headers and a "
          "rate limit for /login.\n\n{nginx_conf}",
          clauses=_SEC_COMMON + ("Some customers still use Android 7 devices.",
                                 "The API sits behind a CDN that caches GET responses for {n} minutes.",
                                 "Explain each change in one line.")),
        f(0.6, "Design tenant isolation for our multi-tenant {entity} platform so that no customer can "
               "ever read another customer's {entities}. We use {framework} and {db}.",
          "How do we make sure tenant A can never see tenant B's {entities}? Multi-tenant {framework} app "
          "on {db}; I want row-level isolation and role-based access.",
          clauses=_SEC_CODE + ("Cover the admin panel too; support staff can switch tenants.",
                               "Show the {db} side as well as the application checks.")),
        f(0.55, "The advisory feed flagged CVE-{cve_year}-{cve_num} in {package} {version}, which the "
                "{service} service depends on. Assess the exposure and tell us how to remediate.",
          "We run {package} {version} in the {service} service and CVE-{cve_year}-{cve_num} just came out "
          "for it. [How exposed are we|Are we affected], and what's the fix?",
          clauses=_SEC_COMMON + ("We can't upgrade for {k1} weeks; give us mitigations for now.",
                                 "The service is only reachable from our VPN.",
                                 "We run {k2} copies of it across three clusters.")),
        f(0.5, "Can a normal user make themselves an admin through this update endpoint for {entities}?"
               "\n\n{update_snippet}",
          "Is there a privilege escalation in this {framework} update handler? Users can call it for their "
          "own {entities}.\n\n{update_snippet}",
          clauses=_SEC_CODE + ("The same pattern is used in {k1} other endpoints.",)),
        f(0.7, "Plan a penetration test of the {service} backend: {k2} public endpoints, OAuth2 login, "
               "card management and money transfers.",
          "We have a pen test booked for the {service} backend ({k2} public endpoints, OAuth2 login, card "
          "management, transfers). Draft the test plan and where you'd focus.",
          clauses=_SEC_COMMON + ("We can't ship a new mobile client for the next {k1} weeks.",
                                 "Partners call the same API with long-lived tokens.",
                                 "The test must never move real customer money.")),
        f(0.4, "Our consumer calls pickle.loads on messages from {queue}, sent by the {service} service. "
               "Is that dangerous?",
          "Is it safe to unpickle payloads that arrive on {queue} from the {service} service?",
          clauses=_SEC_COMMON + ("Suggest a safer format and how to migrate to it without downtime.",
                                 "Other teams can publish to the same topic.")),
        f(0.5, "Check our webhook receiver: it accepts POSTs from the payment provider and marks {entities} "
               "as paid. We compare the signature with == and don't look at the timestamp.",
          "Our payment webhook handler marks {entities} as paid. Signature check is a plain string compare "
          "and there's no timestamp check. [What can go wrong?|How would you attack it?]",
          clauses=_SEC_CODE + ("The provider retries failed deliveries for {k2} hours.",)),
        f(0.35, "Add CSRF protection to the {framework} forms that change a user's email and password.",
          "The account settings forms in our {framework} app (email and password change) have no CSRF "
          "tokens. Add protection.",
          clauses=_SEC_CODE + ("Some of these forms are also posted from our mobile web view.",)),
        f(0.65, "We store passwords for {n_big} users as SHA-256 with one global salt. What should we "
                "move to, and how do we migrate without forcing everyone to reset?",
          "Password hashes for our {n_big} users are SHA-256 plus a single shared salt. [Plan the migration|"
          "How do we migrate] to a proper scheme without a forced reset?",
          clauses=_SEC_CODE + ("Logins peak at {rps} per second, so hashing cost matters.",
                               "The fix must not log anyone out.")),
        f(0.45, "GET /{table}/{{id}} returns any {entity} by id as long as you're logged in. Is that an "
                "IDOR, and how do we fix it in {framework}?",
          "Any logged-in user can fetch any {entity} by changing the id in /{table}/{{id}}. Confirm the "
          "risk and fix it in our {framework} API.",
          clauses=_SEC_CODE + ("The same pattern is used in {k1} other endpoints.",)),
        f(0.6, "Review our Kubernetes setup for the {service} pods: they run privileged, mount the Docker "
               "socket and read {db} credentials from plain env vars.",
          "The {service} pods run as privileged, have the Docker socket mounted, and get the {db} "
          "password from an environment variable. [How bad is this|What would an attacker do with it], "
          "and what do we change first?",
          clauses=_SEC_COMMON + ("We can't take the {service} service offline while fixing it.",
                                 "Other teams share the same cluster.")),
    ),
)

# Security work asked for as an ordinary feature (IMPLICIT_SECURITY_SHARE): no word names the risk, yet
# the plain way to build each one trusts what a client sends (a file name, a URL, a token, a blob), so a
# weaker model's first draft is the hole. Clauses stay ordinary product requirements for the same reason.
_FEATURE = STACK_CODE + ("Keep it under {max_lines} lines.", "We want to ship it this week, so keep it small.")

IMPLICIT_SECURITY: tuple[Family, ...] = (
    implicit(0.4, 'Add a "remember me" option to this {framework} login so people stay signed in for {k2} days:'
                  "\n\n{login_snippet}",
             "Here's our {lang} login handler. When the user ticks \"keep me signed in\", the login should last "
             "{k2} days instead of ending with the browser session.\n\n{login_snippet}",
             "[Extend|Change] the sign-in below so that a ticked checkbox keeps users logged in for {k2} days "
             "({framework}).\n\n{login_snippet}",
             clauses=_FEATURE + ("People often use several devices at once.",
                                 "Logging out should end the long sign-in too.")),
    implicit(0.35, "Write the sign-up endpoint for our {framework} API: it takes an email and a password, stores "
                   "the new user in {db} and sends a welcome email.",
             "We need user registration in {framework}. The email and password come in the request body; save "
             "the account to {db} and send a welcome message.",
             "Implement `POST /signup` in {lang} ({framework}): create the account in {db} from the submitted "
             "email and password and return the new user as JSON.",
             clauses=_FEATURE + ("Passwords must be at least {k1} characters long.",
                                 "Return 409 when the email is already taken.",
                                 "We expect about {n_big} sign-ups in the first month.")),
    implicit(0.4, "Add an endpoint to our {framework} app where users upload {upload_kind} for their {entities}. "
                  "Save each file under its original name and return a link to it.",
             "Users should be able to attach {upload_kind} to {a_entity}. Write the {framework} upload handler: "
             "keep the filename they sent, store the file in /srv/uploads and give back its URL.",
             "Build file uploads for {entities} in {lang}: accept a multipart form, write the file to the uploads "
             "folder with the name it came with, and serve it again from /files/<name>.",
             clauses=_FEATURE + ("Files can be up to {k2} MB.", "Show upload progress in the {ui} front end.",
                                 "Later we want to move the files to {cloud} object storage.")),
    implicit(0.5, "Our {deser_lang} backend gets each user's saved {entity} drafts back from the browser as a "
                  "base64 blob made with {deser_call}. Write the endpoint that turns it back into objects and "
                  "stores them.",
             "The front end keeps its state as a {deser_call} blob that our {deser_lang} server produced, and "
             "posts it back on every page load. Write the code that restores the objects from it.",
             "Clients send back a base64 string we created with {deser_call}. [Restore|Rebuild] the original "
             "objects from it in {deser_lang}, keeping their exact types, and merge them into the {entity}.",
             clauses=("Blobs can be up to {k2} KB.", "Older clients send an earlier version of the format.",
                      "Keep it under {max_lines} lines.", "Log how long decoding takes.",
                      "Include unit tests for the edge cases.")),
    implicit(0.45, "Add an endpoint to our {framework} app that takes a file name from the query string, runs "
                   "{shell_tool} on it through the shell and returns {a_shell_output}.",
             "Users pick one of their files in the UI and want {a_shell_output} of it. Write the {lang} code that "
             "builds the {shell_tool} command line from their choice and runs it.",
             "Wrap {shell_tool} in a small {framework} API: the caller sends the file name and extra options as "
             "JSON, we run the command and stream back {a_shell_output}.",
             clauses=_FEATURE + ("Stop the command after {k2} seconds.",
                                 "Return the command's error output when it fails.",
                                 "Several requests can run at once.")),
    implicit(0.3, "Add a network check page to our internal {framework} tools: the user types a host name and we "
                  "show the output of ping and traceroute for it.",
             "Write {a_framework} endpoint that takes a hostname or IP address from a form field, pings it {k1} "
             "times and returns the output.",
             "Our support team wants to know whether a customer's server is reachable. Build a {lang} route that "
             "pings whatever address they enter and shows the result.",
             clauses=("Keep it under {max_lines} lines.", "Show the output as it arrives.",
                      "Include {test_lib} tests.", "It must work on Linux and macOS.")),
    implicit(0.45, "Add search to the {entities} list in our {framework} app: build the WHERE clause from the "
                   "filters in the query string, and let users sort by whatever column name they pass.",
             "The {table} report page needs user-chosen filters and sort order. Write the {lang} function that "
             "turns the request parameters into the SQL for {sql_db}.",
             "Write a generic {lang} helper that takes the filter dict and the `order_by` string from an API "
             "request and builds the SELECT on {table} ({sql_db}).",
             clauses=("Support partial matches on {field}.", "Results are paged, {k2} per page.",
                      "There are {n_big} rows in {table}.", "Include {test_lib} tests.",
                      "No ORM, plain SQL please.")),
    implicit(0.35, "Write a provisioning script that puts the {db} password and the {cloud} access keys of the "
                   "{service} service into /etc/{service}/credentials.env on each server.",
             "How should we create the env file that holds the {service} service's API keys on our VMs? Write "
             "the bash that generates it at provisioning time, owner and mode included.",
             "Our Ansible role needs a task that drops a config file with the {db} credentials for {service} "
             "onto each host. Write it, including the file's owner and mode.",
             clauses=("The servers run Ubuntu 22.04.", "Several services share each VM.",
                      "It must be safe to run twice.", "It runs from our CI pipeline.",
                      "The service runs as its own system user.")),
    implicit(0.3, "After login, send users back to the page they came from: read `next` from the query string "
                  "and redirect there ({framework}).",
             "Our {lang} sign-in should remember where the user was heading. Take the URL from the `next` "
             "parameter and redirect to it once they're logged in.",
             "Make the {framework} login [honour|respect] a `next` query parameter: after a successful sign-in, "
             "redirect to whatever URL it holds.",
             clauses=("Default to the dashboard when the parameter is missing.", "Keep it under {max_lines} lines.",
                      "Include {test_lib} tests.", "Partner sites link to our login with their own return URL.")),
    implicit(0.35, "Implement `GET /out?url=...` in {framework}: record the click on {a_entity} link in {db}, "
                   "then redirect the browser to the given URL.",
             "We want to count clicks on the links in our {entity} emails. Write the {lang} endpoint that logs "
             "the click and forwards the user to the URL passed in the query string.",
             clauses=_FEATURE + ("We send about {n_big} emails a week.", "Count each user once per link.")),
    implicit(0.45, "Add link previews to our chat: when a message contains a URL, the {framework} backend fetches "
                   "the page and pulls out its title, description and image.",
             "Write the {lang} service behind our link previews: given any URL a user posts, download the page "
             "and return its title, description and preview image.",
             "When someone pastes a link into a comment on {a_entity}, show a preview card. Write the server "
             "side in {framework} that fetches the URL and reads its Open Graph tags.",
             clauses=("Cache previews for {k1} hours.", "Follow redirects.", "Give up after {k1} seconds.",
                      "Include {test_lib} tests.")),
    implicit(0.4, "Let users import {entities} by pasting a link to a CSV file. Write the {framework} endpoint "
                  "that downloads the file from that link and loads the rows into {db}.",
             "Add 'import from URL' for {entities}: the user gives us a URL, our {lang} backend fetches the CSV "
             "behind it and saves each row to {db}.",
             clauses=("The CSV can hold {n_big} rows, so don't load it all at once.",
                      "Skip rows with an empty {field}.", "Report how many rows were imported.",
                      "Include {test_lib} tests.")),
    implicit(0.35, "Show user comments on the {entity} page with their formatting: the rich-text editor stores "
                   "them as HTML. Write the {ui} component that renders them.",
             "Comments on {entities} can contain bold text, links and lists, and our API returns them as HTML. "
             "Render them in the {ui} app exactly as the author wrote them.",
             "Write {a_ui} component that lists the latest comments on {a_entity}, showing each body as the "
             "user typed it, markup included.",
             clauses=("Show the author's name and the date next to each comment.", "Newest comments first.",
                      "Add a Testing Library test.", "Collapse comments longer than {k2} lines.")),
    implicit(0.45, "Write the code that generates password reset codes for our {framework} app: {k1}-digit "
                   "numbers sent by SMS, valid for {k2} minutes.",
             "We want short reset codes people can type from a text message: {k1} digits, valid {k2} minutes. "
             "Write the {lang} code that creates, stores and checks them.",
             "Generate the one-time codes for 'forgot password' in {lang}: {k1} digits, texted to the user, "
             "expiring after {k2} minutes. Include the check on the reset page.",
             clauses=_FEATURE + ("Store the codes in {db}.", "Users sometimes ask for several codes in a row.")),
    implicit(0.5, "Write {a_framework} middleware that takes the bearer token from the Authorization header, "
                  "decodes the JWT and puts the user id and roles on the request.",
             "Our mobile app sends a JWT with every call. Add the {lang} middleware that decodes it and attaches "
             "the user to the request for the handlers.",
             "Parse the JWTs our login service issues in {framework}: read the claims and make the user id and "
             "roles available to every route.",
             clauses=_FEATURE + ("Our login service signs tokens with RS256.",
                                 "Return 401 when the header is missing.",
                                 "Partners' tokens come from a second issuer.")),
    implicit(0.45, "Add an admin page to our {framework} app where staff can edit and delete any {entity}. Only "
                   "users with the admin role may open it.",
             "Build the /admin/{table} routes in {framework} so the support team can list, edit and delete "
             "{entities}. Regular users must not reach them.",
             "We need a back-office screen in {framework} for editing {entities}; staff with the admin role can "
             "use it and everyone else gets a 404.",
             clauses=_FEATURE + ("Roles are stored on the users table in {db}.", "Log who changed what.",
                                 "Support staff should only be able to read.")),
    implicit(0.45, "Write the {framework} endpoint that receives payment events from our provider and marks "
                   "{entities} as paid. Each body is signed with a shared key in the `{sig_header}` header; check "
                   "it.",
             "Implement the incoming webhook for {entity} status updates in {lang}. Requests carry an HMAC of "
             "the body in `{sig_header}`; verify it before writing to {db}.",
             "Our provider posts events to us with an HMAC-SHA256 of the raw body in `{sig_header}`. Add the "
             "{framework} handler that checks it and then updates the matching {entity}.",
             clauses=_FEATURE + ("Events can arrive twice or out of order.", "Answer within {k1} seconds.")),
    implicit(0.5, "Users upload a zip of {entity} attachments. Write the {lang} code that extracts it into the "
                  "user's folder under /data/{service} and registers each file in {db}.",
             "Add bulk import to our {framework} app: accept a .zip, unpack every file into the account's "
             "storage folder keeping the paths inside the archive, then index them in {db}.",
             clauses=_FEATURE + ("Archives can hold {k3} files.", "Skip empty folders.")),
    implicit(0.3, "Add a download endpoint to our {framework} app: `GET /reports/<name>` returns the file with "
                  "that name from /srv/{service}/reports.",
             "Users need to download their generated reports. Write the {lang} handler that takes the file name "
             "from the URL and streams the file from the /srv/{service}/reports folder.",
             clauses=_FEATURE + ("Set Content-Disposition so the browser saves the file.",
                                 "Files can be several hundred MB.")),
    implicit(0.3, "Our {ui} front end now lives on its own domain and the browser blocks its calls to the "
                  "{framework} API with a CORS error. Make it work for any origin, cookies included.",
             "Fix the CORS errors between our {ui} app and the {framework} backend: allow every origin and let "
             "the browser send credentials.",
             clauses=("Preflight responses should be cached.", "Our staging front end runs on another port.",
                      "Keep it under {max_lines} lines.")),
    implicit(0.3, "Add middleware to our {framework} app that logs every request and response body to {queue} "
                  "so support can debug customer issues.",
             "To debug customer issues we want the full body of every request and response of the {service} API "
             "in our logs. Write the {lang} middleware.",
             clauses=_FEATURE + ("Include how long each request took.", "Truncate bodies after {k2} KB.")),
    implicit(0.5, "Let customers create API keys for the {service} API: show each key once, store it in {db}, "
                  "and look it up on every request.",
             "Build API key management in {framework}: customers generate keys in their settings, we keep them "
             "in {db} and accept them on every call.",
             clauses=_FEATURE + ("Customers can have up to {k1} keys.", "Keys can be revoked from the settings page.",
                                 "Show when each key was last used.")),
    implicit(0.55, "Customers want to edit the emails we send them. Let them write templates with "
                   "`{{{{ placeholders }}}}` on the settings page, and render them with our {framework} app's "
                   "template engine whenever {a_entity} changes.",
             "Add customer-editable email templates to our {framework} app: they type the template in a text "
             "box and we render it with the server's template engine, filling in the {entity} fields.",
             clauses=_FEATURE + ("Show a live preview while they type.",
                                 "Fall back to our default template if rendering fails.")),
    implicit(0.55, "Let users add computed columns to their {entities} table by typing a formula such as "
                   "`{num_field} * 1.2`. Write the {lang} code that evaluates the formula for each row on the "
                   "server.",
             "Our power users want spreadsheet-style formulas over {entities}, for example `{num_field} * 1.2`. "
             "Evaluate whatever expression they type, server side, in {lang}.",
             clauses=("Formulas can use any numeric column.", "Show a clear message when a formula doesn't parse.",
                      "Each account has up to {n_big} rows.", "Include {test_lib} tests.")),
    implicit(0.35, "Let users change the email address on their account from the settings page ({framework}). "
                   "Update it in {db} and send a confirmation to the new address.",
             "Add 'change email' to the account settings in our {framework} app: the user enters a new address "
             "and we save it to {db}.",
             clauses=_FEATURE + ("The email address is also the login name.", "Show a toast when it's done.")),
    implicit(0.55, "Support staff want to see the app exactly as a given customer does. Add a 'log in as this "
                   "user' button to our {framework} back office.",
             "Let our support team switch into a customer's account from the back office ({framework}) to "
             "reproduce a problem, and switch back when done.",
             clauses=_FEATURE + ("Show a banner while someone is switched in.",
                                 "Record who switched into which account.")),
    implicit(0.5, "Add 'Sign in with Google' to our {framework} app and link it to existing accounts by email "
                  "address.",
             "Implement Google login in {framework}: handle the OAuth callback, find the user by the email in the "
             "ID token and start their session.",
             clauses=_FEATURE + ("Existing users signed up with a password.",
                                 "We'll add Microsoft accounts later.")),
    implicit(0.35, "Write the team invite feature in {framework}: an owner enters an email, we generate an invite "
                   "link, and whoever opens it joins the team.",
             "Generate invite links for new team members in {lang}: a code in the URL, valid for {k1} days, that "
             "adds the person to the team when they open it.",
             clauses=_FEATURE + ("Invites can be withdrawn.", "Show pending invites in the team settings.")),
    implicit(0.5, "Customers upload their {entities} as XML exported from their old system. Write the {lang} "
                  "parser that reads the file and creates the records in {db}.",
             "Add XML import for {entities} to our {framework} app: parse the uploaded file and save each element "
             "as a row in {table}.",
             clauses=_FEATURE + ("Exports can reach {k2} MB.",
                                 "Some exports declare a DTD with entities for repeated values.",
                                 "Report the line of any element that fails.")),
    implicit(0.4, "Add `GET /{table}?account_id=...` to our {framework} API: it returns the {entities} of the "
                  "given account from {db}.",
             "The {ui} dashboard needs an endpoint that lists {entities} for an account whose id comes in the "
             "query string. Write it in {framework} on top of {db}.",
             clauses=_FEATURE + ("Return at most {k2} per page.", "Newest {entities} first.")),
)
