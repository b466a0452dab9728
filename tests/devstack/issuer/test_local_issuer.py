"""The local token issuer: discovery, JWKS, minting, rotation, HTTP and CLI."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from devstack.issuer import (
    DISCOVERY_PATH,
    JWKS_PATH,
    MINT_PATH,
    LocalIssuer,
    mint_via_http,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def own_issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(port=0) as running:
        yield running


def verified_claims(issuer: LocalIssuer, token: str) -> dict[str, Any]:
    """Verify `token` with the issuer's published JWKS, as a relying party would."""
    kid = jwt.get_unverified_header(token)["kid"]
    keys = requests.get(issuer.jwks_url, timeout=5).json()["keys"]
    key = jwt.PyJWK(next(entry for entry in keys if entry["kid"] == kid))
    return jwt.decode(token, key, algorithms=["RS256"], audience=issuer.audience)


def test_discovery_document(issuer: LocalIssuer) -> None:
    response = requests.get(issuer.issuer_url + DISCOVERY_PATH, timeout=5)

    assert response.status_code == 200
    assert response.json()["issuer"] == issuer.issuer_url
    assert response.json()["jwks_uri"] == issuer.jwks_url


def test_issuer_url_is_loopback(issuer: LocalIssuer) -> None:
    assert issuer.issuer_url.startswith("http://127.0.0.1:")
    assert issuer.jwks_url == issuer.issuer_url + JWKS_PATH


def test_jwks_publishes_public_rsa_key(issuer: LocalIssuer) -> None:
    keys = requests.get(issuer.jwks_url, timeout=5).json()["keys"]
    current = next(entry for entry in keys if entry["kid"] == issuer.current_kid)

    assert current["kty"] == "RSA"
    assert current["alg"] == "RS256"
    assert current["use"] == "sig"
    assert "d" not in current
    assert jwt.PyJWK(current).key.key_size == 2048


def test_user_token_claims(issuer: LocalIssuer) -> None:
    claims = verified_claims(issuer, issuer.mint_user("alice"))

    assert claims["iss"] == issuer.issuer_url
    assert claims["aud"] == issuer.audience
    assert claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 3600
    assert "roles" not in claims


def test_sender_token_carries_role(issuer: LocalIssuer) -> None:
    claims = verified_claims(issuer, issuer.mint_sender("backend"))

    assert claims["sub"] == "backend"
    assert claims["roles"] == ["SecurePush.Send"]
    assert issuer.sender_role == "SecurePush.Send"


def test_overrides_replace_and_remove(issuer: LocalIssuer) -> None:
    token = issuer.mint(
        "alice",
        lifetime=60,
        claims_overrides={"aud": [issuer.audience, "other"], "nbf": None, "oid": "o-1"},
        headers_overrides={"typ": "at+jwt"},
    )
    claims = verified_claims(issuer, token)

    assert claims["aud"] == [issuer.audience, "other"]
    assert "nbf" not in claims
    assert claims["oid"] == "o-1"
    assert claims["exp"] - claims["iat"] == 60
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"


def test_rotation_keeps_old_key(own_issuer: LocalIssuer) -> None:
    old_kid = own_issuer.current_kid
    old_token = own_issuer.mint_user("alice")

    new_kid = own_issuer.rotate_key()
    new_token = own_issuer.mint_user("bob")

    served = {entry["kid"] for entry in own_issuer.jwks()["keys"]}
    assert new_kid != old_kid
    assert served == {old_kid, new_kid}
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert verified_claims(own_issuer, old_token)["sub"] == "alice"
    assert verified_claims(own_issuer, new_token)["sub"] == "bob"


def test_auth_environment(issuer: LocalIssuer) -> None:
    assert issuer.auth_environment() == {
        "AUTH_MODE": "jwt",
        "AUTH_ISSUER": issuer.issuer_url,
        "AUTH_AUDIENCE": "api://securepush-local",
        "AUTH_JWKS_URL": issuer.jwks_url,
    }


def test_requests_counted_by_path(own_issuer: LocalIssuer) -> None:
    for _ in range(3):
        requests.get(own_issuer.jwks_url, timeout=5)
    requests.get(own_issuer.issuer_url + DISCOVERY_PATH, timeout=5)

    assert own_issuer.request_count(JWKS_PATH) == 3
    assert own_issuer.request_count(DISCOVERY_PATH) == 1


@pytest.mark.parametrize(
    ("user", "sender", "expected_roles"),
    [
        pytest.param("alice", None, None, id="user"),
        pytest.param(None, "backend", ["SecurePush.Send"], id="sender"),
    ],
)
def test_mint_via_http(
    issuer: LocalIssuer,
    user: str | None,
    sender: str | None,
    expected_roles: list[str] | None,
) -> None:
    token = mint_via_http(issuer.issuer_url, user=user, sender=sender)
    claims = verified_claims(issuer, token)

    assert claims["sub"] == (user or sender)
    assert claims.get("roles") == expected_roles


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{}", id="empty-object"),
        pytest.param(b'{"user": ""}', id="empty-user"),
        pytest.param(b'{"user": 7}', id="user-not-string"),
        pytest.param(b'{"user": "a", "sender": "b"}', id="both"),
        pytest.param(b'["alice"]', id="not-object"),
        pytest.param(b"user=alice", id="not-json"),
        pytest.param(b"", id="empty-body"),
        pytest.param(b'{"user": "' + b"a" * 5000 + b'"}', id="too-large"),
    ],
)
def test_mint_rejects_bad_body(issuer: LocalIssuer, body: bytes) -> None:
    response = requests.post(issuer.issuer_url + MINT_PATH, data=body, timeout=5)

    assert response.status_code == 400
    assert response.json()["error"]["message"]
    assert "access_token" not in response.json()


def test_unknown_path_not_found(issuer: LocalIssuer) -> None:
    assert requests.get(issuer.issuer_url + "/token", timeout=5).status_code == 404
    assert requests.post(issuer.issuer_url + "/token", timeout=5).status_code == 404


@pytest.mark.parametrize(
    ("base_url", "user", "sender"),
    [
        pytest.param("http://example.com:7090", "alice", None, id="remote-host"),
        pytest.param("http://127.0.0.1:7090", None, None, id="neither"),
        pytest.param("http://127.0.0.1:7090", "alice", "backend", id="both"),
    ],
)
def test_mint_via_http_rejects_arguments(
    base_url: str, user: str | None, sender: str | None
) -> None:
    with pytest.raises(ValueError):
        mint_via_http(base_url, user=user, sender=sender)


def test_stop_closes_port() -> None:
    issuer = LocalIssuer(port=0).start()
    port = int(issuer.issuer_url.rsplit(":", 1)[1])
    issuer.stop()

    with pytest.raises(ConnectionRefusedError), socket.socket() as client:
        client.connect(("127.0.0.1", port))
    issuer.stop()


def test_issuer_url_needs_start() -> None:
    with pytest.raises(RuntimeError):
        _ = LocalIssuer(port=0).issuer_url


def test_cli_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.issuer", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        printed = dict(
            process.stdout.readline().strip().split("=", 1) for _ in range(4)
        )
        token = mint_via_http(printed["AUTH_ISSUER"], user="alice")
        process.send_signal(signal.SIGTERM)
        return_code = process.wait(timeout=10)
    finally:
        process.kill()
        process.wait()

    assert printed["AUTH_MODE"] == "jwt"
    assert printed["AUTH_AUDIENCE"] == "api://securepush-local"
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert return_code == 0
