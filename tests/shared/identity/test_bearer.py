"""Bearer JWT authentication against the local issuer over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack.issuer import LocalIssuer
from shared.errors import ForbiddenError, UnauthenticatedError
from shared.identity import (
    MAX_TOKEN_CHARS,
    Principal,
    TokenValidator,
    authenticate,
    require_sender,
    user_key,
)
from shared.settings import AuthSettings

DEFAULT_401_MESSAGE = UnauthenticatedError().message


class FakeClock:
    """A clock that tests move by hand, starting at the real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(
    header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]
) -> str:
    """Build a compact JWT by hand, for tokens PyJWT refuses to create."""
    signing_input = (
        b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    )
    return signing_input + "." + b64url(sign(signing_input.encode()))


def valid_claims(issuer: LocalIssuer) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": issuer.issuer_url,
        "aud": issuer.audience,
        "sub": "alice",
        "exp": now + 600,
    }


def public_key_pem(issuer: LocalIssuer) -> bytes:
    jwk = next(key for key in issuer.jwks()["keys"] if key["kid"] == issuer.current_kid)
    public_key = jwt.PyJWK(jwk).key
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def alg_none(issuer: LocalIssuer) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": issuer.current_kid}
    return forge(header, valid_claims(issuer), lambda _: b"")


def hs256_with_public_key(issuer: LocalIssuer) -> str:
    secret = public_key_pem(issuer)
    header = {"alg": "HS256", "typ": "JWT", "kid": issuer.current_kid}
    return forge(
        header,
        valid_claims(issuer),
        lambda data: hmac.new(secret, data, hashlib.sha256).digest(),
    )


def tampered_signature(issuer: LocalIssuer) -> str:
    header, payload, signature = issuer.mint_user("alice").split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    return ".".join(
        [header, payload, signature[:middle] + flipped + signature[middle + 1 :]]
    )


def tampered_payload(issuer: LocalIssuer) -> str:
    header, _, signature = issuer.mint_user("alice").split(".")
    other_payload = issuer.mint_user("mallory").split(".")[1]
    return ".".join([header, other_payload, signature])


def unknown_kid(issuer: LocalIssuer) -> str:
    stray_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(
        valid_claims(issuer),
        stray_key,
        algorithm="RS256",
        headers={"kid": "never-served"},
    )


def exp_not_finite(issuer: LocalIssuer) -> str:
    return issuer.mint("alice", claims_overrides={"exp": math.inf})


