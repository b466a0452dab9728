"""Register and remove devices: ownership in Table Storage, installations in the hub.

The server, never the client, decides an installation's tags, `userId` and
template. Ownership is claimed in the store before the hub is touched, so an
installation id that belongs to another user is rejected with nothing changed
in either place.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from shared.errors import ForbiddenError, InvalidRequestError, quoted
from shared.identity import Principal
from shared.platforms import PushChannel, parse_platform, parse_push_channel
from shared.templates import TEMPLATE_NAME, template_for

logger = logging.getLogger(__name__)

DEVICE_FIELDS = {"platform", "pushChannel", "silent"}
# Fields of a Notification Hubs installation that only the server may set.
SERVER_FIELDS = {
    "tags",
    "userId",
    "templates",
    "installationId",
    "pushVariables",
    "expirationTime",
}


class DeviceOwners(Protocol):
    def claim(self, installation_id: str, user_key: str, platform: str) -> None: ...
    def owner(self, installation_id: str) -> str | None: ...
    def release(self, installation_id: str, user_key: str) -> None: ...


class Installations(Protocol):
    def create_or_update_installation(self, installation: dict[str, Any]) -> None: ...
    def delete_installation(self, installation_id: str) -> None: ...


@dataclass(frozen=True)
class DeviceRequest:
    """A checked RegisterDevice body."""

    platform: str
    channel: PushChannel
    silent: bool


def user_tag(user_key: str) -> str:
    """Return the hub tag that targets every device of one user."""
    return f"user:{user_key}"


def parse_device(body: dict[str, Any]) -> DeviceRequest:
    """Check a RegisterDevice body; client-chosen tags or templates are rejected."""
    for name in sorted(SERVER_FIELDS & set(body)):
        raise InvalidRequestError(
            f"Field '{name}' is not accepted: the server sets an installation's tags, "
            "user id and templates.",
            field=name,
        )
    unknown = sorted(set(body) - DEVICE_FIELDS)
    if unknown:
        raise InvalidRequestError(
            f"Field '{unknown[0]}' is not accepted. Accepted fields: platform, "
            "pushChannel, silent.",
            field=unknown[0],
        )
    platform = parse_platform(body.get("platform"))
    if "pushChannel" not in body:
        raise InvalidRequestError(
            "Field 'pushChannel' is missing.", field="pushChannel"
        )
    channel = parse_push_channel(platform, body["pushChannel"])
    return DeviceRequest(platform, channel, _parse_silent(body, platform))


def _parse_silent(body: dict[str, Any], platform: str) -> bool:
    silent = body.get("silent")
    if silent is None:
        return False
    if not isinstance(silent, bool):
        raise InvalidRequestError(
            f"Field 'silent' must be true or false, not {quoted(json.dumps(silent))}.",
            field="silent",
        )
    if silent and platform != "apns":
        raise InvalidRequestError(
            "Field 'silent' applies only to platform apns (background pushes).",
            field="silent",
        )
    return silent


def build_installation(
    installation_id: str, user_key: str, device: DeviceRequest
) -> dict[str, Any]:
    """Build the hub installation with the server's tag, user id and template."""
    return {
        "installationId": installation_id,
        "platform": device.platform,
        "pushChannel": device.channel.value,
        "userId": user_key,
        "tags": [user_tag(user_key)],
        "templates": {
            TEMPLATE_NAME: template_for(device.platform, silent=device.silent)
        },
    }


def register_device(
    principal: Principal,
    installation_id: str,
    device: DeviceRequest,
    *,
    owners: DeviceOwners,
    hub: Installations,
) -> dict[str, Any]:
    """Claim the installation id for the caller, then create or replace it in the hub.

    A repeated call with the same body is idempotent. Another user's id raises
    ForbiddenError from `owners.claim` before the hub is called.
    """
    owners.claim(installation_id, principal.user_key, device.platform)
    hub.create_or_update_installation(
        build_installation(installation_id, principal.user_key, device)
    )
    return {
        "installationId": installation_id,
        "platform": device.platform,
        "silent": device.silent,
        "pushChannelHint": device.channel.hint,
        "tags": [user_tag(principal.user_key)],
        "template": TEMPLATE_NAME,
    }


def unregister_device(
    principal: Principal,
    installation_id: str,
    *,
    owners: DeviceOwners,
    hub: Installations,
) -> bool:
    """Remove the caller's installation from the hub, then its ownership record.

    Returns False when no one owns the id (nothing to delete). Another user's
    id raises ForbiddenError before the hub is called.
    """
    owner = owners.owner(installation_id)
    if owner is None:
        return False
    if owner != principal.user_key:
        raise ForbiddenError(f"Installation {installation_id} belongs to another user.")
    hub.delete_installation(installation_id)
    owners.release(installation_id, principal.user_key)
    return True
