"""Typed settings read once from the environment.

Azure Functions exposes Application settings (and, locally, the `Values` of
`local.settings.json`) as environment variables. Each concept has its own
section, loaded on first use, so a function that never pushes does not fail
because the hub settings are missing. A bad section raises ConfigurationError
naming every bad setting at once.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from shared.errors import ConfigurationError

WHERE_TO_SET = (
    "Set them in the function app's Application settings, "
    "or under Values in local.settings.json when running locally."
)

# Table Storage table names: a letter, then letters or digits, 3 to 63 in all.
TABLE_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")


class _Reader:
    """Read settings from a mapping and collect every problem before raising."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or default

    def required(self, name: str, why: str) -> str:
        value = self.text(name)
        if value is None:
            self.problems.append(f"{name} is missing ({why})")
            return ""
        return value

    def integer(self, name: str, default: int, minimum: int, maximum: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problems.append(f"{name} must be a whole number, not {raw!r}")
            return default
        if not minimum <= value <= maximum:
            self.problems.append(
                f"{name} must be between {minimum} and {maximum}, not {value}"
            )
            return default
        return value

    def number(
        self, name: str, default: float, minimum: float, maximum: float
    ) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            self.problems.append(f"{name} must be a number, not {raw!r}")
            return default
        if not minimum <= value <= maximum:
            self.problems.append(
                f"{name} must be between {minimum:g} and {maximum:g}, not {value:g}"
            )
            return default
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self.text(name) or default).lower()
        if value not in choices:
            self.problems.append(
                f"{name} must be one of {', '.join(choices)}, not {value!r}"
            )
            return default
        return value

    def table_name(self, name: str, default: str) -> str:
        value = self.text(name, default) or default
        if not TABLE_NAME_PATTERN.fullmatch(value):
            self.problems.append(
                f"{name} must be a Table Storage table name (a letter, then letters "
                f"or digits, 3 to 63 characters), not {value!r}"
            )
        return value

    def finish(self, section: str) -> None:
        if self.problems:
            listed = "; ".join(self.problems)
            raise ConfigurationError(
                f"Invalid {section} settings: {listed}. {WHERE_TO_SET}"
            )


@dataclass(frozen=True)
class StorageSettings:
    """Location of notification payloads, device owners and idempotency records.

    Exactly one of `connection_string` and `account_url` is set; with
    `account_url` the store authenticates with DefaultAzureCredential.
    """

    connection_string: str | None
    account_url: str | None
    notifications_table: str
    devices_table: str
    idempotency_table: str


@dataclass(frozen=True)
class HubSettings:
    """The Notification Hub to push through and the limits of each push."""

    connection_string: str
    hub_name: str
    retry_budget_seconds: float
    max_attempts: int
    connect_timeout_seconds: float
    read_timeout_seconds: float


@dataclass(frozen=True)
class AuthSettings:
    """Caller authentication and the role or scope that senders need."""

    mode: str
    issuer: str
    audience: str
    jwks_url: str | None
    algorithms: tuple[str, ...]
    user_claim: str
    sender_role: str
    clock_skew_seconds: int
    jwks_min_refetch_seconds: float


@dataclass(frozen=True)
class NotificationSettings:
    """Defaults and bounds for what senders may ask for."""

    default_alert: str
    default_ttl_seconds: int
    max_ttl_seconds: int


def load_storage_settings(environ: Mapping[str, str]) -> StorageSettings:
    """Read the storage section; a dedicated setting wins over AzureWebJobsStorage."""
    reader = _Reader(environ)
    connection_string = reader.text("PAYLOAD_STORAGE_CONNECTION_STRING")
    account_url = reader.text("PAYLOAD_STORAGE_ACCOUNT_URL")
    if connection_string and account_url:
        reader.problems.append(
            "PAYLOAD_STORAGE_CONNECTION_STRING and PAYLOAD_STORAGE_ACCOUNT_URL "
            "are both set; keep one"
        )
    if not connection_string and not account_url:
        connection_string = reader.text("AzureWebJobsStorage")
    if not connection_string and not account_url:
        reader.problems.append(
            "PAYLOAD_STORAGE_CONNECTION_STRING, PAYLOAD_STORAGE_ACCOUNT_URL and "
            "AzureWebJobsStorage are all missing (one is needed to store payloads)"
        )
    if account_url and not account_url.startswith("https://"):
        reader.problems.append("PAYLOAD_STORAGE_ACCOUNT_URL must start with https://")
    settings = StorageSettings(
        connection_string=connection_string,
        account_url=account_url,
        notifications_table=reader.table_name(
            "NOTIFICATIONS_TABLE", "SecurePushNotifications"
        ),
        devices_table=reader.table_name("DEVICES_TABLE", "SecurePushDevices"),
        idempotency_table=reader.table_name(
            "IDEMPOTENCY_TABLE", "SecurePushIdempotency"
        ),
    )
    reader.finish("storage")
    return settings


