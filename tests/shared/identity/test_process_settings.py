"""Identity built from the process environment, as the functions use it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.issuer import JWKS_PATH, LocalIssuer
from shared import settings
from shared.errors import ConfigurationError
from shared.identity import authenticate, require_sender, token_validator


@pytest.fixture
def issuer_environment(
    issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    for name, value in issuer.auth_environment().items():
        monkeypatch.setenv(name, value)
    settings.clear_cache()
    yield
    settings.clear_cache()


@pytest.mark.usefixtures("issuer_environment")
def test_token_validator_built_once(issuer: LocalIssuer) -> None:
    validator = token_validator()
    validator.validate(issuer.mint_user("alice"))
    fetches = issuer.request_count(JWKS_PATH)

    assert token_validator() is validator
    bob = authenticate({"Authorization": "Bearer " + issuer.mint_user("bob")})
    assert bob.user_id == "bob"
    assert issuer.request_count(JWKS_PATH) == fetches


@pytest.mark.usefixtures("issuer_environment")
def test_authenticate_reads_environment(issuer: LocalIssuer) -> None:
    principal = authenticate({"Authorization": "Bearer " + issuer.mint_sender("app")})

    require_sender(principal)
    assert principal.is_sender is True


def test_missing_issuer_is_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AUTH_MODE", "AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_JWKS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings.clear_cache()
    try:
        with pytest.raises(ConfigurationError) as caught:
            authenticate({"Authorization": "Bearer x"})
    finally:
        settings.clear_cache()

    assert "AUTH_ISSUER" in caught.value.message
