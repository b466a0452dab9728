"""Idempotency records for sends, so a repeated request pushes nothing new.

One entity per (sender, key): PartitionKey = the sender's user key, RowKey =
the SHA-256 of the Idempotency-Key header in hex, so the raw key is never
stored and any key is a valid RowKey. Records expire RECORD_TTL after the first
request and are removed by purge_expired().
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableEntity, UpdateMode

from shared.errors import ConflictError, InvalidRequestError, quoted
from shared.tables import (
    TableStore,
    as_utc,
    check_key,
    check_property_size,
    dump_json,
    purge_expired_rows,
    storage_errors,
    utc_now,
)

logger = logging.getLogger(__name__)

RECORD_TTL = timedelta(hours=24)
# A record's life: pending (reserved) -> stored (payload written, push under
# way) -> pushed or push_failed. A retry after push_failed moves it back to
# stored. Every move is conditional on the record's ETag, so of two requests
# racing for one record only one moves it.
STATE_PENDING = "pending"
STATE_STORED = "stored"
FINAL_STATES = ("pushed", "push_failed")
STATES = (STATE_PENDING, STATE_STORED, *FINAL_STATES)
# 1 to 255 printable ASCII characters, without spaces.
_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
# How often reserve() retries after a concurrent reserve or an expired record.
MAX_RESERVE_ATTEMPTS = 3


@dataclass(frozen=True)
class IdempotencyRecord:
    """A stored send: the request's body hash, its notification and its response.

    `is_new` is True only for the reserve() call that created the record.
    `response` is None until complete() stores it. `updated_at` is the time of
    the last move between states; `etag` guards the next move.
    """

    sender_key: str
    key_hash: str
    body_hash: str
    notification_id: str
    state: str
    response: dict[str, Any] | None
    created_at: datetime
    expires_at: datetime
    is_new: bool
    updated_at: datetime | None = None
    etag: str | None = None


def validate_idempotency_key(text: str) -> str:
    """Return the key unchanged if it is 1 to 255 printable ASCII characters."""
    if not isinstance(text, str) or not _KEY_PATTERN.fullmatch(text):
        raise InvalidRequestError(
            f"The Idempotency-Key header {quoted(text)} is invalid: use 1 to 255 "
            "printable ASCII characters without spaces (a repeated header counts "
            "as one value joined by a comma and a space).",
            field="Idempotency-Key",
        )
    return text


def hash_idempotency_key(idempotency_key: str) -> str:
    """Return the RowKey for an idempotency key: its SHA-256 in hex."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


