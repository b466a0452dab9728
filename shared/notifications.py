"""The notification data model and its two Table Storage rows.

Each notification is two entities in the recipient's partition (PartitionKey =
user key), written and removed together in one transaction:

- the notification row, RowKey = the notification id, contains the payload;
- an index row, RowKey = "idx-" + inverted creation time + "-" + id, contains
  everything except the payload. Table Storage returns a partition in
  ascending RowKey order, so the index rows come back newest first, and a
  listing pages through them without ever reading a payload.

Ids are 32 lowercase hex digits, so no notification RowKey starts with "i" and
the two kinds of rows never mix in a RowKey range.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import InvalidRequestError, quoted
from shared.tables import as_utc

# The same text for a missing, expired or someone else's notification, so that
# a caller cannot tell which of the three it was.
NOT_FOUND_MESSAGE = "No notification with this id exists for the caller."

MAX_CONTINUATION_CHARS = 2048
OWNER_FIELD = "Owner"

_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
INDEX_PREFIX = "idx-"
# RowKey bounds of the index rows: "." sorts right after "-".
_INDEX_LOW, _INDEX_HIGH = "idx-", "idx."
# Microseconds from 1970 to 10000-01-01, the largest a datetime reaches.
_MAX_MICROSECONDS = 253_402_300_800 * 1_000_000


@dataclass(frozen=True)
class Notification:
    """A stored notification. `payload` is None in list() results."""

    id: str
    user_key: str
    payload: Any
    alert: str
    sender: str
    created_at: datetime
    expires_at: datetime
    read_at: datetime | None
    read_once: bool
    push_outcome: dict[str, Any] | None
    etag: str | None


def new_notification_id() -> str:
    """Generate a notification id: 128 random bits as 32 lowercase hex digits."""
    return secrets.token_bytes(16).hex()


def validate_notification_id(text: str) -> str:
    """Return the id unchanged if it is 32 lowercase hex digits, else raise."""
    if not isinstance(text, str) or not _ID_PATTERN.fullmatch(text):
        raise InvalidRequestError(
            f"The notification id {quoted(text)} is invalid: expected 32 lowercase "
            "hexadecimal characters.",
            field="id",
        )
    return text


class ListQuery:
    """The OData filter of list(), with its values passed as parameters."""

    def __init__(self, user_key: str, unread_only: bool, now: datetime) -> None:
        self.filter = (
            "PartitionKey eq @user and RowKey ge @low and RowKey lt @high"
            " and ExpiresAt gt @now"
        )
        self.parameters: dict[str, Any] = {
            "user": user_key,
            "low": _INDEX_LOW,
            "high": _INDEX_HIGH,
            "now": now,
        }
        if unread_only:
            self.filter += " and IsRead eq @unread"
            self.parameters["unread"] = False


def encode_continuation(token: dict[str, str], owner: str) -> str:
    """Wrap the SDK's continuation token and its owner's user key into a string.

    The SDK's keys are opaque encodings, so the owner is stored beside them:
    another user's token is then rejected instead of giving an empty page.
    """
    text = json.dumps({**token, OWNER_FIELD: owner}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_continuation(text: str, owner: str) -> dict[str, str]:
    """Unwrap a token from encode_continuation; InvalidRequestError if malformed."""
    error = InvalidRequestError(
        "The continuation token is invalid. Pass the token from the previous page "
        "unchanged, or omit it to start from the first page.",
        field="continuationToken",
    )
    if not isinstance(text, str) or not 0 < len(text) <= MAX_CONTINUATION_CHARS:
        raise error
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        token = json.loads(decoded.decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise error from None
    if not isinstance(token, dict) or token.pop(OWNER_FIELD, None) != owner:
        raise error
    if not _is_sdk_token(token):
        raise error
    return dict(token)


def _is_sdk_token(token: object) -> bool:
    if not isinstance(token, dict) or not token:
        return False
    if not set(token) <= {"PartitionKey", "RowKey"}:
        return False
    return all(isinstance(value, str) for value in token.values())


def to_rows(
    notification: Notification, payload_text: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    index_key = index_key_of(notification)
    common = {
        "PartitionKey": notification.user_key,
        "Alert": notification.alert,
        "Sender": notification.sender,
        "CreatedAt": notification.created_at,
        "ExpiresAt": notification.expires_at,
        "ReadOnce": notification.read_once,
    }
    row = common | {
        "RowKey": notification.id,
        "Payload": payload_text,
        "IndexKey": index_key,
    }
    index_row = common | {
        "RowKey": index_key,
        "NotificationId": notification.id,
        "IsRead": False,
    }
    return row, index_row


def index_key_of(notification: Notification) -> str:
    created = notification.created_at - datetime(1970, 1, 1, tzinfo=UTC)
    micros = created // timedelta(microseconds=1)
    return f"{INDEX_PREFIX}{_MAX_MICROSECONDS - micros:019d}-{notification.id}"


def from_row(entity: Any) -> Notification:
    return _notification(
        str(entity["PartitionKey"]),
        str(entity["RowKey"]),
        entity,
        payload=json.loads(entity["Payload"]),
        etag=entity.metadata.get("etag"),
    )


def from_index_row(user_key: str, row: dict[str, Any]) -> Notification:
    return _notification(
        user_key, str(row["NotificationId"]), row, payload=None, etag=None
    )


def _notification(
    user_key: str, notification_id: str, row: Any, *, payload: Any, etag: str | None
) -> Notification:
    read_at = row.get("ReadAt")
    outcome = row.get("PushOutcome")
    return Notification(
        id=notification_id,
        user_key=user_key,
        payload=payload,
        alert=str(row["Alert"]),
        sender=str(row["Sender"]),
        created_at=as_utc(row["CreatedAt"]),
        expires_at=as_utc(row["ExpiresAt"]),
        read_at=as_utc(read_at) if read_at is not None else None,
        read_once=bool(row["ReadOnce"]),
        push_outcome=json.loads(outcome) if outcome else None,
        etag=etag,
    )