REJECTED_TOKENS = [
    pytest.param(alg_none, "algorithm 'none' is not allowed", id="alg-none"),
    pytest.param(
        hs256_with_public_key,
        "algorithm 'HS256' is not allowed",
        id="hs256-public-key-as-secret",
    ),
    pytest.param(
        lambda issuer: issuer.mint("alice", headers_overrides={"alg": "RS384"}),
        "algorithm 'RS384' is not allowed",
        id="alg-not-pinned",
    ),
    pytest.param(
        lambda issuer: issuer.mint("alice", claims_overrides={"aud": "api://other"}),
        "InvalidAudienceError",
        id="wrong-audience",
    ),
    pytest.param(
        lambda issuer: issuer.mint(
            "alice", claims_overrides={"aud": ["api://a", "api://b"]}
        ),
        "InvalidAudienceError",
        id="audience-list-without-ours",
    ),
    pytest.param(
        lambda issuer: issuer.mint("alice", claims_overrides={"aud": None}),
        'missing the "aud" claim',
        id="no-audience",
    ),
    pytest.param(
        lambda issuer: issuer.mint(
            "alice", claims_overrides={"iss": "http://127.0.0.1:9"}
        ),
        "InvalidIssuerError",
        id="wrong-issuer",
    ),
    pytest.param(
        lambda issuer: issuer.mint("alice", claims_overrides={"iss": None}),
        'missing the "iss" claim',
        id="no-issuer",
    ),
    pytest.param(
        lambda issuer: issuer.mint("alice", lifetime=-3600),
        "expired (exp)",
        id="expired",
    ),
    pytest.param(
        lambda issuer: issuer.mint("alice", claims_overrides={"exp": None}),
        'missing the "exp" claim',
        id="no-exp",
    ),
    pytest.param(
        lambda issuer: issuer.mint("alice", claims_overrides={"exp": "tomorrow"}),
        "exp claim is not a number",
        id="exp-not-a-number",
    ),
    pytest.param(exp_not_finite, "exp claim is not finite", id="exp-not-finite"),
    pytest.param(
        lambda issuer: issuer.mint(
            "alice", claims_overrides={"nbf": int(time.time()) + 3600}
        ),
        "not valid yet (nbf)",
        id="not-yet-valid-nbf",
    ),
    pytest.param(
        lambda issuer: issuer.mint(
            "alice", claims_overrides={"iat": int(time.time()) + 3600}
        ),
        "not valid yet (iat)",
        id="issued-in-future",
    ),
    pytest.param(tampered_signature, "InvalidSignatureError", id="tampered-signature"),
    pytest.param(tampered_payload, "InvalidSignatureError", id="tampered-payload"),
    pytest.param(unknown_kid, "unknown key id 'never-served'", id="unknown-kid"),
    pytest.param(
        lambda issuer: issuer.mint("alice", headers_overrides={"kid": None}),
        "no key id (kid)",
        id="no-kid",
    ),
    pytest.param(
        lambda issuer: issuer.mint("alice", claims_overrides={"sub": None}),
        'missing the "sub" claim',
        id="no-user-claim",
    ),
    pytest.param(
        lambda issuer: issuer.mint("", claims_overrides={"sub": ""}),
        "'sub' claim is not a non-empty string",
        id="empty-user-claim",
    ),
    pytest.param(
        lambda issuer: issuer.mint("alice", claims_overrides={"sub": 42}),
        "Subject must be a string",
        id="user-claim-not-a-string",
    ),
    pytest.param(lambda issuer: "not-a-jwt", "malformed token", id="not-a-jwt"),
    pytest.param(
        lambda issuer: "a.b.c", "malformed token", id="three-garbage-segments"
    ),
]

MALFORMED_HEADERS = [
    pytest.param({}, id="no-header"),
    pytest.param({"Authorization": ""}, id="empty"),
    pytest.param({"Authorization": "Bearer"}, id="bearer-without-token"),
    pytest.param({"Authorization": "Bearer   "}, id="bearer-with-spaces"),
    pytest.param({"Authorization": "Basic YWxpY2U6c2VjcmV0"}, id="basic-scheme"),
    pytest.param({"Authorization": "Bearer a b"}, id="two-tokens"),
    pytest.param(
        {"Authorization": "Bearer " + "a" * (MAX_TOKEN_CHARS + 1)}, id="too-long"
    ),
    pytest.param(
        {"Authorization": "Bearer one", "authorization": "Bearer two"},
        id="conflicting-duplicates",
    ),
]


def test_user_token_authenticates(
    issuer: LocalIssuer, auth_settings: AuthSettings
) -> None:
    principal = authenticate(bearer(issuer.mint_user("alice")), settings=auth_settings)

    assert principal.user_id == "alice"
    assert principal.user_key == user_key("alice")
    assert principal.roles == frozenset()
    assert principal.is_sender is False


def test_sender_token_carries_role(
    issuer: LocalIssuer, auth_settings: AuthSettings
) -> None:
    principal = authenticate(
        bearer(issuer.mint_sender("backend")), settings=auth_settings
    )

    assert principal.user_id == "backend"
    assert principal.roles == frozenset({issuer.sender_role})
    assert principal.is_sender is True


def test_scopes_count_as_roles(
    issuer: LocalIssuer, auth_settings: AuthSettings
) -> None:
    scopes = f"Notifications.Read {issuer.sender_role}"
    token = issuer.mint(
        "backend", claims_overrides={"scp": scopes, "roles": ["Admin", 7]}
    )

    principal = authenticate(bearer(token), settings=auth_settings)

    assert principal.roles == {"Notifications.Read", issuer.sender_role, "Admin"}
    assert principal.is_sender is True


def test_audience_list_with_ours_passes(
    issuer: LocalIssuer, auth_settings: AuthSettings
) -> None:
    token = issuer.mint(
        "alice", claims_overrides={"aud": ["api://other", issuer.audience]}
    )

    assert authenticate(bearer(token), settings=auth_settings).user_id == "alice"


