"""Table Storage plumbing shared by the stores: clients, error translation, limits.

Every `azure.core` error that a store call can raise is translated here, in
`storage_errors`, into the classes of `shared.errors`. The messages name the
operation and the table, never an entity's contents or the connection string.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import TableClient, TableErrorCode, TableTransactionError

from shared.errors import (
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    UpstreamPermanentError,
    UpstreamTransientError,
)
from shared.settings import StorageSettings

logger = logging.getLogger(__name__)
# azure-core's HTTP logging policy writes every request's URL and headers at
# INFO, hundreds of lines per minute under load, which buries the app's own
# lines in Application Insights. Its warnings still get through.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(
    logging.WARNING
)

# Table Storage limits a string property to 64 KiB of UTF-16 and an entity to
# 1 MiB. Azurite 3.37.0 rejects a longer property but accepts a 2.5 MB entity,
# so the entity check is ours. Both run before any write.
MAX_PROPERTY_UTF16_UNITS = 32_768
MAX_ENTITY_BYTES = 1024 * 1024

# A transaction (entity group transaction) contains at most 100 operations.
MAX_TRANSACTION_OPERATIONS = 100

# Client options: a few quick retries, so that unreachable storage fails well
# inside a function's time budget. The defaults of azure-data-tables 12.7.0 on
# azure-core 1.41.0 are 10 retries, exponential backoff from 0.8 s, and 300 s
# connection and read timeouts.
CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 3,
    "retry_backoff_factor": 0.4,
    "retry_backoff_max": 4,
    "connection_timeout": 5,
    "read_timeout": 20,
}

# Characters that Table Storage rejects in a PartitionKey or RowKey.
_FORBIDDEN_KEY_CHARACTERS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")
MAX_KEY_LENGTH = 512


def create_table_client(settings: StorageSettings, table_name: str) -> TableClient:
    """Create a client for one table from a connection string or an account URL.

    With an account URL the client authenticates with DefaultAzureCredential,
    imported only then so that connection-string deployments do not load it.
    """
    if settings.connection_string:
        return TableClient.from_connection_string(
            settings.connection_string, table_name=table_name, **CLIENT_OPTIONS
        )
    if not settings.account_url:
        raise ValueError("StorageSettings needs a connection string or an account URL")
    # NOTE: this branch needs a real account and Entra ID, so no test runs it.
    from azure.identity import DefaultAzureCredential

    return TableClient(
        endpoint=settings.account_url,
        table_name=table_name,
        credential=DefaultAzureCredential(),
        **CLIENT_OPTIONS,
    )


def create_table_if_missing(client: TableClient) -> None:
    """Create the client's table; a table that already exists is success."""
    with storage_errors("create table", client.table_name):
        try:
            client.create_table()
            logger.info("Created table %s", client.table_name)
        except ResourceExistsError:
            return


class TableStore:
    """A store over one table; subclasses name their table's setting.

    `table_setting` is the StorageSettings field that contains the table name.
    """

    table_setting: ClassVar[str]

    def __init__(self, table: TableClient) -> None:
        self.table = table

    @classmethod
    def from_settings(cls, settings: StorageSettings) -> Self:
        """Create a store for the table that `settings` names."""
        table_name = getattr(settings, cls.table_setting)
        return cls(create_table_client(settings, table_name))

    def create_table(self) -> None:
        """Create the table if it does not exist yet."""
        create_table_if_missing(self.table)


@contextmanager
def storage_errors(operation: str, table_name: str) -> Iterator[None]:
    """Translate Table Storage errors raised inside the block into shared.errors.

    Callers catch the typed azure.core errors they expect (for example
    ResourceNotFoundError on a read) inside the block, before this translation.
    """
    try:
        yield
    except (ResourceExistsError, ResourceModifiedError) as exc:
        raise ConflictError(
            f"Table Storage rejected the {operation} on table {table_name}: "
            "the entity exists or changed meanwhile. Retry the request."
        ) from exc
    except ResourceNotFoundError as exc:
        raise NotFoundError(
            f"Table Storage found no entity or table for the {operation} on "
            f"table {table_name}."
        ) from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise _unreachable(operation, table_name) from exc
    except HttpResponseError as exc:
        raise _from_response(exc, operation, table_name) from exc


def _unreachable(operation: str, table_name: str) -> UpstreamTransientError:
    logger.warning("Table Storage unreachable during %s on %s", operation, table_name)
    return UpstreamTransientError(
        f"Table Storage could not be reached for the {operation} on table "
        f"{table_name}. Retry later."
    )


def _from_response(
    exc: HttpResponseError, operation: str, table_name: str
) -> UpstreamTransientError | UpstreamPermanentError:
    status = exc.status_code or 0
    code = getattr(exc, "error_code", None) or "no error code"
    logger.warning(
        "Table Storage failed the %s on %s: status %d, %s",
        operation,
        table_name,
        status,
        code,
    )
    if status >= 500 or status == 429:
        return UpstreamTransientError(
            f"Table Storage is unavailable for the {operation} on table "
            f"{table_name} (status {status}, {code}). Retry later."
        )
    return UpstreamPermanentError(
        f"Table Storage rejected the {operation} on table {table_name} "
        f"(status {status}, {code})."
    )


