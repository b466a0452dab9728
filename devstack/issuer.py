"""A local OpenID Connect token issuer for development and tests. Never deployed.

It listens on 127.0.0.1 only, creates a 2048-bit RSA key pair at start, serves
its discovery document and JWKS, and mints RS256 access tokens for any user id
it is given:

    issuer = LocalIssuer(port=0).start()
    token = issuer.mint_user("alice")

Run it on its own with ``python -m devstack.issuer --port 7090``.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import signal
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

logger = logging.getLogger(__name__)

DEFAULT_AUDIENCE = "api://securepush-local"
DEFAULT_PORT = 7090
SENDER_ROLE = "SecurePush.Send"
RSA_KEY_BITS = 2048
SIGNING_ALGORITHM = "RS256"
DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/.well-known/jwks.json"
MINT_PATH = "/mint"
MAX_MINT_BODY_BYTES = 4096
# How often the server thread checks for stop(), so stopping takes at most this long.
SHUTDOWN_POLL_SECONDS = 0.05
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class _KeyPair:
    kid: str
    private_key: rsa.RSAPrivateKey


def _new_key_pair() -> _KeyPair:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    return _KeyPair(kid=secrets.token_hex(8), private_key=private_key)


class LocalIssuer:
    """An OpenID Connect issuer on 127.0.0.1 that signs tokens with its own RSA keys.

    `port=0` picks a free port at `start()`. The issuer URL, which is also the
    `iss` claim of every token, is ``http://127.0.0.1:PORT``.
    """

    def __init__(
        self,
        audience: str = DEFAULT_AUDIENCE,
        port: int = 0,
        *,
        sender_role: str = SENDER_ROLE,
    ) -> None:
        self.audience = audience
        self.sender_role = sender_role
        self._port = port
        self._key_pairs = [_new_key_pair()]
        self._lock = threading.Lock()
        self._request_counts: Counter[str] = Counter()
        self._server: _IssuerServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LocalIssuer:
        """Bind the port and serve requests on a background thread."""
        if self._server is not None:
            raise RuntimeError("The issuer is already running.")
        self._server = _IssuerServer(self, self._port)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name="local-issuer",
            daemon=True,
        )
        self._thread.start()
        logger.info("Local issuer listening on %s", self.issuer_url)
        return self

    def stop(self) -> None:
        """Stop serving and close the port. The keys and the port number remain."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None
        logger.info("Local issuer on port %d stopped", self._port)

    def __enter__(self) -> LocalIssuer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def issuer_url(self) -> str:
        """The base URL, which is also the `iss` claim."""
        if self._port == 0:
            raise RuntimeError("The issuer has no port until start() is called.")
        return f"http://127.0.0.1:{self._port}"

    @property
    def jwks_url(self) -> str:
        return self.issuer_url + JWKS_PATH

    @property
    def current_kid(self) -> str:
        """The key id that new tokens are signed with."""
        with self._lock:
            return self._key_pairs[-1].kid

    def rotate_key(self) -> str:
        """Sign new tokens with a fresh key and return its kid.

        The JWKS keeps serving every earlier key, so tokens minted before the
        rotation stay valid.
        """
        key_pair = _new_key_pair()
        with self._lock:
            self._key_pairs.append(key_pair)
        logger.info("Local issuer rotated to key %s", key_pair.kid)
        return key_pair.kid

    def mint(
        self,
        user_id: str,
        *,
        sender: bool = False,
        lifetime: int = 3600,
        claims_overrides: Mapping[str, Any] | None = None,
        headers_overrides: Mapping[str, Any] | None = None,
    ) -> str:
        """Sign an access token for `user_id` (the `sub` claim) with the current key.

        `sender` adds `roles: [sender_role]`. `lifetime` is in seconds and may
        be negative for an expired token. Each override is merged into the
        claims or the JWT header, and a value of None removes that entry. An
        `alg` header override also sets the signing algorithm, so it must be
        an RSA algorithm (RS* or PS*).
        """
        claims = self._claims(user_id, sender=sender, lifetime=lifetime)
        _merge(claims, claims_overrides)
        with self._lock:
            key_pair = self._key_pairs[-1]
        header: dict[str, Any] = {"kid": key_pair.kid}
        _merge(header, headers_overrides)
        return jwt.encode(
            claims, key_pair.private_key, algorithm=SIGNING_ALGORITHM, headers=header
        )

    def mint_user(self, user_id: str) -> str:
        """Sign a one-hour token for an ordinary user."""
        return self.mint(user_id)

    def mint_sender(self, client_id: str) -> str:
        """Sign a one-hour token for a backend that carries the sender role."""
        return self.mint(client_id, sender=True)

    def auth_environment(self) -> dict[str, str]:
        """Return the AUTH_* settings that make the app trust this issuer."""
        return {
            "AUTH_MODE": "jwt",
            "AUTH_ISSUER": self.issuer_url,
            "AUTH_AUDIENCE": self.audience,
            "AUTH_JWKS_URL": self.jwks_url,
        }

    def request_count(self, path: str) -> int:
        """Return how many requests for `path` the server has received."""
        with self._lock:
            return self._request_counts[path]

    def discovery_document(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer_url,
            "jwks_uri": self.jwks_url,
            "id_token_signing_alg_values_supported": [SIGNING_ALGORITHM],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
        }

    def jwks(self) -> dict[str, Any]:
        """Return the public half of every key this issuer has used."""
        with self._lock:
            key_pairs = list(self._key_pairs)
        return {"keys": [_public_jwk(key_pair) for key_pair in key_pairs]}

    def _claims(self, user_id: str, *, sender: bool, lifetime: int) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer_url,
            "aud": self.audience,
            "sub": user_id,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(16),
        }
        if sender:
            claims["roles"] = [self.sender_role]
            claims["azp"] = user_id
        return claims

    def _count_request(self, path: str) -> None:
        with self._lock:
            self._request_counts[path] += 1