@pytest.mark.parametrize(
    "header_name, scheme",
    [
        ("Authorization", "Bearer"),
        ("authorization", "bearer"),
        ("AUTHORIZATION", "bEaReR"),
    ],
)
def test_header_and_scheme_case_insensitive(
    issuer: LocalIssuer, auth_settings: AuthSettings, header_name: str, scheme: str
) -> None:
    headers = {header_name: f"{scheme} {issuer.mint_user('alice')}"}

    assert authenticate(headers, settings=auth_settings).user_id == "alice"


def test_configured_user_claim(
    issuer: LocalIssuer, auth_settings: AuthSettings
) -> None:
    settings = AuthSettings(**{**vars(auth_settings), "user_claim": "oid"})
    token = issuer.mint("subject-1", claims_overrides={"oid": "object-1"})

    assert authenticate(bearer(token), settings=settings).user_id == "object-1"
    with pytest.raises(UnauthenticatedError):
        authenticate(bearer(issuer.mint_user("subject-1")), settings=settings)


@pytest.mark.parametrize(("make_token", "logged_reason"), REJECTED_TOKENS)
def test_invalid_token_rejected(
    issuer: LocalIssuer,
    auth_settings: AuthSettings,
    caplog: pytest.LogCaptureFixture,
    make_token: Callable[[LocalIssuer], str],
    logged_reason: str,
) -> None:
    """Each token fails the intended check, with the same message as all others."""
    caplog.set_level(logging.DEBUG, logger="shared.identity")

    with pytest.raises(UnauthenticatedError) as caught:
        authenticate(bearer(make_token(issuer)), settings=auth_settings)

    assert caught.value.message == DEFAULT_401_MESSAGE
    assert caught.value.status == 401
    assert logged_reason in caplog.text


@pytest.mark.parametrize("headers", MALFORMED_HEADERS)
def test_malformed_header_rejected(
    auth_settings: AuthSettings, headers: dict[str, str]
) -> None:
    with pytest.raises(UnauthenticatedError) as caught:
        authenticate(headers, settings=auth_settings)

    assert caught.value.message == DEFAULT_401_MESSAGE


def test_debug_log_names_check_not_token(
    issuer: LocalIssuer, auth_settings: AuthSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="shared.identity")
    token = issuer.mint("alice", claims_overrides={"aud": "api://other"})

    with pytest.raises(UnauthenticatedError):
        authenticate(bearer(token), settings=auth_settings)

    assert "InvalidAudienceError" in caplog.text
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text


def test_expiry_follows_validator_clock(
    issuer: LocalIssuer, auth_settings: AuthSettings
) -> None:
    clock = FakeClock()
    validator = TokenValidator(auth_settings, clock=clock)
    token = issuer.mint("alice", lifetime=600)
    expires = validator.validate(token)["exp"]
    skew = auth_settings.clock_skew_seconds

    clock.now = expires + skew - 1
    assert validator.validate(token)["sub"] == "alice"
    clock.now = expires + skew
    with pytest.raises(UnauthenticatedError):
        validator.validate(token)


def test_not_before_honours_clock_skew(
    issuer: LocalIssuer, auth_settings: AuthSettings
) -> None:
    clock = FakeClock()
    validator = TokenValidator(auth_settings, clock=clock)
    not_before = int(clock.now) + 1000
    token = issuer.mint("alice", claims_overrides={"nbf": not_before})
    skew = auth_settings.clock_skew_seconds

    clock.now = not_before - skew - 1
    with pytest.raises(UnauthenticatedError):
        validator.validate(token)
    clock.now = not_before - skew
    assert validator.validate(token)["sub"] == "alice"


def test_require_sender_passes_sender() -> None:
    sender = Principal(
        "backend", user_key("backend"), frozenset({"SecurePush.Send"}), True
    )

    require_sender(sender)


def test_require_sender_names_role(auth_settings: AuthSettings) -> None:
    user = Principal("alice", user_key("alice"), frozenset(), False)

    with pytest.raises(ForbiddenError) as caught:
        require_sender(user, settings=auth_settings)

    assert auth_settings.sender_role in caught.value.message
    assert caught.value.status == 403