class IdempotencyStore(TableStore):
    """Idempotency records of every sender, partitioned by sender user key."""

    table_setting = "idempotency_table"

    def reserve(
        self,
        sender_key: str,
        idempotency_key: str,
        body_hash: str,
        notification_id: str,
        *,
        now: datetime | None = None,
    ) -> IdempotencyRecord:
        """Create the record for a send, or return the one a repeat finds.

        Of concurrent reserves with one key exactly one returns is_new=True.
        Raises ConflictError if the key was used with another body hash.
        """
        check_key(sender_key, "sender_key")
        key_hash = hash_idempotency_key(validate_idempotency_key(idempotency_key))
        reserved_at = as_utc(now) if now else utc_now()
        record = IdempotencyRecord(
            sender_key=sender_key,
            key_hash=key_hash,
            body_hash=body_hash,
            notification_id=notification_id,
            state=STATE_PENDING,
            response=None,
            created_at=reserved_at,
            expires_at=reserved_at + RECORD_TTL,
            is_new=True,
            updated_at=reserved_at,
        )
        for _ in range(MAX_RESERVE_ATTEMPTS):
            etag = self._try_create(record)
            if etag is not None:
                return replace(record, etag=etag)
            stored = self._get(sender_key, key_hash)
            if stored is None or self._remove_if_expired(stored, reserved_at):
                continue
            return _check_same_body(_record(stored), body_hash)
        raise ConflictError(
            "The Idempotency-Key is being reserved by concurrent requests. Retry the "
            "request."
        )

    def complete(
        self, record: IdempotencyRecord, *, state: str, response: dict[str, Any]
    ) -> IdempotencyRecord | None:
        """Store a send's final state ("pushed" or "push_failed") and response.

        Returns None, changing nothing, if another request moved the record
        since `record` was read.
        """
        if state not in FINAL_STATES:
            raise ValueError(
                f"state must be one of {', '.join(FINAL_STATES)}, not {state!r}"
            )
        return self.advance(record, state=state, response=response)

    def advance(
        self,
        record: IdempotencyRecord,
        *,
        state: str,
        response: dict[str, Any] | None = None,
        now: datetime | None = None,
    ) -> IdempotencyRecord | None:
        """Move the record to `state` if no other request changed it since it was read.

        Returns the moved record with its new ETag, or None if another request
        moved or removed it first.
        """
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}, not {state!r}")
        moved_at = as_utc(now) if now else utc_now()
        changes: dict[str, Any] = {
            "PartitionKey": record.sender_key,
            "RowKey": record.key_hash,
            "State": state,
            "UpdatedAt": moved_at,
        }
        if response is not None:
            response_text = dump_json(response, "response")
            check_property_size(response_text, "response")
            changes["Response"] = response_text
        with storage_errors("idempotency record update", self.table.table_name):
            try:
                metadata = self.table.update_entity(
                    changes,
                    mode=UpdateMode.MERGE,
                    etag=record.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                return None
        return replace(
            record,
            state=state,
            response=response if response is not None else record.response,
            updated_at=moved_at,
            etag=metadata.get("etag"),
            is_new=False,
        )

    def abandon(self, record: IdempotencyRecord) -> None:
        """Delete a record whose request failed before its notification was stored.

        The next request with the key then starts anew instead of waiting for a
        record that will never be completed. A record already gone is fine.
        """
        with (
            storage_errors("idempotency record delete", self.table.table_name),
            suppress(ResourceNotFoundError),
        ):
            self.table.delete_entity(record.sender_key, record.key_hash)

    def purge_expired(self, *, now: datetime | None = None) -> int:
        """Delete every expired record; returns how many were deleted."""
        cutoff = as_utc(now) if now else utc_now()
        deleted = purge_expired_rows(self.table, cutoff, lambda row_key: True)
        logger.info(
            "Purged %d idempotency records from %s", deleted, self.table.table_name
        )
        return deleted

    def _try_create(self, record: IdempotencyRecord) -> str | None:
        """Create the record's row; return its ETag, or None if the key is taken."""
        entity = {
            "PartitionKey": record.sender_key,
            "RowKey": record.key_hash,
            "BodyHash": record.body_hash,
            "NotificationId": record.notification_id,
            "State": record.state,
            "CreatedAt": record.created_at,
            "ExpiresAt": record.expires_at,
            "UpdatedAt": record.updated_at,
        }
        with storage_errors("idempotency reserve", self.table.table_name):
            try:
                metadata = self.table.create_entity(entity)
            except ResourceExistsError:
                return None
        return str(metadata["etag"])

    def _get(self, sender_key: str, key_hash: str) -> TableEntity | None:
        with storage_errors("idempotency record read", self.table.table_name):
            try:
                return self.table.get_entity(sender_key, key_hash)
            except ResourceNotFoundError:
                return None

    def _remove_if_expired(self, entity: TableEntity, now: datetime) -> bool:
        """Delete a record that expired but was not purged yet; True if expired."""
        if as_utc(entity["ExpiresAt"]) > now:
            return False
        # Another request may have removed or replaced the record meanwhile:
        # either way the caller tries to create it again.
        with (
            storage_errors("idempotency record delete", self.table.table_name),
            suppress(ResourceModifiedError, ResourceNotFoundError),
        ):
            self.table.delete_entity(
                entity["PartitionKey"],
                entity["RowKey"],
                etag=entity.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        return True


def _check_same_body(record: IdempotencyRecord, body_hash: str) -> IdempotencyRecord:
    if record.body_hash != body_hash:
        raise ConflictError(
            "The Idempotency-Key was already used with a different request body. "
            "Use a new key for a new request."
        )
    return record


def _record(entity: TableEntity) -> IdempotencyRecord:
    response = entity.get("Response")
    return IdempotencyRecord(
        sender_key=str(entity["PartitionKey"]),
        key_hash=str(entity["RowKey"]),
        body_hash=str(entity["BodyHash"]),
        notification_id=str(entity["NotificationId"]),
        state=str(entity["State"]),
        response=json.loads(response) if response else None,
        created_at=as_utc(entity["CreatedAt"]),
        expires_at=as_utc(entity["ExpiresAt"]),
        is_new=False,
        updated_at=as_utc(entity.get("UpdatedAt") or entity["CreatedAt"]),
        etag=entity.metadata["etag"],
    )
