"""The payload store: notifications in Azure Table Storage, and the stores() entry.

The row layout (a notification row and an index row per notification, newest
first by RowKey) is described in shared.notifications.
"""

from __future__ import annotations

import builtins
import logging
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import (
    TableErrorCode,
    TableTransactionError,
    UpdateMode,
)

from shared.devices import DeviceStore
from shared.errors import ConflictError, InvalidRequestError, NotFoundError
from shared.idempotency import IdempotencyStore
from shared.notifications import (
    INDEX_PREFIX,
    NOT_FOUND_MESSAGE,
    ListQuery,
    Notification,
    decode_continuation,
    encode_continuation,
    from_index_row,
    from_row,
    index_key_of,
    new_notification_id,
    to_rows,
    validate_notification_id,
)
from shared.settings import StorageSettings, storage_settings
from shared.tables import (
    MAX_PROPERTY_UTF16_UNITS,
    TableStore,
    as_utc,
    check_entity_size,
    check_key,
    check_property_size,
    dump_json,
    purge_expired_rows,
    storage_errors,
    transaction_failed_with,
    utc_now,
)

__all__ = [
    "MAX_PAYLOAD_UTF16_UNITS",
    "NOT_FOUND_MESSAGE",
    "DeviceStore",
    "IdempotencyStore",
    "Notification",
    "NotificationStore",
    "Stores",
    "build_stores",
    "new_notification_id",
    "reset_stores",
    "stores",
    "validate_notification_id",
]

logger = logging.getLogger(__name__)

# The payload is one string property, so its JSON text is limited to what one
# property holds: 32,768 UTF-16 code units (64 KiB).
MAX_PAYLOAD_UTF16_UNITS = MAX_PROPERTY_UTF16_UNITS

MAX_PAGE_SIZE = 100
# list() fills a page from at most this many service responses, because Table
# Storage may return short or empty pages for a filtered query.
MAX_QUERIES_PER_PAGE = 5
# How often read() retries marking a notification read after a concurrent change.
MAX_MARK_READ_ATTEMPTS = 3


