"""Fetching, caching and refetching the issuer's signing keys (JWKS)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from devstack.issuer import DISCOVERY_PATH, JWKS_PATH, LocalIssuer
from shared.errors import (
    ConfigurationError,
    UnauthenticatedError,
    UpstreamTransientError,
)
from shared.identity import (
    FIRST_FETCH_SPACING_SECONDS,
    JWKS_MAX_AGE_SECONDS,
    KEYS_UNAVAILABLE,
    TokenValidator,
)
from shared.settings import AuthSettings, load_auth_settings


class FakeClock:
    """A clock that tests move by hand, starting at the real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class StaticServer:
    """A loopback HTTP server that returns one fixed response to every GET."""

    def __init__(self, status: int, body: bytes) -> None:
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/keys"
        threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        ).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def own_issuer() -> Iterator[LocalIssuer]:
    """An issuer for this test alone, free to rotate keys or stop."""
    with LocalIssuer(port=0) as running:
        yield running


def settings_for(issuer: LocalIssuer, **overrides: str) -> AuthSettings:
    return load_auth_settings({**issuer.auth_environment(), **overrides})


def settings_with_jwks_url(issuer: LocalIssuer, jwks_url: str) -> AuthSettings:
    return settings_for(issuer, AUTH_JWKS_URL=jwks_url)


def stray_token(issuer: LocalIssuer, kid: str) -> str:
    """Sign a valid-looking token with a key the issuer never served."""
    stray_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {
        "iss": issuer.issuer_url,
        "aud": issuer.audience,
        "sub": "mallory",
        "exp": int(time.time()) + 600,
    }
    return jwt.encode(claims, stray_key, algorithm="RS256", headers={"kid": kid})


def test_rotated_key_refetched_once(own_issuer: LocalIssuer) -> None:
    clock = FakeClock()
    validator_settings = settings_for(own_issuer)
    validator = TokenValidator(validator_settings, clock=clock)
    old_token = own_issuer.mint_user("alice")
    assert validator.validate(old_token)["sub"] == "alice"
    assert own_issuer.request_count(JWKS_PATH) == 1

    own_issuer.rotate_key()
    new_token = own_issuer.mint_user("bob")
    clock.now += validator_settings.jwks_min_refetch_seconds

    assert validator.validate(new_token)["sub"] == "bob"
    assert own_issuer.request_count(JWKS_PATH) == 2
    assert validator.validate(old_token)["sub"] == "alice"
    assert own_issuer.request_count(JWKS_PATH) == 2


def test_unknown_kid_refetch_rate_limited(own_issuer: LocalIssuer) -> None:
    clock = FakeClock()
    settings = settings_for(own_issuer, AUTH_JWKS_MIN_REFETCH_SECONDS="60")
    validator = TokenValidator(settings, clock=clock)
    validator.validate(own_issuer.mint_user("alice"))
    own_issuer.rotate_key()
    clock.now += 60
    validator.validate(own_issuer.mint_user("bob"))
    assert own_issuer.request_count(JWKS_PATH) == 2

    clock.now += 59
    with pytest.raises(UnauthenticatedError):
        validator.validate(stray_token(own_issuer, "random-kid-1"))
    assert own_issuer.request_count(JWKS_PATH) == 2

    clock.now += 1
    with pytest.raises(UnauthenticatedError):
        validator.validate(stray_token(own_issuer, "random-kid-2"))
    assert own_issuer.request_count(JWKS_PATH) == 3


def test_keys_found_via_discovery(own_issuer: LocalIssuer) -> None:
    settings = settings_for(own_issuer, AUTH_JWKS_URL="")
    assert settings.jwks_url is None
    validator = TokenValidator(settings)

    validator.validate(own_issuer.mint_user("alice"))
    validator.validate(own_issuer.mint_user("bob"))

    assert own_issuer.request_count(DISCOVERY_PATH) == 1
    assert own_issuer.request_count(JWKS_PATH) == 1


def test_day_old_keys_refreshed(own_issuer: LocalIssuer) -> None:
    clock = FakeClock()
    validator = TokenValidator(settings_for(own_issuer), clock=clock)
    token = own_issuer.mint("alice", lifetime=3 * 86400)
    validator.validate(token)

    clock.now += JWKS_MAX_AGE_SECONDS - 1
    validator.validate(token)
    assert own_issuer.request_count(JWKS_PATH) == 1

    clock.now += 1
    validator.validate(token)
    assert own_issuer.request_count(JWKS_PATH) == 2


def test_stale_keys_kept_when_refresh_fails(own_issuer: LocalIssuer) -> None:
    clock = FakeClock()
    validator = TokenValidator(settings_for(own_issuer), clock=clock)
    token = own_issuer.mint("alice", lifetime=3 * 86400)
    validator.validate(token)
    own_issuer.stop()

    clock.now += JWKS_MAX_AGE_SECONDS + 1

    assert validator.validate(token)["sub"] == "alice"


def test_stopped_issuer_is_transient_error(own_issuer: LocalIssuer) -> None:
    validator = TokenValidator(settings_for(own_issuer))
    token = own_issuer.mint_user("alice")
    own_issuer.stop()

    with pytest.raises(UpstreamTransientError) as caught:
        validator.validate(token)

    assert caught.value.message == KEYS_UNAVAILABLE
    assert caught.value.status == 503