def _merge(target: dict[str, Any], overrides: Mapping[str, Any] | None) -> None:
    for name, value in (overrides or {}).items():
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value


def _public_jwk(key_pair: _KeyPair) -> dict[str, Any]:
    jwk = RSAAlgorithm.to_jwk(key_pair.private_key.public_key(), as_dict=True)
    return {**jwk, "kid": key_pair.kid, "use": "sig", "alg": SIGNING_ALGORITHM}


class _IssuerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, issuer: LocalIssuer, port: int) -> None:
        self.issuer = issuer
        super().__init__(("127.0.0.1", port), _IssuerHandler)


class _IssuerHandler(BaseHTTPRequestHandler):
    """Serve discovery and the JWKS, and mint tokens on request.

    POST /mint exists only because this is a loopback development tool: it
    returns a token for any user or sender to any client, without
    authentication. A real identity provider authenticates the user first.
    """

    server: _IssuerServer

    def do_GET(self) -> None:
        issuer = self.server.issuer
        issuer._count_request(self.path)
        if self.path == DISCOVERY_PATH:
            self._send_json(HTTPStatus.OK, issuer.discovery_document())
        elif self.path == JWKS_PATH:
            self._send_json(HTTPStatus.OK, issuer.jwks())
        else:
            self._send_error(HTTPStatus.NOT_FOUND, f"No resource at {self.path}.")

    def do_POST(self) -> None:
        self.server.issuer._count_request(self.path)
        if self.path != MINT_PATH:
            self._send_error(HTTPStatus.NOT_FOUND, f"No resource at {self.path}.")
            return
        try:
            token = self._mint_from_body()
        except ValueError as exc:
            self._send_error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        body = {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
        self._send_json(HTTPStatus.OK, body)

    def _mint_from_body(self) -> str:
        """Mint for {"user": id} or {"sender": id}. Raises ValueError on a bad body."""
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_MINT_BODY_BYTES:
            raise ValueError(
                f"The body must be JSON of 1 to {MAX_MINT_BODY_BYTES} bytes."
            )
        request = json.loads(self.rfile.read(length))
        if not isinstance(request, dict):
            raise ValueError('The body must be {"user": "<id>"} or {"sender": "<id>"}.')
        issuer = self.server.issuer
        user, sender = request.get("user"), request.get("sender")
        if isinstance(user, str) and user and sender is None:
            return issuer.mint_user(user)
        if isinstance(sender, str) and sender and user is None:
            return issuer.mint_sender(sender)
        raise ValueError(
            'The body must name exactly one non-empty "user" or "sender" string.'
        )

    def _send_json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: HTTPStatus, message: str) -> None:
        self._send_json(status, {"error": {"code": status.phrase, "message": message}})

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines carry no token: tokens travel only in response bodies.
        logger.debug("%s " + format, self.address_string(), *args)


def mint_via_http(
    base_url: str,
    user: str | None = None,
    sender: str | None = None,
    *,
    timeout: float = 5.0,
) -> str:
    """Ask a running local issuer at `base_url` for a token over HTTP.

    Name exactly one of `user` and `sender`. Raises ValueError for a host
    other than loopback and requests.HTTPError when the issuer rejects the
    request.
    """
    if (user is None) == (sender is None):
        raise ValueError("Name exactly one of user and sender.")
    host = urlsplit(base_url).hostname
    if host not in LOOPBACK_HOSTS:
        raise ValueError(f"The local issuer runs on loopback only, not on {host!r}.")
    body = {"user": user} if user is not None else {"sender": sender}
    response = requests.post(
        base_url.rstrip("/") + MINT_PATH, json=body, timeout=timeout
    )
    response.raise_for_status()
    token = response.json()["access_token"]
    if not isinstance(token, str):
        raise ValueError("The issuer's response has no access_token string.")
    return token


def main(argv: list[str] | None = None) -> None:
    """Serve a local issuer until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m devstack.issuer",
        description="Serve a local token issuer on 127.0.0.1 for development.",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="TCP port (0 picks a free one)"
    )
    parser.add_argument(
        "--audience", default=DEFAULT_AUDIENCE, help="the aud claim of minted tokens"
    )
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with LocalIssuer(audience=options.audience, port=options.port) as issuer:
        for name, value in issuer.auth_environment().items():
            print(f"{name}={value}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
