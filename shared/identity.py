"""Caller identity: who made a request, and whether they may send notifications.

AUTH_MODE picks one of two modes:

- ``jwt`` (the default) validates ``Authorization: Bearer <JWT>`` against the
  signing keys (JWKS) of the configured issuer.
- ``appservice`` reads the ``X-MS-CLIENT-PRINCIPAL`` header that App Service
  Authentication ("Easy Auth") sets after it has authenticated the caller.
  WARNING: this mode is safe only behind App Service Authentication. Nothing in
  this module checks that header's origin, so without the platform in front,
  any caller can write it and claim to be any user with any role.

Every failed check raises the same UnauthenticatedError, so that a caller
learns nothing about which check failed. A DEBUG log line names the check and
never contains the token.

The module takes headers as a plain mapping and does not depend on an HTTP framework.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import requests

from shared.errors import (
    ConfigurationError,
    ForbiddenError,
    InvalidRequestError,
    UnauthenticatedError,
    UpstreamTransientError,
)
from shared.settings import AuthSettings, auth_settings

logger = logging.getLogger(__name__)

AUTHORIZATION_HEADER = "Authorization"
CLIENT_PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL"

# Hex digits of SHA-256 kept in a user key: 128 bits.
USER_KEY_LENGTH = 32

# Bounds the work spent on a header before its signature is checked.
# NOTE: a guess, not measured against the largest tokens of any identity provider.
MAX_TOKEN_CHARS = 16_384

# (connect, read) timeouts in seconds for discovery and JWKS requests.
JWKS_TIMEOUT_SECONDS = (3.0, 10.0)

# Keys older than this are fetched again, so a key the issuer withdrew stops
# validating within a day even if no token names an unknown key.
JWKS_MAX_AGE_SECONDS = 24 * 3600.0
# Before any fetch has succeeded, fetches start at most this often.
FIRST_FETCH_SPACING_SECONDS = 5.0

KEYS_UNAVAILABLE = (
    "The identity provider's signing keys are unavailable, so the bearer token "
    "cannot be checked. Retry later."
)

# Algorithm families that TokenValidator accepts, with the JWK key type each needs.
# Symmetric (HS*) and unsigned (none) tokens are never accepted.
KEY_TYPE_BY_ALGORITHM_FAMILY = {"RS": "RSA", "PS": "RSA", "ES": "EC"}

# Long claim types that App Service writes for claims a token names briefly.
CLAIM_TYPE_ALIASES = {
    "sub": ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",),
    "oid": ("http://schemas.microsoft.com/identity/claims/objectidentifier",),
}
ROLE_CLAIM_TYPES = (
    "roles",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
)
SCOPE_CLAIM_TYPES = ("scp", "http://schemas.microsoft.com/identity/claims/scope")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    `user_id` is the configured claim's value as the identity provider states
    it. `user_key` is `user_key(user_id)`. `roles` merges the app roles and the
    delegated scopes of the token.
    """

    user_id: str
    user_key: str
    roles: frozenset[str]
    is_sender: bool


def user_key(user_id: str) -> str:
    """Hash a user id into the fixed-length key used in storage and push tags.

    The key is the first 32 lowercase hex digits (128 bits) of SHA-256 over the
    id's UTF-8 bytes, with lone surrogates encoded as themselves. Hex digits fit
    a Table Storage PartitionKey, the Notification Hubs tag alphabet and an
    installation's userId, whatever characters the id contains. Raises
    InvalidRequestError for an empty id.
    """
    if not user_id:
        raise InvalidRequestError(
            "The user id is empty. A user id needs at least one character."
        )
    digest = hashlib.sha256(user_id.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:USER_KEY_LENGTH]


def authenticate(
    headers: Mapping[str, str], *, settings: AuthSettings | None = None
) -> Principal:
    """Identify the caller from the request headers, or raise UnauthenticatedError.

    `settings` defaults to the process's identity settings. Raises
    UpstreamTransientError when the issuer's keys cannot be fetched.
    """
    settings = settings or auth_settings()
    if settings.mode == "appservice":
        user_id, roles = _read_client_principal(headers, settings.user_claim)
    else:
        claims = _validator_for(settings).validate(_bearer_token(headers))
        user_id, roles = claims[settings.user_claim], _roles_from_claims(claims)
    return Principal(
        user_id=user_id,
        user_key=user_key(user_id),
        roles=roles,
        is_sender=settings.sender_role in roles,
    )