def load_hub_settings(environ: Mapping[str, str]) -> HubSettings:
    """Read the Notification Hubs section."""
    reader = _Reader(environ)
    settings = HubSettings(
        connection_string=reader.required(
            "NOTIFICATION_HUB_CONNECTION_STRING", "the hub's Send-and-Listen policy"
        ),
        hub_name=reader.required(
            "NOTIFICATION_HUB_NAME", "the hub inside the namespace"
        ),
        retry_budget_seconds=reader.number(
            "HUB_RETRY_BUDGET_SECONDS", 20.0, 0.0, 120.0
        ),
        max_attempts=reader.integer("HUB_MAX_ATTEMPTS", 4, 1, 10),
        connect_timeout_seconds=reader.number(
            "HUB_CONNECT_TIMEOUT_SECONDS", 5.0, 0.1, 60.0
        ),
        read_timeout_seconds=reader.number(
            "HUB_READ_TIMEOUT_SECONDS", 15.0, 0.1, 120.0
        ),
    )
    reader.finish("Notification Hubs")
    return settings


def load_auth_settings(environ: Mapping[str, str]) -> AuthSettings:
    """Read the identity section; the issuer and audience are needed only for JWTs."""
    reader = _Reader(environ)
    mode = reader.choice("AUTH_MODE", "jwt", ("jwt", "appservice"))
    jwt_mode = mode == "jwt"
    issuer = reader.text("AUTH_ISSUER", "") or ""
    audience = reader.text("AUTH_AUDIENCE", "") or ""
    if jwt_mode and not issuer:
        reader.problems.append(
            "AUTH_ISSUER is missing (the token issuer, the iss claim)"
        )
    if jwt_mode and not audience:
        reader.problems.append(
            "AUTH_AUDIENCE is missing (this app's id, the aud claim)"
        )
    algorithms = tuple(
        part.strip()
        for part in (reader.text("AUTH_ALGORITHMS", "RS256") or "RS256").split(",")
        if part.strip()
    )
    allowed = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"}
    unknown = [name for name in algorithms if name not in allowed]
    if unknown or not algorithms:
        reader.problems.append(
            f"AUTH_ALGORITHMS must list asymmetric algorithms from "
            f"{', '.join(sorted(allowed))}, not {', '.join(unknown) or 'nothing'}"
        )
    settings = AuthSettings(
        mode=mode,
        issuer=issuer,
        audience=audience,
        jwks_url=reader.text("AUTH_JWKS_URL"),
        algorithms=algorithms,
        user_claim=reader.text("AUTH_USER_CLAIM", "sub") or "sub",
        sender_role=reader.text("AUTH_SENDER_ROLE", "SecurePush.Send")
        or "SecurePush.Send",
        clock_skew_seconds=reader.integer("AUTH_CLOCK_SKEW_SECONDS", 60, 0, 300),
        jwks_min_refetch_seconds=reader.number(
            "AUTH_JWKS_MIN_REFETCH_SECONDS", 60.0, 0.0, 86400.0
        ),
    )
    reader.finish("authentication")
    return settings


def load_notification_settings(environ: Mapping[str, str]) -> NotificationSettings:
    """Read the defaults for sends."""
    reader = _Reader(environ)
    max_ttl = reader.integer(
        "NOTIFICATION_MAX_TTL_SECONDS", 30 * 86400, 60, 365 * 86400
    )
    settings = NotificationSettings(
        default_alert=reader.text(
            "NOTIFICATION_DEFAULT_ALERT", "You have a new message."
        )
        or "",
        # A maximum below seven days also lowers the default, which must not exceed it.
        default_ttl_seconds=reader.integer(
            "NOTIFICATION_DEFAULT_TTL_SECONDS", min(7 * 86400, max_ttl), 60, max_ttl
        ),
        max_ttl_seconds=max_ttl,
    )
    reader.finish("notification")
    return settings


@functools.cache
def storage_settings() -> StorageSettings:
    """Return the process's storage settings, read from the environment once."""
    return load_storage_settings(os.environ)


@functools.cache
def hub_settings() -> HubSettings:
    """Return the process's hub settings, read from the environment once."""
    return load_hub_settings(os.environ)


@functools.cache
def auth_settings() -> AuthSettings:
    """Return the process's identity settings, read from the environment once."""
    return load_auth_settings(os.environ)


@functools.cache
def notification_settings() -> NotificationSettings:
    """Return the process's send defaults, read from the environment once."""
    return load_notification_settings(os.environ)


def clear_cache() -> None:
    """Forget every loaded section, so the next use reads the environment again."""
    for loader in (
        storage_settings,
        hub_settings,
        auth_settings,
        notification_settings,
    ):
        loader.cache_clear()