class NotificationStore(TableStore):
    """Notifications of every user in one table, partitioned by user key."""

    table_setting = "notifications_table"

    def new_id(self) -> str:
        """Generate a notification id; the same as new_notification_id()."""
        return new_notification_id()

    def create(
        self,
        user_key: str,
        payload: Any,
        *,
        sender: str,
        alert: str,
        ttl_seconds: int,
        read_once: bool,
        notification_id: str | None = None,
        now: datetime | None = None,
    ) -> Notification:
        """Store a new notification; an existing id raises ConflictError.

        The payload's size is checked before anything is written.
        """
        check_key(user_key, "user_key")
        notification_id = validate_notification_id(
            notification_id or new_notification_id()
        )
        if ttl_seconds < 1:
            raise InvalidRequestError(
                f"ttlSeconds must be at least 1, not {ttl_seconds}.", field="ttlSeconds"
            )
        created_at = as_utc(now) if now else utc_now()
        notification = Notification(
            id=notification_id,
            user_key=user_key,
            payload=payload,
            alert=alert,
            sender=sender,
            created_at=created_at,
            expires_at=created_at + timedelta(seconds=ttl_seconds),
            read_at=None,
            read_once=read_once,
            push_outcome=None,
            etag=None,
        )
        return self._insert(notification)

    def get(
        self, user_key: str, notification_id: str, *, now: datetime | None = None
    ) -> Notification:
        """Read one notification; missing or expired raises NotFoundError."""
        validate_notification_id(notification_id)
        check_key(user_key, "user_key")
        with storage_errors("notification read", self.table.table_name):
            try:
                entity = self.table.get_entity(user_key, notification_id)
            except ResourceNotFoundError:
                raise NotFoundError(NOT_FOUND_MESSAGE) from None
        notification = from_row(entity)
        if notification.expires_at <= (as_utc(now) if now else utc_now()):
            raise NotFoundError(NOT_FOUND_MESSAGE)
        return notification

    def read(
        self, user_key: str, notification_id: str, *, now: datetime | None = None
    ) -> Notification:
        """Return a notification to its recipient and record that it was read.

        A read-once notification is deleted, and of concurrent readers only the
        one whose delete succeeds gets it; the others get NotFoundError. Any
        other notification keeps the time of its first read.
        """
        read_at = as_utc(now) if now else utc_now()
        for _ in range(MAX_MARK_READ_ATTEMPTS):
            notification = self.get(user_key, notification_id, now=read_at)
            if notification.read_once:
                # A failed condition means the row changed (another reader, or
                # the sender storing its push outcome): read it again, so that
                # only a reader who finds the row gone gets NotFoundError.
                consumed = self._consume(notification, read_at)
                if consumed is not None:
                    return consumed
                continue
            if notification.read_at is not None:
                return notification
            marked = self._mark_read(notification, read_at)
            if marked is not None:
                return marked
        raise ConflictError(
            f"Notification {notification_id} changed during each of "
            f"{MAX_MARK_READ_ATTEMPTS} attempts to read it. Retry the request."
        )

    def list(
        self,
        user_key: str,
        *,
        unread_only: bool = False,
        page_size: int = 20,
        continuation: str | None = None,
        now: datetime | None = None,
    ) -> tuple[builtins.list[Notification], str | None]:
        """List a user's unexpired notifications newest first, without payloads.

        Returns one page and the token for the next page, or None after the
        last page. A page can be shorter than page_size even when more follow.
        """
        check_key(user_key, "user_key")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidRequestError(
                f"The page size must be between 1 and {MAX_PAGE_SIZE}, "
                f"not {page_size}.",
                field="pageSize",
            )
        query = ListQuery(user_key, unread_only, as_utc(now) if now else utc_now())
        token = decode_continuation(continuation, user_key) if continuation else None
        rows: builtins.list[dict[str, Any]] = []
        for _ in range(MAX_QUERIES_PER_PAGE):
            page, token = self._query_page(query, page_size - len(rows), token)
            rows.extend(page)
            if token is None or len(rows) >= page_size:
                break
        items = [from_index_row(user_key, row) for row in rows]
        return items, encode_continuation(token, user_key) if token else None

    def record_push_outcome(
        self, user_key: str, notification_id: str, outcome: dict[str, Any]
    ) -> None:
        """Merge the push outcome into the notification; NotFoundError if it is gone."""
        outcome_text = dump_json(outcome, "push outcome")
        check_property_size(outcome_text, "push outcome")
        index_key = self._index_key(user_key, notification_id)
        if index_key is None:
            raise NotFoundError(NOT_FOUND_MESSAGE)
        changes = {"PushOutcome": outcome_text}
        operations = [
            _merge(user_key, notification_id, changes),
            _merge(user_key, index_key, changes),
        ]
        if not self._submit(operations, "push outcome update"):
            raise NotFoundError(NOT_FOUND_MESSAGE)

    def delete(self, user_key: str, notification_id: str) -> None:
        """Delete a notification and its index row; one already gone is success."""
        index_key = self._index_key(user_key, notification_id)
        if index_key is None:
            return
        self._submit(
            [
                ("delete", _keys(user_key, notification_id)),
                ("delete", _keys(user_key, index_key)),
            ],
            "notification delete",
        )

    def purge_expired(self, *, now: datetime | None = None) -> int:
        """Delete every expired notification; returns how many were deleted.

        Deletes run in transactions of at most 100 rows of one partition. A
        notification that vanished meanwhile may still be counted.
        """
        cutoff = as_utc(now) if now else utc_now()
        deleted = purge_expired_rows(
            self.table, cutoff, lambda row_key: not row_key.startswith(INDEX_PREFIX)
        )
        logger.info(
            "Purged %d expired notifications from %s", deleted, self.table.table_name
        )
        return deleted

    def _insert(self, notification: Notification) -> Notification:
        payload_text = dump_json(notification.payload, "payload")
        check_property_size(payload_text, "payload")
        check_property_size(notification.alert, "alert")
        row, index_row = to_rows(notification, payload_text)
        check_entity_size(row, "payload")
        with storage_errors("notification create", self.table.table_name):
            try:
                results = self.table.submit_transaction(
                    [("create", row), ("create", index_row)]
                )
            except TableTransactionError as exc:
                if transaction_failed_with(exc, TableErrorCode.ENTITY_ALREADY_EXISTS):
                    raise ConflictError(
                        f"A notification with id {notification.id} already exists."
                    ) from exc
                raise
        logger.info("Stored notification %s", notification.id)
        return replace(notification, etag=results[0].get("etag"))

    def _consume(
        self, notification: Notification, read_at: datetime
    ) -> Notification | None:
        operations = [
            _conditional(
                "delete", _keys(notification.user_key, notification.id), notification
            ),
            ("delete", _keys(notification.user_key, index_key_of(notification))),
        ]
        if not self._submit(operations, "read-once delete"):
            return None
        logger.info("Consumed read-once notification %s", notification.id)
        return replace(notification, read_at=read_at, etag=None)

    def _mark_read(
        self, notification: Notification, read_at: datetime
    ) -> Notification | None:
        changes = {"ReadAt": read_at}
        index_changes = {"ReadAt": read_at, "IsRead": True}
        row = _keys(notification.user_key, notification.id) | changes
        index_row = (
            _keys(notification.user_key, index_key_of(notification)) | index_changes
        )
        operations = [
            _conditional("update", row, notification, mode=UpdateMode.MERGE),
            ("update", index_row, {"mode": UpdateMode.MERGE}),
        ]
        results = self._submit(operations, "notification read mark")
        if not results:
            return None
        return replace(notification, read_at=read_at, etag=results[0].get("etag"))

    def _submit(
        self, operations: builtins.list[Any], operation: str
    ) -> builtins.list[Any] | None:
        """Run a transaction; returns None if a row was missing or had changed."""
        with storage_errors(operation, self.table.table_name):
            try:
                return list(self.table.submit_transaction(operations))
            except TableTransactionError as exc:
                if transaction_failed_with(
                    exc,
                    TableErrorCode.RESOURCE_NOT_FOUND,
                    TableErrorCode.UPDATE_CONDITION_NOT_SATISFIED,
                ):
                    return None
                raise

    def _index_key(self, user_key: str, notification_id: str) -> str | None:
        validate_notification_id(notification_id)
        check_key(user_key, "user_key")
        with storage_errors("notification read", self.table.table_name):
            try:
                entity = self.table.get_entity(
                    user_key, notification_id, select=["IndexKey"]
                )
            except ResourceNotFoundError:
                return None
        return str(entity["IndexKey"])

    def _query_page(
        self, query: ListQuery, size: int, token: dict[str, str] | None
    ) -> tuple[builtins.list[dict[str, Any]], dict[str, str] | None]:
        with storage_errors("notification list", self.table.table_name):
            # The SDK's continuation token is a dict of the next PartitionKey and
            # RowKey, although the SDK annotates it as str.
            pages = self.table.query_entities(
                query.filter, parameters=query.parameters, results_per_page=size
            ).by_page(continuation_token=cast(Any, token))
            page = [dict(row) for row in next(pages, [])]
            next_token: dict[str, str] | None = getattr(
                pages, "continuation_token", None
            )
            return page, next_token