def purge_expired_rows(
    table: TableClient, cutoff: datetime, counted: Callable[[str], bool]
) -> int:
    """Delete every row whose ExpiresAt is at or before the cutoff.

    Deletes run in transactions of at most 100 rows of one partition. Returns
    how many deleted rows have a RowKey for which `counted` is true.
    """
    deleted = 0
    with storage_errors("expired row query", table.table_name):
        pages = table.query_entities(
            "ExpiresAt le @cutoff",
            parameters={"cutoff": cutoff},
            select=["PartitionKey", "RowKey"],
            results_per_page=1000,
        ).by_page()
        for page in pages:
            keys = [(str(row["PartitionKey"]), str(row["RowKey"])) for row in page]
            _delete_in_transactions(table, keys)
            deleted += sum(1 for _, row_key in keys if counted(row_key))
    return deleted


def _delete_in_transactions(table: TableClient, keys: list[tuple[str, str]]) -> None:
    by_partition: dict[str, list[str]] = {}
    for partition_key, row_key in keys:
        by_partition.setdefault(partition_key, []).append(row_key)
    for partition_key, row_keys in by_partition.items():
        for start in range(0, len(row_keys), MAX_TRANSACTION_OPERATIONS):
            chunk = row_keys[start : start + MAX_TRANSACTION_OPERATIONS]
            _delete_chunk(table, partition_key, chunk)


def _delete_chunk(table: TableClient, partition_key: str, row_keys: list[str]) -> None:
    operations = [
        ("delete", {"PartitionKey": partition_key, "RowKey": row_key})
        for row_key in row_keys
    ]
    with storage_errors("expired row delete", table.table_name):
        try:
            table.submit_transaction(operations)
            return
        except TableTransactionError as exc:
            if not transaction_failed_with(exc, TableErrorCode.RESOURCE_NOT_FOUND):
                raise
        # A row vanished meanwhile (consumed or deleted), which fails the whole
        # transaction, so delete the rest one by one: delete_entity passes on
        # a missing row.
        for row_key in row_keys:
            table.delete_entity(partition_key, row_key)


def transaction_failed_with(exc: TableTransactionError, *codes: TableErrorCode) -> bool:
    """Return whether a failed transaction failed with one of the given codes."""
    return getattr(exc, "error_code", None) in codes


def check_key(value: str, name: str) -> str:
    """Check that a server-built value is usable as a PartitionKey or RowKey.

    Raises ValueError because a bad key here is a programming error, not a
    caller's mistake: request values are validated before they become keys.
    """
    if not value or len(value) > MAX_KEY_LENGTH:
        raise ValueError(f"{name} must have 1 to {MAX_KEY_LENGTH} characters")
    if _FORBIDDEN_KEY_CHARACTERS.search(value):
        raise ValueError(f"{name} contains a character Table Storage rejects in keys")
    return value


def utf16_units(text: str) -> int:
    """Count the UTF-16 code units of a string: 2 for a character above U+FFFF."""
    return len(text.encode("utf-16-le")) // 2


def dump_json(value: Any, what: str) -> str:
    """Serialise a JSON value compactly, with non-ASCII characters kept as is."""
    try:
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"The {what} is not a JSON value: {exc}") from exc


def check_property_size(text: str, what: str) -> None:
    """Raise PayloadTooLargeError if a string does not fit in one property."""
    size = utf16_units(text)
    if size > MAX_PROPERTY_UTF16_UNITS:
        raise PayloadTooLargeError(
            f"The {what} is {size} UTF-16 code units long, more than the limit of "
            f"{MAX_PROPERTY_UTF16_UNITS}. Send a smaller {what}.",
            field=what,
        )


def check_entity_size(entity: dict[str, Any], what: str) -> None:
    """Raise PayloadTooLargeError if the entity exceeds Table Storage's 1 MiB."""
    size = entity_size(entity)
    if size > MAX_ENTITY_BYTES:
        raise PayloadTooLargeError(
            f"The {what} would take {size} bytes in Table Storage, more than the "
            f"entity limit of {MAX_ENTITY_BYTES}. Send a smaller {what}.",
            field=what,
        )


def entity_size(entity: dict[str, Any]) -> int:
    """Estimate an entity's size in bytes as Table Storage counts it.

    The estimate is 4 bytes, plus the keys in UTF-16, plus per property 8 bytes,
    its name in UTF-16 and its value. Numbers count 8 bytes, which rounds up.
    """
    keys = str(entity["PartitionKey"]) + str(entity["RowKey"])
    size = 4 + 2 * utf16_units(keys)
    for name, value in entity.items():
        if name in ("PartitionKey", "RowKey"):
            continue
        size += 8 + 2 * utf16_units(name) + _value_size(value)
    return size


def _value_size(value: Any) -> int:
    if isinstance(value, str):
        return 4 + 2 * utf16_units(value)
    if isinstance(value, bytes):
        return 4 + len(value)
    if isinstance(value, bool):
        return 1
    return 8


def utc_now() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Convert an aware datetime, including the SDK's subclass, to a plain UTC one.

    Raises ValueError for a naive datetime, whose meaning would depend on the
    host's time zone.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("Datetimes must be timezone-aware; pass one in UTC")
    utc = value.astimezone(UTC)
    return datetime(
        utc.year,
        utc.month,
        utc.day,
        utc.hour,
        utc.minute,
        utc.second,
        utc.microsecond,
        tzinfo=UTC,
    )