def test_closed_port_is_transient_error(issuer: LocalIssuer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{probe.getsockname()[1]}/keys"
    validator = TokenValidator(settings_with_jwks_url(issuer, closed_url))

    with pytest.raises(UpstreamTransientError):
        validator.validate(issuer.mint_user("alice"))


def test_silent_server_times_out(issuer: LocalIssuer) -> None:
    """A server that accepts the connection but never sends a response."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/keys"
        settings = settings_with_jwks_url(issuer, url)
        validator = TokenValidator(settings, timeout=(1.0, 0.2))

        with pytest.raises(UpstreamTransientError):
            validator.validate(issuer.mint_user("alice"))


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(500, b'{"keys": []}', id="server-error"),
        pytest.param(404, b"{}", id="not-found"),
        pytest.param(200, b"<html>", id="not-json"),
        pytest.param(200, b"[1, 2]", id="not-an-object"),
        pytest.param(200, b'{"keys": []}', id="no-keys"),
        pytest.param(200, b'{"keys": "none"}', id="keys-not-a-list"),
    ],
)
def test_bad_jwks_response_is_transient(
    issuer: LocalIssuer, status: int, body: bytes
) -> None:
    server = StaticServer(status, body)
    try:
        validator = TokenValidator(settings_with_jwks_url(issuer, server.url))
        with pytest.raises(UpstreamTransientError):
            validator.validate(issuer.mint_user("alice"))
    finally:
        server.close()
    assert server.requests == 1


def test_discovery_without_jwks_uri_is_transient(issuer: LocalIssuer) -> None:
    server = StaticServer(200, b'{"issuer": "x"}')
    try:
        settings = load_auth_settings(
            {"AUTH_ISSUER": server.url, "AUTH_AUDIENCE": issuer.audience}
        )
        with pytest.raises(UpstreamTransientError):
            TokenValidator(settings).validate(issuer.mint_user("alice"))
    finally:
        server.close()


def json_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def jwk_of(private_key: rsa.RSAPrivateKey, **fields: str) -> dict[str, Any]:
    return {**RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True), **fields}


@pytest.mark.parametrize(
    "extra_fields",
    [
        pytest.param({"use": "enc"}, id="encryption-key"),
        pytest.param({"alg": "RS384"}, id="pinned-to-other-algorithm"),
        pytest.param({"d": "private"}, id="private-parameters"),
    ],
)
def test_unusable_jwks_key_rejected(
    issuer: LocalIssuer, extra_fields: dict[str, str]
) -> None:
    """The JWKS serves the signing key, but marked so that it must not verify."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good = jwk_of(private_key, kid="good")
    marked = jwk_of(private_key, kid="marked", **extra_fields)
    server = StaticServer(200, json_bytes({"keys": [good, marked]}))
    claims = {
        "iss": issuer.issuer_url,
        "aud": issuer.audience,
        "sub": "alice",
        "exp": int(time.time()) + 600,
    }
    try:
        validator = TokenValidator(settings_with_jwks_url(issuer, server.url))
        good_token = jwt.encode(claims, private_key, "RS256", headers={"kid": "good"})
        marked_token = jwt.encode(
            claims, private_key, "RS256", headers={"kid": "marked"}
        )
        assert validator.validate(good_token)["sub"] == "alice"
        with pytest.raises(UnauthenticatedError):
            validator.validate(marked_token)
    finally:
        server.close()


def test_symmetric_jwks_key_ignored(issuer: LocalIssuer) -> None:
    """An `oct` key in the JWKS is skipped, so its kid stays unknown."""
    secret = b"shared-secret-shared-secret-1234"
    oct_key = {
        "kty": "oct",
        "kid": "sym",
        "k": jwt.utils.base64url_encode(secret).decode(),
    }
    rsa_key = jwk_of(
        rsa.generate_private_key(public_exponent=65537, key_size=2048), kid="rsa"
    )
    server = StaticServer(200, json_bytes({"keys": [oct_key, rsa_key]}))
    try:
        validator = TokenValidator(settings_with_jwks_url(issuer, server.url))
        with pytest.raises(UnauthenticatedError):
            validator.validate(issuer.mint("alice", headers_overrides={"kid": "sym"}))
    finally:
        server.close()
    assert server.requests == 1


@pytest.mark.parametrize("algorithms", [("HS256",), ("none",), ("RS256", "HS512"), ()])
def test_symmetric_algorithm_setting_rejected(
    auth_settings: AuthSettings, algorithms: tuple[str, ...]
) -> None:
    settings = AuthSettings(**{**vars(auth_settings), "algorithms": algorithms})

    with pytest.raises(ConfigurationError):
        TokenValidator(settings)


class CountingSession(requests.Session):
    """A real session that counts its GET requests."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    def get(self, url: Any, **kwargs: Any) -> requests.Response:
        self.gets += 1
        return super().get(url, **kwargs)


def test_failed_first_fetch_is_spaced(issuer: LocalIssuer) -> None:
    """While no keys were ever fetched, a failed fetch is not retried at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{probe.getsockname()[1]}/keys"
    session = CountingSession()
    clock = FakeClock()
    settings = settings_with_jwks_url(issuer, closed_url)
    validator = TokenValidator(settings, session=session, clock=clock)
    token = issuer.mint_user("alice")
    with pytest.raises(UpstreamTransientError):
        validator.validate(token)

    with pytest.raises(UpstreamTransientError) as caught:
        validator.validate(token)
    clock.now += FIRST_FETCH_SPACING_SECONDS
    with pytest.raises(UpstreamTransientError):
        validator.validate(token)

    assert caught.value.retry_after == pytest.approx(FIRST_FETCH_SPACING_SECONDS)
    assert session.gets == 2
