"""Device ownership: which user owns each Notification Hubs installation id.

One entity per installation: PartitionKey = installation id, RowKey = "owner".
The first user to claim an id owns it until they release it, so nobody can
take over or delete another user's installation.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableEntity, UpdateMode

from shared.errors import (
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    quoted,
)
from shared.tables import (
    TableStore,
    as_utc,
    check_key,
    storage_errors,
    utc_now,
)

logger = logging.getLogger(__name__)

# A letter or digit, then up to 63 letters, digits, "_", "." or "-". The rule
# keeps ids free of the characters Table Storage rejects in keys (/ \ # ?) and
# safe as one URL path segment: no "." or ".." segment, nothing to escape.
_INSTALLATION_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_OWNER_ROW = "owner"
# How often claim() and release() retry after a concurrent claim or release.
MAX_OWNERSHIP_ATTEMPTS = 3


@dataclass(frozen=True)
class Device:
    """An installation id and the user who owns it."""

    installation_id: str
    user_key: str
    platform: str
    created_at: datetime
    updated_at: datetime


def validate_installation_id(text: str) -> str:
    """Return the installation id unchanged if it follows the rule, else raise."""
    if not isinstance(text, str) or not _INSTALLATION_ID_PATTERN.fullmatch(text):
        raise InvalidRequestError(
            f"The installation id {quoted(text)} is invalid: use 1 to 64 letters, "
            "digits, '_', '.' or '-', starting with a letter or digit.",
            field="installationId",
        )
    return text


class DeviceStore(TableStore):
    """Owners of installation ids, one partition per installation."""

    table_setting = "devices_table"

    def claim(
        self,
        installation_id: str,
        user_key: str,
        platform: str,
        *,
        now: datetime | None = None,
    ) -> None:
        """Record that the user owns the installation id.

        Claiming one's own id again updates its platform. Raises ForbiddenError
        if another user owns it.
        """
        validate_installation_id(installation_id)
        check_key(user_key, "user_key")
        claimed_at = as_utc(now) if now else utc_now()
        for _ in range(MAX_OWNERSHIP_ATTEMPTS):
            if self._try_create(installation_id, user_key, platform, claimed_at):
                return
            entity = self._get(installation_id)
            if entity is None:
                continue
            self._check_owner(entity, installation_id, user_key)
            if self._try_refresh(entity, platform, claimed_at):
                return
        raise _busy(installation_id)

    def owner(self, installation_id: str) -> str | None:
        """Return the user key owning the installation id, or None if unclaimed."""
        validate_installation_id(installation_id)
        entity = self._get(installation_id)
        return None if entity is None else str(entity["UserKey"])

    def release(self, installation_id: str, user_key: str) -> None:
        """Give up the user's ownership; an unclaimed id is success.

        Raises ForbiddenError if another user owns the id.
        """
        validate_installation_id(installation_id)
        check_key(user_key, "user_key")
        for _ in range(MAX_OWNERSHIP_ATTEMPTS):
            entity = self._get(installation_id)
            if entity is None:
                return
            self._check_owner(entity, installation_id, user_key)
            if self._try_delete(entity):
                logger.info("Released installation %s", installation_id)
                return
        raise _busy(installation_id)

    def list_for_user(self, user_key: str) -> list[Device]:
        """List the user's devices, ordered by installation id.

        NOTE: this query filters on a property across partitions, so Table
        Storage scans the table; fine for thousands of devices, slow for millions.
        """
        check_key(user_key, "user_key")
        with storage_errors("device list", self.table.table_name):
            rows = list(
                self.table.query_entities(
                    "UserKey eq @user", parameters={"user": user_key}
                )
            )
        devices = [_device(row) for row in rows]
        return sorted(devices, key=lambda device: device.installation_id)

    def _try_create(
        self, installation_id: str, user_key: str, platform: str, claimed_at: datetime
    ) -> bool:
        entity = {
            "PartitionKey": installation_id,
            "RowKey": _OWNER_ROW,
            "UserKey": user_key,
            "Platform": platform,
            "CreatedAt": claimed_at,
            "UpdatedAt": claimed_at,
        }
        with storage_errors("device claim", self.table.table_name):
            try:
                self.table.create_entity(entity)
            except ResourceExistsError:
                return False
        logger.info("Claimed installation %s", installation_id)
        return True

    def _try_refresh(
        self, entity: TableEntity, platform: str, claimed_at: datetime
    ) -> bool:
        changes = {
            "PartitionKey": entity["PartitionKey"],
            "RowKey": _OWNER_ROW,
            "Platform": platform,
            "UpdatedAt": claimed_at,
        }
        with storage_errors("device claim", self.table.table_name):
            try:
                self.table.update_entity(
                    changes,
                    mode=UpdateMode.MERGE,
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                return False
        return True

    def _try_delete(self, entity: TableEntity) -> bool:
        with storage_errors("device release", self.table.table_name):
            try:
                self.table.delete_entity(
                    entity["PartitionKey"],
                    _OWNER_ROW,
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceNotFoundError:
                return True
            except ResourceModifiedError:
                return False
        return True

    def _get(self, installation_id: str) -> TableEntity | None:
        with storage_errors("device read", self.table.table_name):
            try:
                return self.table.get_entity(installation_id, _OWNER_ROW)
            except ResourceNotFoundError:
                return None

    @staticmethod
    def _check_owner(entity: TableEntity, installation_id: str, user_key: str) -> None:
        if entity["UserKey"] != user_key:
            raise ForbiddenError(
                f"Installation {installation_id} belongs to another user."
            )


def _device(row: TableEntity) -> Device:
    return Device(
        installation_id=str(row["PartitionKey"]),
        user_key=str(row["UserKey"]),
        platform=str(row["Platform"]),
        created_at=as_utc(row["CreatedAt"]),
        updated_at=as_utc(row["UpdatedAt"]),
    )


def _busy(installation_id: str) -> ConflictError:
    return ConflictError(
        f"Installation {installation_id} changed during each of "
        f"{MAX_OWNERSHIP_ATTEMPTS} attempts to update its owner. Retry the request."
    )
