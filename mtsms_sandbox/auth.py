"""Who may use the sandbox: the five ways the contract's API family presents the API token.

`token` in the JSON body, the query or a form field; HTTP Basic with the token as user name and
an empty password, and `Authorization: Token <token>`, both as werkzeug parses the header; and
two-legged OAuth 1.0a (HMAC-SHA1, consumer key = token), verified by oauthlib. Every credential
given must be right: a wrong or missing one is 401 with 0x0229.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
import threading
import time
from collections.abc import Iterable
from typing import Any

from oauthlib.oauth1 import RequestValidator, SignatureOnlyEndpoint
from werkzeug.wrappers import Request

from mtsms_sandbox.config import SandboxConfig
from mtsms_sandbox.errors import UNAUTHORIZED_IP, ApiError, unauthorized
from mtsms_sandbox.parsing import is_form


class Authenticator:
    """Checks every credential a request presents against the one token the sandbox accepts."""

    def __init__(self, token: str, secret: str, config: SandboxConfig) -> None:
        self._token = token
        self._config = config
        self._oauth = SignatureOnlyEndpoint(_TwoLeggedOAuth(token, secret))

    def authenticate(
        self, request: Request, body_tokens: Iterable[Any] = (), *, check_ip: bool = True
    ) -> None:
        """Raise ApiError unless every token given is right (401), and, with `check_ip`, the
        client's address is allowed by SandboxConfig.allowed_ips (403, 0x0213)."""
        presented: list[str] = list(request.args.getlist("token"))
        if is_form(request):
            presented += request.form.getlist("token")
        for token in body_tokens:
            if not isinstance(token, str):
                raise unauthorized()
            presented.append(token)
        oauth_verified = False
        if request.headers.get("Authorization", "").strip():
            credentials = request.authorization
            if credentials is None:  # werkzeug parses every scheme but a garbled Basic
                raise unauthorized("Malformed HTTP Basic credentials")
            if credentials.type == "basic":
                if credentials.password:
                    raise unauthorized(
                        "HTTP Basic takes the token as user name and an empty password"
                    )
                presented.append(credentials.username or "")
            elif credentials.type == "token":
                presented.append(credentials.token or "")
            elif credentials.type == "oauth":
                self._verify_oauth(request)
                oauth_verified = True
            else:
                raise unauthorized(
                    "Unsupported Authorization scheme: use Basic, Token or OAuth (1.0a)"
                )
        if not presented and not oauth_verified:
            raise unauthorized(
                "Missing API token: send it in the body, the query, HTTP Basic, "
                "an Authorization: Token header or OAuth 1.0a"
            )
        for token in presented:
            if not hmac.compare_digest(token.encode(), self._token.encode()):
                raise unauthorized()
        allowed = self._config.allowed_ips
        if check_ip and allowed is not None and request.remote_addr not in allowed:
            raise ApiError(
                403, "Unauthorized IP-address: %1", [request.remote_addr], UNAUTHORIZED_IP
            )

    def _verify_oauth(self, request: Request) -> None:
        body = request.get_data(as_text=True) if is_form(request) else None
        try:
            valid, oauth_request = self._oauth.validate_request(
                request.url, request.method, body, dict(request.headers)
            )
        except ValueError:
            valid, oauth_request = False, None
        if not valid:
            raise unauthorized("Invalid OAuth signature")
        # A signed body hash (OAuth body-hash extension) must match the body actually sent.
        body_hash = (oauth_request.oauth_params or {}).get("oauth_body_hash")
        if body_hash is not None:
            digest = hashlib.sha1(request.get_data()).digest()  # noqa: S324 - the extension's hash
            if not hmac.compare_digest(body_hash, base64.b64encode(digest).decode()):
                raise unauthorized("Invalid OAuth signature: the body does not match its hash")


class _TwoLeggedOAuth(RequestValidator):
    """oauthlib's validator for two-legged OAuth 1.0a: one consumer (the token), no tokens."""

    def __init__(self, consumer_key: str, consumer_secret: str) -> None:
        super().__init__()
        self._key = consumer_key
        self._secret = consumer_secret
        self._nonces: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    enforce_ssl = False  # the sandbox listens on loopback over plain HTTP
    allowed_signature_methods = ("HMAC-SHA1",)
    safe_characters = frozenset(string.ascii_letters + string.digits + string.punctuation)
    client_key_length = (1, 512)
    nonce_length = (8, 128)
    dummy_client = "dummy-client"

    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return hmac.compare_digest(client_key.encode(), self._key.encode())

    def get_client_secret(self, client_key: str, request: Any) -> str:
        if hmac.compare_digest(client_key.encode(), self._key.encode()):
            return self._secret
        return "dummy-secret"

    def validate_timestamp_and_nonce(
        self,
        client_key: str,
        timestamp: str,
        nonce: str,
        request: Any,
        request_token: str | None = None,
        access_token: str | None = None,
    ) -> bool:
        now = time.time()
        with self._lock:
            if len(self._nonces) > 10_000:
                self._nonces = {k: t for k, t in self._nonces.items() if t > now}
            if (timestamp, nonce) in self._nonces:
                return False
            self._nonces[(timestamp, nonce)] = now + self.timestamp_lifetime
        return True
