"""The recipient's view: one notification with its payload, or a page of them.

Reading one notification is the only way to get a payload. The list shows
metadata only, so listing never counts as a read or consumes a read-once
notification.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.errors import InvalidRequestError, quoted

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class ListQuery:
    """The checked query string of GET /api/notifications."""

    unread_only: bool
    page_size: int
    continuation: str | None


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def notification_view(notification: Any, *, include_payload: bool) -> dict[str, Any]:
    """Describe a stored notification for its recipient."""
    view: dict[str, Any] = {
        "id": notification.id,
        "alert": notification.alert,
        "createdAt": _iso(notification.created_at),
        "expiresAt": _iso(notification.expires_at),
        "readAt": _iso(notification.read_at),
        "readOnce": notification.read_once,
    }
    if include_payload:
        view["payload"] = notification.payload
    return view


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    """Check `unread`, `pageSize` and `continuationToken`; other names are ignored."""
    return ListQuery(
        unread_only=_parse_flag(params.get("unread"), "unread"),
        page_size=_parse_page_size(params.get("pageSize")),
        continuation=params.get("continuationToken") or None,
    )


def _parse_flag(value: str | None, name: str) -> bool:
    if value is None or value == "":
        return False
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidRequestError(
        f"Query parameter '{name}' must be true or false, not {quoted(value)}.",
        field=name,
    )


def _parse_page_size(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_PAGE_SIZE
    # isascii() first: isdigit() also accepts digits such as "²" that int() rejects.
    if value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_PAGE_SIZE:
        return int(value)
    raise InvalidRequestError(
        f"Query parameter 'pageSize' must be a whole number from 1 to {MAX_PAGE_SIZE}, "
        f"not {quoted(value)}.",
        field="pageSize",
    )
