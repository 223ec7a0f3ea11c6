"""A local, faithful fake of the gateway's mtsms API: a real HTTP server speaking mtsms-api.md.

It is not part of the dashboard's client: `webapp` imports it only where the embedded sandbox
starts or its inbox is read, so a start with a real gateway token never loads it. It may use
`webapp.sms` and the gateway's pure rules (numbers, pricing, report signing), nothing else.

Code that passes against it should pass against the real gateway, so it is strict:

Paths (served from the root): POST /sms/mtsms, /v2/mtsms/ (and /v2/mtsms), /rest/mtsms;
GET /rest/mtsms/<id> (per-recipient dsnstatus, dsnerror, dsnerrorcode, dsntime);
DELETE /rest/mtsms/<id> (cancel a still-scheduled message, refunded); GET /rest/me (balance).

Authentication, all five modes of the API family: `token` in the JSON body (every SMS object
of a list may carry it), `?token=` in the query, a `token` form field, HTTP Basic with the token
as user name and an empty password, `Authorization: Token <token>`, and two-legged OAuth 1.0a
(HMAC-SHA1 `Authorization: OAuth ...` header, consumer key = token, consumer secret = the
configured secret, by default the token; verified by oauthlib, nonces not reusable). Every
credential given must be right; a wrong or missing one answers 401 with code 0x0229.

Request formats: a JSON body whose root is one SMS object or a list of them (the query may then
carry only `token`); or ONE SMS object as form fields and/or query arguments, using dotted
indices for arrays: `message=Hi&recipients.0.msisdn=4512345678&recipients.1.msisdn=...`,
`tags.0=%name%`, `recipients.0.tagvalues.0=Anne` (indices give the order; each key once).

Errors are the contract's JSON `{"code", "message", "variables", "incident_uuid"}` (`code` and
`variables` left out when empty; `%1` in `message` refers to `variables`): 400 invalid arguments
(0x0222 missing parameter, 0x0220 unsupported parameter, too many recipients, bad sender, bad
msisdn, tags/tagvalues mismatch, bad values), 401 (0x0229), 403 (0x0216 insufficient credit;
0x0213 when SandboxConfig.allowed_ips is set and the client's IP is not in it),
404, 405, 413, 422 (invalid JSON; 0x0310 duplicated msisdn), 429 (more than 40 open connections
from one client IP: the connection is answered and closed, nothing is processed), 500.

dry_run ("1", 1, true, "true"): validated and priced exactly like a send (including the credit
check), answered with `"ids": []`, nothing stored or sent. Prices: segments (webapp.sms, after
tag replacement) x price per country (webapp.gateway.pricing). `sendtime` holds a message as
SCHEDULED until due. Delivery reports, fault injection and limits are configured with
SandboxConfig, mutable at runtime, or POST /_sandbox/faults (JSON, same authentication).

It runs in its own threaded server (daemon threads) on its own port, so a dashboard served
single-threaded that calls it over HTTP never waits on itself; delivery reports are posted from
a background pool, never from a request thread. What it receives is kept in SQLite
(SandboxStore) and survives a restart; scheduled and undelivered messages resume on start.

Modules: config (SandboxConfig, SandboxStats), errors (the error replies), auth, parsing (the
request's SMS objects), wsgi (the routed WSGI app), deliveries (status changes and delivery
reports), server (the threaded server, its connection limit, start/serve), store (SQLite).
"""

from mtsms_sandbox.config import SandboxConfig, SandboxStats
from mtsms_sandbox.server import RunningSandbox, serve_sandbox, start_sandbox
from mtsms_sandbox.store import NewMessage, SandboxStore

__all__ = [
    "NewMessage",
    "RunningSandbox",
    "SandboxConfig",
    "SandboxStats",
    "SandboxStore",
    "serve_sandbox",
    "start_sandbox",
]