def require_sender(
    principal: Principal, *, settings: AuthSettings | None = None
) -> None:
    """Raise ForbiddenError unless the principal carries the sender role.

    The message names the role from `settings`, which default to the process's.
    """
    if principal.is_sender:
        return
    role = (settings or auth_settings()).sender_role
    raise ForbiddenError(
        f"Sending notifications requires the app role or scope {role!r}, "
        "which the caller's token does not carry."
    )


def token_validator() -> TokenValidator:
    """Return the process-wide validator for the configured settings."""
    return _validator_for(auth_settings())


@functools.lru_cache(maxsize=8)
def _validator_for(settings: AuthSettings) -> TokenValidator:
    return TokenValidator(settings)


def _rejected(check: str, *args: object) -> UnauthenticatedError:
    """Log which check failed at DEBUG and build the one 401 error for all checks."""
    logger.debug("Authentication failed: " + check, *args)
    return UnauthenticatedError()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Return the value of header `name`, matched case-insensitively.

    Two spellings of the name with different values are rejected, because the
    HTTP layer and this module might otherwise read different ones.
    """
    lookup_name = name.lower()
    values = {value for key, value in headers.items() if key.lower() == lookup_name}
    if len(values) > 1:
        raise _rejected("conflicting %s headers", name)
    return values.pop() if values else None


def _bearer_token(headers: Mapping[str, str]) -> str:
    value = _header(headers, AUTHORIZATION_HEADER)
    if value is None:
        raise _rejected("no Authorization header")
    parts = value.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise _rejected("the Authorization header is not 'Bearer <token>'")
    if len(parts[1]) > MAX_TOKEN_CHARS:
        raise _rejected("the token is longer than %d characters", MAX_TOKEN_CHARS)
    return parts[1]


def _roles_from_claims(claims: Mapping[str, Any]) -> frozenset[str]:
    """Collect the app roles (`roles`, a list) and scopes (`scp`, space-separated)."""
    found: set[str] = set()
    roles = claims.get("roles")
    if isinstance(roles, str):
        found.add(roles)
    elif isinstance(roles, list):
        found.update(role for role in roles if isinstance(role, str))
    scopes = claims.get("scp")
    if isinstance(scopes, str):
        found.update(scopes.split())
    return frozenset(found)


# --- AUTH_MODE=appservice ---------------------------------------------------


def _read_client_principal(
    headers: Mapping[str, str], user_claim: str
) -> tuple[str, frozenset[str]]:
    """Return the user id and roles from App Service's X-MS-CLIENT-PRINCIPAL."""
    encoded = _header(headers, CLIENT_PRINCIPAL_HEADER)
    if encoded is None:
        raise _rejected("no %s header", CLIENT_PRINCIPAL_HEADER)
    document = _decode_client_principal(encoded)
    claims = _principal_claims(document)
    user_types = {user_claim, *CLAIM_TYPE_ALIASES.get(user_claim, ())}
    user_ids = [value for kind, value in claims if kind in user_types and value]
    if not user_ids:
        raise _rejected("the client principal has no %r claim", user_claim)
    role_type = document.get("role_typ")
    if role_type is not None and not isinstance(role_type, str):
        raise _rejected("the client principal's role_typ is not a string")
    role_types = {*ROLE_CLAIM_TYPES, role_type}
    roles = {value for kind, value in claims if kind in role_types}
    for kind, value in claims:
        if kind in SCOPE_CLAIM_TYPES:
            roles.update(value.split())
    return user_ids[0], frozenset(roles)


def _decode_client_principal(encoded: str) -> dict[str, Any]:
    """Decode the header's base64 JSON, tolerating missing padding."""
    text = encoded.strip()
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        document = json.loads(raw)
    except ValueError:
        raise _rejected("the client principal is not base64-encoded JSON") from None
    if not isinstance(document, dict):
        raise _rejected("the client principal is not a JSON object")
    return document