def _keys(partition_key: str, row_key: str) -> dict[str, Any]:
    return {"PartitionKey": partition_key, "RowKey": row_key}


def _merge(
    partition_key: str, row_key: str, changes: dict[str, Any]
) -> tuple[Any, ...]:
    return (
        "update",
        _keys(partition_key, row_key) | changes,
        {"mode": UpdateMode.MERGE},
    )


def _conditional(
    kind: str, entity: dict[str, Any], notification: Notification, **options: Any
) -> tuple[Any, ...]:
    """Build a transaction operation that applies only if the row is unchanged."""
    condition = {
        "etag": notification.etag,
        "match_condition": MatchConditions.IfNotModified,
    }
    return (kind, entity, options | condition)


@dataclass(frozen=True)
class Stores:
    """The process's stores, sharing one set of table clients."""

    notifications: NotificationStore
    devices: DeviceStore
    idempotency: IdempotencyStore


_stores: Stores | None = None
_stores_lock = threading.Lock()


def stores() -> Stores:
    """Return the process's stores, creating them and their tables on first use."""
    global _stores
    with _stores_lock:
        if _stores is None:
            _stores = build_stores(storage_settings())
        return _stores


def build_stores(settings: StorageSettings) -> Stores:
    """Create the stores for these settings and create any missing table."""
    built = Stores(
        notifications=NotificationStore.from_settings(settings),
        devices=DeviceStore.from_settings(settings),
        idempotency=IdempotencyStore.from_settings(settings),
    )
    built.notifications.create_table()
    built.devices.create_table()
    built.idempotency.create_table()
    return built


def reset_stores() -> None:
    """Forget the process's stores, so the next stores() reads the settings again."""
    global _stores
    with _stores_lock:
        _stores = None
