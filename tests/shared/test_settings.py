"""Settings sections read from a plain mapping, and the cached process getters."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import pytest

from shared import settings
from shared.errors import ConfigurationError
from shared.settings import (
    WHERE_TO_SET,
    load_auth_settings,
    load_hub_settings,
    load_notification_settings,
    load_storage_settings,
)

AZURITE_CONNECTION = "UseDevelopmentStorage=true"
HUB_CONNECTION = (
    "Endpoint=sb://example.servicebus.windows.net/;"
    "SharedAccessKeyName=DefaultFullSharedAccessSignature;"
    "SharedAccessKey=c2VjcmV0LWtleS1ub3QtZm9yLWxvZ3M="
)
HUB = {
    "NOTIFICATION_HUB_CONNECTION_STRING": HUB_CONNECTION,
    "NOTIFICATION_HUB_NAME": "h",
}
JWT = {"AUTH_ISSUER": "https://issuer.example/", "AUTH_AUDIENCE": "api://app"}


def configuration_error(
    load: Callable[[Mapping[str, str]], object], environ: dict[str, str]
) -> str:
    with pytest.raises(ConfigurationError) as raised:
        load(environ)
    return raised.value.message


# Storage


def test_storage_defaults() -> None:
    loaded = load_storage_settings(
        {"PAYLOAD_STORAGE_CONNECTION_STRING": AZURITE_CONNECTION}
    )

    assert loaded.connection_string == AZURITE_CONNECTION
    assert loaded.account_url is None
    assert loaded.notifications_table == "SecurePushNotifications"
    assert loaded.devices_table == "SecurePushDevices"
    assert loaded.idempotency_table == "SecurePushIdempotency"


def test_storage_account_url_alone() -> None:
    url = "https://account.table.core.windows.net"

    loaded = load_storage_settings({"PAYLOAD_STORAGE_ACCOUNT_URL": url})

    assert loaded.account_url == url
    assert loaded.connection_string is None


def test_storage_falls_back_to_jobs_storage() -> None:
    loaded = load_storage_settings({"AzureWebJobsStorage": AZURITE_CONNECTION})

    assert loaded.connection_string == AZURITE_CONNECTION
    assert loaded.account_url is None


def test_storage_dedicated_setting_wins() -> None:
    loaded = load_storage_settings(
        {
            "PAYLOAD_STORAGE_CONNECTION_STRING": "AccountName=payloads",
            "AzureWebJobsStorage": AZURITE_CONNECTION,
        }
    )

    assert loaded.connection_string == "AccountName=payloads"


def test_storage_account_url_beats_jobs_storage() -> None:
    url = "https://account.table.core.windows.net"

    loaded = load_storage_settings(
        {"PAYLOAD_STORAGE_ACCOUNT_URL": url, "AzureWebJobsStorage": AZURITE_CONNECTION}
    )

    assert loaded.account_url == url
    assert loaded.connection_string is None


def test_storage_both_settings_rejected() -> None:
    message = configuration_error(
        load_storage_settings,
        {
            "PAYLOAD_STORAGE_CONNECTION_STRING": AZURITE_CONNECTION,
            "PAYLOAD_STORAGE_ACCOUNT_URL": "https://account.table.core.windows.net",
        },
    )

    assert "both set" in message
    assert AZURITE_CONNECTION not in message


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"PAYLOAD_STORAGE_CONNECTION_STRING": "   "},
        {"AzureWebJobsStorage": ""},
    ],
)
def test_storage_none_set_rejected(environ: dict[str, str]) -> None:
    message = configuration_error(load_storage_settings, environ)

    assert "PAYLOAD_STORAGE_CONNECTION_STRING" in message
    assert "PAYLOAD_STORAGE_ACCOUNT_URL" in message
    assert "AzureWebJobsStorage" in message
    assert "missing" in message


def test_storage_http_account_url_rejected() -> None:
    message = configuration_error(
        load_storage_settings,
        {"PAYLOAD_STORAGE_ACCOUNT_URL": "http://account.table.core.windows.net"},
    )

    assert "PAYLOAD_STORAGE_ACCOUNT_URL must start with https://" in message


@pytest.mark.parametrize(
    "name", ["NOTIFICATIONS_TABLE", "DEVICES_TABLE", "IDEMPOTENCY_TABLE"]
)
@pytest.mark.parametrize(
    "table", ["ab", "1Devices", "Secure-Push", "Secure_Push", "A" * 64, "Tabelle ä"]
)
def test_storage_bad_table_name(name: str, table: str) -> None:
    environ = {"AzureWebJobsStorage": AZURITE_CONNECTION, name: table}

    message = configuration_error(load_storage_settings, environ)

    assert f"{name} must be a Table Storage table name" in message
    assert repr(table) in message


@pytest.mark.parametrize("table", ["abc", "A" * 63, "Devices2024"])
def test_storage_good_table_name(table: str) -> None:
    environ = {"AzureWebJobsStorage": AZURITE_CONNECTION, "DEVICES_TABLE": table}

    assert load_storage_settings(environ).devices_table == table


def test_storage_lists_every_problem() -> None:
    environ = {
        "PAYLOAD_STORAGE_ACCOUNT_URL": "http://account.table.core.windows.net",
        "NOTIFICATIONS_TABLE": "no",
        "DEVICES_TABLE": "9lives",
        "IDEMPOTENCY_TABLE": "has-dash",
    }

    message = configuration_error(load_storage_settings, environ)

    assert message.startswith("Invalid storage settings: ")
    for name in (
        "PAYLOAD_STORAGE_ACCOUNT_URL",
        "NOTIFICATIONS_TABLE",
        "DEVICES_TABLE",
        "IDEMPOTENCY_TABLE",
    ):
        assert name in message
    assert message.endswith(WHERE_TO_SET)


# Notification Hubs


def test_hub_defaults() -> None:
    loaded = load_hub_settings(HUB)

    assert loaded.connection_string == HUB_CONNECTION
    assert loaded.hub_name == "h"
    assert loaded.retry_budget_seconds == 20.0
    assert loaded.max_attempts == 4
    assert loaded.connect_timeout_seconds == 5.0
    assert loaded.read_timeout_seconds == 15.0


def test_hub_values_read() -> None:
    environ = {
        **HUB,
        "HUB_RETRY_BUDGET_SECONDS": " 0 ",
        "HUB_MAX_ATTEMPTS": "10",
        "HUB_CONNECT_TIMEOUT_SECONDS": "0.1",
        "HUB_READ_TIMEOUT_SECONDS": "120",
    }

    loaded = load_hub_settings(environ)

    assert loaded.retry_budget_seconds == 0.0
    assert loaded.max_attempts == 10
    assert loaded.connect_timeout_seconds == 0.1
    assert loaded.read_timeout_seconds == 120.0


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("HUB_MAX_ATTEMPTS", "three", "must be a whole number, not 'three'"),
        ("HUB_MAX_ATTEMPTS", "2.5", "must be a whole number, not '2.5'"),
        ("HUB_MAX_ATTEMPTS", "0", "must be between 1 and 10, not 0"),
        ("HUB_MAX_ATTEMPTS", "11", "must be between 1 and 10, not 11"),
        ("HUB_RETRY_BUDGET_SECONDS", "soon", "must be a number, not 'soon'"),
        ("HUB_RETRY_BUDGET_SECONDS", "-1", "must be between 0 and 120, not -1"),
        ("HUB_RETRY_BUDGET_SECONDS", "120.5", "must be between 0 and 120, not 120.5"),
        ("HUB_RETRY_BUDGET_SECONDS", "nan", "must be between 0 and 120, not nan"),
        ("HUB_CONNECT_TIMEOUT_SECONDS", "0.05", "must be between 0.1 and 60"),
        ("HUB_CONNECT_TIMEOUT_SECONDS", "inf", "must be between 0.1 and 60, not inf"),
        ("HUB_READ_TIMEOUT_SECONDS", "121", "must be between 0.1 and 120, not 121"),
    ],
)
def test_hub_bad_number(name: str, value: str, expected: str) -> None:
    message = configuration_error(load_hub_settings, {**HUB, name: value})

    assert f"{name} {expected}" in message


@pytest.mark.parametrize(
    "name", ["NOTIFICATION_HUB_CONNECTION_STRING", "NOTIFICATION_HUB_NAME"]
)
def test_hub_required_setting_missing(name: str) -> None:
    environ = {**HUB, name: " "}

    message = configuration_error(load_hub_settings, environ)

    assert f"{name} is missing" in message


def test_hub_lists_every_problem_once() -> None:
    environ = {
        "NOTIFICATION_HUB_CONNECTION_STRING": "",
        "HUB_RETRY_BUDGET_SECONDS": "x",
        "HUB_MAX_ATTEMPTS": "99",
        "HUB_CONNECT_TIMEOUT_SECONDS": "0",
        "HUB_READ_TIMEOUT_SECONDS": "slow",
    }

    message = configuration_error(load_hub_settings, environ)

    assert message.startswith("Invalid Notification Hubs settings: ")
    for name in (
        "NOTIFICATION_HUB_CONNECTION_STRING",
        "NOTIFICATION_HUB_NAME",
        "HUB_RETRY_BUDGET_SECONDS",
        "HUB_MAX_ATTEMPTS",
        "HUB_CONNECT_TIMEOUT_SECONDS",
        "HUB_READ_TIMEOUT_SECONDS",
    ):
        assert message.count(name) == 1, name
    assert message.endswith(WHERE_TO_SET)


def test_hub_message_hides_connection_string() -> None:
    message = configuration_error(
        load_hub_settings,
        {"NOTIFICATION_HUB_CONNECTION_STRING": HUB_CONNECTION, "HUB_MAX_ATTEMPTS": "0"},
    )

    assert "SharedAccessKey" not in message
    assert "c2VjcmV0" not in message


# Authentication


def test_auth_defaults() -> None:
    loaded = load_auth_settings(JWT)

    assert loaded.mode == "jwt"
    assert loaded.issuer == JWT["AUTH_ISSUER"]
    assert loaded.audience == JWT["AUTH_AUDIENCE"]
    assert loaded.jwks_url is None
    assert loaded.algorithms == ("RS256",)
    assert loaded.user_claim == "sub"
    assert loaded.sender_role == "SecurePush.Send"
    assert loaded.clock_skew_seconds == 60
    assert loaded.jwks_min_refetch_seconds == 60.0


def test_auth_values_read() -> None:
    environ = {
        **JWT,
        "AUTH_MODE": "JWT",
        "AUTH_JWKS_URL": "https://issuer.example/keys",
        "AUTH_ALGORITHMS": " ES256 , RS512,, PS256 ",
        "AUTH_USER_CLAIM": "oid",
        "AUTH_SENDER_ROLE": "Pusher",
        "AUTH_CLOCK_SKEW_SECONDS": "0",
        "AUTH_JWKS_MIN_REFETCH_SECONDS": "86400",
    }

    loaded = load_auth_settings(environ)

    assert loaded.mode == "jwt"
    assert loaded.jwks_url == "https://issuer.example/keys"
    assert loaded.algorithms == ("ES256", "RS512", "PS256")
    assert loaded.user_claim == "oid"
    assert loaded.sender_role == "Pusher"
    assert loaded.clock_skew_seconds == 0
    assert loaded.jwks_min_refetch_seconds == 86400.0


def test_auth_appservice_needs_no_issuer() -> None:
    loaded = load_auth_settings({"AUTH_MODE": "AppService"})

    assert loaded.mode == "appservice"
    assert loaded.issuer == ""
    assert loaded.audience == ""


@pytest.mark.parametrize("missing", ["AUTH_ISSUER", "AUTH_AUDIENCE"])
def test_auth_jwt_needs_issuer_and_audience(missing: str) -> None:
    environ = {**JWT, missing: ""}

    message = configuration_error(load_auth_settings, environ)

    assert f"{missing} is missing" in message


def test_auth_unknown_mode() -> None:
    message = configuration_error(load_auth_settings, {**JWT, "AUTH_MODE": "basic"})

    assert "AUTH_MODE must be one of jwt, appservice, not 'basic'" in message


@pytest.mark.parametrize(
    ("algorithms", "named"),
    [
        ("HS256", "HS256"),
        ("none", "none"),
        ("RS256,HS512", "HS512"),
        ("rs256", "rs256"),
        ("EdDSA", "EdDSA"),
        (",", "nothing"),
    ],
)
def test_auth_rejects_algorithms(algorithms: str, named: str) -> None:
    environ = {**JWT, "AUTH_ALGORITHMS": algorithms}

    message = configuration_error(load_auth_settings, environ)

    assert "AUTH_ALGORITHMS must list asymmetric algorithms" in message
    assert message.split(", not ")[-1].startswith(named)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTH_CLOCK_SKEW_SECONDS", "-1"),
        ("AUTH_CLOCK_SKEW_SECONDS", "301"),
        ("AUTH_CLOCK_SKEW_SECONDS", "1m"),
        ("AUTH_JWKS_MIN_REFETCH_SECONDS", "86401"),
        ("AUTH_JWKS_MIN_REFETCH_SECONDS", "hourly"),
    ],
)
def test_auth_bad_number(name: str, value: str) -> None:
    message = configuration_error(load_auth_settings, {**JWT, name: value})

    assert name in message


def test_auth_lists_every_problem() -> None:
    environ = {
        "AUTH_ALGORITHMS": "HS256,none",
        "AUTH_CLOCK_SKEW_SECONDS": "9999",
        "AUTH_JWKS_MIN_REFETCH_SECONDS": "-5",
    }

    message = configuration_error(load_auth_settings, environ)

    assert message.startswith("Invalid authentication settings: ")
    for name in (
        "AUTH_ISSUER",
        "AUTH_AUDIENCE",
        "AUTH_ALGORITHMS",
        "AUTH_CLOCK_SKEW_SECONDS",
        "AUTH_JWKS_MIN_REFETCH_SECONDS",
    ):
        assert name in message
    assert "HS256, none" in message
    assert message.endswith(WHERE_TO_SET)


# Notifications


def test_notification_defaults() -> None:
    loaded = load_notification_settings({})

    assert loaded.default_alert == "You have a new message."
    assert loaded.default_ttl_seconds == 7 * 86400
    assert loaded.max_ttl_seconds == 30 * 86400


def test_notification_values_read() -> None:
    environ = {
        "NOTIFICATION_DEFAULT_ALERT": "New message",
        "NOTIFICATION_DEFAULT_TTL_SECONDS": "3600",
        "NOTIFICATION_MAX_TTL_SECONDS": "7200",
    }

    loaded = load_notification_settings(environ)

    assert loaded.default_alert == "New message"
    assert loaded.default_ttl_seconds == 3600
    assert loaded.max_ttl_seconds == 7200


def test_notification_default_ttl_within_lower_max() -> None:
    loaded = load_notification_settings({"NOTIFICATION_MAX_TTL_SECONDS": "3600"})

    assert loaded.max_ttl_seconds == 3600
    assert loaded.default_ttl_seconds == 3600


def test_notification_default_ttl_over_max() -> None:
    environ = {
        "NOTIFICATION_DEFAULT_TTL_SECONDS": "7201",
        "NOTIFICATION_MAX_TTL_SECONDS": "7200",
    }

    message = configuration_error(load_notification_settings, environ)

    assert "NOTIFICATION_DEFAULT_TTL_SECONDS must be between 60 and 7200" in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NOTIFICATION_MAX_TTL_SECONDS", "59"),
        ("NOTIFICATION_MAX_TTL_SECONDS", str(365 * 86400 + 1)),
        ("NOTIFICATION_MAX_TTL_SECONDS", "a week"),
        ("NOTIFICATION_DEFAULT_TTL_SECONDS", "59"),
        ("NOTIFICATION_DEFAULT_TTL_SECONDS", "1e3"),
    ],
)
def test_notification_bad_number(name: str, value: str) -> None:
    message = configuration_error(load_notification_settings, {name: value})

    assert name in message
    assert message.startswith("Invalid notification settings: ")
    assert message.endswith(WHERE_TO_SET)


def test_notification_lists_every_problem() -> None:
    environ = {
        "NOTIFICATION_DEFAULT_TTL_SECONDS": "0",
        "NOTIFICATION_MAX_TTL_SECONDS": "forever",
    }

    message = configuration_error(load_notification_settings, environ)

    assert "NOTIFICATION_DEFAULT_TTL_SECONDS" in message
    assert "NOTIFICATION_MAX_TTL_SECONDS" in message


# Cached getters


SETTING_NAMES = (
    "PAYLOAD_STORAGE_CONNECTION_STRING",
    "PAYLOAD_STORAGE_ACCOUNT_URL",
    "AzureWebJobsStorage",
    "NOTIFICATIONS_TABLE",
    "DEVICES_TABLE",
    "IDEMPOTENCY_TABLE",
    "NOTIFICATION_HUB_CONNECTION_STRING",
    "NOTIFICATION_HUB_NAME",
    "HUB_RETRY_BUDGET_SECONDS",
    "HUB_MAX_ATTEMPTS",
    "HUB_CONNECT_TIMEOUT_SECONDS",
    "HUB_READ_TIMEOUT_SECONDS",
    "AUTH_MODE",
    "AUTH_ISSUER",
    "AUTH_AUDIENCE",
    "AUTH_JWKS_URL",
    "AUTH_ALGORITHMS",
    "AUTH_USER_CLAIM",
    "AUTH_SENDER_ROLE",
    "AUTH_CLOCK_SKEW_SECONDS",
    "AUTH_JWKS_MIN_REFETCH_SECONDS",
    "NOTIFICATION_DEFAULT_ALERT",
    "NOTIFICATION_DEFAULT_TTL_SECONDS",
    "NOTIFICATION_MAX_TTL_SECONDS",
)


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Remove the settings these tests use, and forget cached sections around them."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    settings.clear_cache()
    yield
    settings.clear_cache()


@pytest.mark.usefixtures("clean_environment")
def test_cached_getters_read_environment_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", AZURITE_CONNECTION)
    monkeypatch.setenv("NOTIFICATION_HUB_CONNECTION_STRING", HUB_CONNECTION)
    monkeypatch.setenv("NOTIFICATION_HUB_NAME", "first")
    monkeypatch.setenv("AUTH_MODE", "appservice")
    monkeypatch.setenv("NOTIFICATION_DEFAULT_ALERT", "first alert")

    storage = settings.storage_settings()
    hub = settings.hub_settings()
    auth = settings.auth_settings()
    notification = settings.notification_settings()
    monkeypatch.setenv("NOTIFICATION_HUB_NAME", "second")
    monkeypatch.setenv("NOTIFICATION_DEFAULT_ALERT", "second alert")

    assert settings.storage_settings() is storage
    assert settings.hub_settings() is hub
    assert settings.auth_settings() is auth
    assert settings.notification_settings() is notification
    assert settings.hub_settings().hub_name == "first"


@pytest.mark.usefixtures("clean_environment")
def test_clear_cache_rereads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFICATION_HUB_CONNECTION_STRING", HUB_CONNECTION)
    monkeypatch.setenv("NOTIFICATION_HUB_NAME", "first")
    monkeypatch.setenv("AUTH_MODE", "appservice")
    monkeypatch.setenv("NOTIFICATION_DEFAULT_ALERT", "first alert")
    before = (settings.hub_settings(), settings.notification_settings())
    monkeypatch.setenv("NOTIFICATION_HUB_NAME", "second")
    monkeypatch.setenv("NOTIFICATION_DEFAULT_ALERT", "second alert")
    monkeypatch.setenv("AUTH_MODE", "jwt")

    settings.clear_cache()

    assert settings.hub_settings().hub_name == "second"
    assert settings.notification_settings().default_alert == "second alert"
    assert before[0].hub_name == "first"
    with pytest.raises(ConfigurationError):
        settings.auth_settings()


@pytest.mark.usefixtures("clean_environment")
def test_cached_getter_does_not_cache_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as raised:
        settings.storage_settings()
    monkeypatch.setenv("PAYLOAD_STORAGE_CONNECTION_STRING", AZURITE_CONNECTION)

    loaded = settings.storage_settings()

    assert "AzureWebJobsStorage" in raised.value.message
    assert loaded.connection_string == AZURITE_CONNECTION


@pytest.mark.usefixtures("clean_environment")
def test_sections_load_independently(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", AZURITE_CONNECTION)

    storage = settings.storage_settings()

    assert storage.connection_string == AZURITE_CONNECTION
    with pytest.raises(ConfigurationError):
        settings.hub_settings()
