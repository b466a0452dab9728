"""AUTH_MODE=appservice: the caller from App Service's X-MS-CLIENT-PRINCIPAL header."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shared.errors import UnauthenticatedError
from shared.identity import authenticate, user_key
from shared.settings import AuthSettings, load_auth_settings

NAME_ID = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
OBJECT_ID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
ROLE_URI = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
SENDER_ROLE = "SecurePush.Send"


def app_service_settings(**overrides: str) -> AuthSettings:
    return load_auth_settings({"AUTH_MODE": "appservice", **overrides})


def encode_principal(document: Any) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def principal_header(
    *claims: tuple[str, str], role_typ: str = ROLE_URI
) -> dict[str, str]:
    document = {
        "auth_typ": "aad",
        "claims": [{"typ": typ, "val": val} for typ, val in claims],
        "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "role_typ": role_typ,
    }
    return {"X-MS-CLIENT-PRINCIPAL": encode_principal(document)}


def test_principal_with_long_sub_claim() -> None:
    headers = principal_header((NAME_ID, "alice"), ("name", "Alice"))

    principal = authenticate(headers, settings=app_service_settings())

    assert principal.user_id == "alice"
    assert principal.user_key == user_key("alice")
    assert principal.roles == frozenset()
    assert principal.is_sender is False


def test_principal_with_short_sub_claim() -> None:
    headers = principal_header(("sub", "alice"))

    assert authenticate(headers, settings=app_service_settings()).user_id == "alice"


def test_oid_claim_from_long_type() -> None:
    settings = app_service_settings(AUTH_USER_CLAIM="oid")
    headers = principal_header((NAME_ID, "pairwise-sub"), (OBJECT_ID, "object-1"))

    assert authenticate(headers, settings=settings).user_id == "object-1"


@pytest.mark.parametrize(
    ("role_claim", "role_typ"),
    [
        pytest.param(ROLE_URI, ROLE_URI, id="role-typ-uri"),
        pytest.param("roles", ROLE_URI, id="roles-claim"),
        pytest.param("app_role", "app_role", id="custom-role-typ"),
    ],
)
def test_sender_role_recognised(role_claim: str, role_typ: str) -> None:
    headers = principal_header(
        (NAME_ID, "backend"), (role_claim, SENDER_ROLE), role_typ=role_typ
    )

    principal = authenticate(headers, settings=app_service_settings())

    assert principal.is_sender is True
    assert SENDER_ROLE in principal.roles


def test_scope_claim_split_into_roles() -> None:
    headers = principal_header((NAME_ID, "backend"), ("scp", f"Read {SENDER_ROLE}"))

    principal = authenticate(headers, settings=app_service_settings())

    assert principal.roles == {"Read", SENDER_ROLE}
    assert principal.is_sender is True


def test_other_claims_are_not_roles() -> None:
    headers = principal_header((NAME_ID, "alice"), ("groups", SENDER_ROLE))

    assert authenticate(headers, settings=app_service_settings()).is_sender is False


def test_unpadded_lowercase_header_accepted() -> None:
    encoded = principal_header((NAME_ID, "alice"))["X-MS-CLIENT-PRINCIPAL"]
    headers = {"x-ms-client-principal": encoded.rstrip("=")}

    assert authenticate(headers, settings=app_service_settings()).user_id == "alice"


def test_bearer_token_ignored_in_app_service_mode() -> None:
    headers = {"Authorization": "Bearer whatever"}

    with pytest.raises(UnauthenticatedError):
        authenticate(headers, settings=app_service_settings())


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing-header"),
        pytest.param(
            {"X-MS-CLIENT-PRINCIPAL": "!!not base64!!"}, id="malformed-base64"
        ),
        pytest.param(
            {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(b"{not json").decode()},
            id="not-json",
        ),
        pytest.param(
            {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(b"\xff\xfe").decode()},
            id="not-utf8",
        ),
        pytest.param(
            {"X-MS-CLIENT-PRINCIPAL": encode_principal([1, 2])}, id="not-object"
        ),
        pytest.param(
            {"X-MS-CLIENT-PRINCIPAL": encode_principal({"auth_typ": "aad"})},
            id="no-claims",
        ),
        pytest.param(principal_header(("name", "Alice")), id="missing-user-claim"),
        pytest.param(principal_header((NAME_ID, "")), id="empty-user-claim"),
        pytest.param(
            {
                "X-MS-CLIENT-PRINCIPAL": encode_principal(
                    {"claims": [{"typ": NAME_ID, "val": 7}, "junk"]}
                )
            },
            id="malformed-claims",
        ),
        pytest.param(
            {
                "X-MS-CLIENT-PRINCIPAL": encode_principal(
                    {"claims": [{"typ": NAME_ID, "val": "a"}], "role_typ": ["r"]}
                )
            },
            id="role-type-not-string",
        ),
    ],
)
def test_bad_principal_rejected(headers: dict[str, str]) -> None:
    with pytest.raises(UnauthenticatedError) as caught:
        authenticate(headers, settings=app_service_settings())

    assert caught.value.message == UnauthenticatedError().message