def _principal_claims(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return the (typ, val) pairs, skipping entries that are not two strings."""
    claims = document.get("claims")
    if not isinstance(claims, list):
        raise _rejected("the client principal has no claims list")
    return [
        (claim["typ"], claim["val"])
        for claim in claims
        if isinstance(claim, dict)
        and isinstance(claim.get("typ"), str)
        and isinstance(claim.get("val"), str)
    ]


# --- AUTH_MODE=jwt ----------------------------------------------------------


@dataclass(frozen=True)
class _SigningKey:
    """A public key from the JWKS, with the algorithm the issuer pinned it to."""

    public_key: Any
    key_type: str
    algorithm: str | None


class TokenValidator:
    """Validate bearer JWTs against the issuer's JWKS, which it caches.

    Keys come from `settings.jwks_url`, or from the `jwks_uri` of the issuer's
    OpenID discovery document when that setting is empty. A token that names
    an unknown key id triggers one JWKS fetch, unless the last fetch started
    less than `settings.jwks_min_refetch_seconds` ago. Until a first fetch
    succeeds, fetches start at most every FIRST_FETCH_SPACING_SECONDS. `clock`
    returns Unix seconds and drives the expiry checks and both rate limits. One
    instance serves many threads, and a fetch blocks the other validations
    until it ends.
    """

    def __init__(
        self,
        settings: AuthSettings,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        timeout: tuple[float, float] = JWKS_TIMEOUT_SECONDS,
    ) -> None:
        _check_algorithms(settings.algorithms)
        self._settings = settings
        self._session = session or requests.Session()
        self._clock = clock
        self._timeout = timeout
        self._lock = threading.Lock()
        self._keys: dict[str, _SigningKey] = {}
        self._jwks_uri = settings.jwks_url
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None

    def validate(self, token: str) -> dict[str, Any]:
        """Return the token's claims once its signature and claims check out.

        Raises UnauthenticatedError for any invalid token, and
        UpstreamTransientError when the keys cannot be fetched.
        """
        algorithm, kid = self._read_header(token)
        key = self._key_for(kid, algorithm)
        claims = self._decode(token, key)
        self._check_times(claims)
        user_id = claims.get(self._settings.user_claim)
        if not isinstance(user_id, str) or not user_id:
            raise _rejected(
                "the %r claim is not a non-empty string", self._settings.user_claim
            )
        return claims

    def _read_header(self, token: str) -> tuple[str, str]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _rejected("malformed token (%s)", exc) from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._settings.algorithms:
            raise _rejected("algorithm %r is not allowed", algorithm)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _rejected("the token header has no key id (kid)")
        return algorithm, kid

    def _key_for(self, kid: str, algorithm: str) -> _SigningKey:
        """Find the key for `kid`, fetching the JWKS when allowed."""
        with self._lock:
            self._refresh_if_stale()
            key = self._keys.get(kid)
            if key is None and self._may_refetch():
                logger.info(
                    "Token names unknown key id %r, fetching the JWKS again", kid
                )
                self._fetch_keys()
                key = self._keys.get(kid)
        if key is None:
            raise _rejected("unknown key id %r", kid)
        if key.algorithm is not None and key.algorithm != algorithm:
            raise _rejected("key %r is for %s, not %s", kid, key.algorithm, algorithm)
        if KEY_TYPE_BY_ALGORITHM_FAMILY[algorithm[:2]] != key.key_type:
            raise _rejected(
                "key %r is a %s key, not for %s", kid, key.key_type, algorithm
            )
        return key

    def _refresh_if_stale(self) -> None:
        """Fetch the keys on first use, and again once they are a day old.

        A failed refresh of old keys keeps them in use and logs a warning.
        """
        if self._fetched_at is None:
            self._first_fetch()
            return
        age = self._clock() - self._fetched_at
        if age < JWKS_MAX_AGE_SECONDS or not self._may_refetch():
            return
        try:
            self._fetch_keys()
        except UpstreamTransientError:
            logger.warning("Keeping signing keys fetched %.0f seconds ago", age)

    def _first_fetch(self) -> None:
        """Fetch the first keys, at most once per FIRST_FETCH_SPACING_SECONDS.

        While the identity provider is down at start, each request would
        otherwise make its own fetch and queue behind the lock for up to the
        full timeout; inside the spacing it gets a 503 with Retry-After at once.
        """
        if self._attempted_at is not None:
            wait = FIRST_FETCH_SPACING_SECONDS - (self._clock() - self._attempted_at)
            if wait > 0:
                raise UpstreamTransientError(KEYS_UNAVAILABLE, retry_after=wait)
        self._fetch_keys()

    def _may_refetch(self) -> bool:
        if self._attempted_at is None:
            return True
        elapsed = self._clock() - self._attempted_at
        return elapsed >= self._settings.jwks_min_refetch_seconds

    def _fetch_keys(self) -> None:
        self._attempted_at = self._clock()
        uri = self._jwks_uri or self._discover_jwks_uri()
        keys = _parse_jwks(self._get_json(uri))
        if not keys:
            logger.warning("The JWKS at %s contains no usable signing key", uri)
            raise UpstreamTransientError(KEYS_UNAVAILABLE)
        self._keys = keys
        self._fetched_at = self._attempted_at
        logger.info("Fetched %d signing keys from %s", len(keys), uri)

    def _discover_jwks_uri(self) -> str:
        url = self._settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        uri = self._get_json(url).get("jwks_uri")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            logger.warning("The discovery document at %s has no valid jwks_uri", url)
            raise UpstreamTransientError(KEYS_UNAVAILABLE)
        self._jwks_uri = uri
        return uri

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self._session.get(url, timeout=self._timeout)
            response.raise_for_status()
            document = response.json()
        except requests.RequestException as exc:
            logger.warning(
                "Fetching identity provider keys from %s failed: %s", url, exc
            )
            raise UpstreamTransientError(KEYS_UNAVAILABLE) from exc
        if not isinstance(document, dict):
            logger.warning("The document at %s is not a JSON object", url)
            raise UpstreamTransientError(KEYS_UNAVAILABLE)
        return document

    def _decode(self, token: str, key: _SigningKey) -> dict[str, Any]:
        """Verify the signature, `iss` and `aud`, and require the needed claims.

        Times are checked afterwards against `clock`, because PyJWT reads the
        system clock.
        """
        required = ["iss", "aud", "exp", self._settings.user_claim]
        options: jwt.types.Options = {
            "require": required,
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
        }
        try:
            return jwt.decode(
                token,
                key.public_key,
                algorithms=list(self._settings.algorithms),
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                options=options,
            )
        except jwt.PyJWTError as exc:
            raise _rejected("%s (%s)", type(exc).__name__, exc) from None

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        leeway = self._settings.clock_skew_seconds
        if _numeric_date(claims, "exp") <= now - leeway:
            raise _rejected("the token has expired (exp)")
        for name in ("nbf", "iat"):
            if name in claims and _numeric_date(claims, name) > now + leeway:
                raise _rejected("the token is not valid yet (%s)", name)


def _numeric_date(claims: Mapping[str, Any], name: str) -> float:
    """Return a time claim as Unix seconds, rejecting anything but a finite number."""
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _rejected("the %s claim is not a number", name)
    if not math.isfinite(value):
        raise _rejected("the %s claim is not finite", name)
    return float(value)


def _check_algorithms(algorithms: Iterable[str]) -> None:
    """Raise ConfigurationError for an empty list or any non-RS/PS/ES algorithm."""
    listed = list(algorithms)
    unsupported = [
        name for name in listed if name[:2] not in KEY_TYPE_BY_ALGORITHM_FAMILY
    ]
    if unsupported or not listed:
        raise ConfigurationError(
            "AUTH_ALGORITHMS must list only asymmetric RS*, PS* or ES* algorithms, "
            f"not {', '.join(unsupported) or 'nothing'}."
        )


def _parse_jwks(document: Mapping[str, Any]) -> dict[str, _SigningKey]:
    """Map each usable signing key's id to its key, skipping the rest."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        return {}
    keys: dict[str, _SigningKey] = {}
    for entry in entries:
        key = _signing_key(entry) if isinstance(entry, dict) else None
        if key is not None:
            keys[entry["kid"]] = key
    return keys


def _signing_key(entry: dict[str, Any]) -> _SigningKey | None:
    """Load one JWK, or return None for a key that cannot verify our tokens.

    Skipped: keys without a kid, encryption keys, symmetric keys, and entries
    with private parameters (a JWKS publishes public keys only).
    """
    kid, key_type = entry.get("kid"), entry.get("kty")
    if not isinstance(kid, str) or not kid or entry.get("use", "sig") != "sig":
        return None
    if not isinstance(key_type, str) or "d" in entry:
        return None
    if key_type not in KEY_TYPE_BY_ALGORITHM_FAMILY.values():
        return None
    algorithm = entry.get("alg")
    try:
        loaded = jwt.PyJWK(entry)
    except jwt.PyJWTError as exc:
        logger.warning("Skipping JWKS key %r that cannot be loaded: %s", kid, exc)
        return None
    pinned = algorithm if isinstance(algorithm, str) else None
    return _SigningKey(public_key=loaded.key, key_type=key_type, algorithm=pinned)
