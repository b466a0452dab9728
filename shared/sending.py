"""Send a notification: store the payload, then push only its id.

The payload is written to Table Storage before the hub is called, and a failed
push never removes it: the result reports what happened and carries the id, so
the sender can retry with the same Idempotency-Key. A repeat with the same key
and body returns the first result once the push went through, and pushes again
only if the earlier push failed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import (
    ConflictError,
    HubPermanentError,
    InvalidRequestError,
    NotFoundError,
    RequestInProgressError,
    SecurePushError,
    UpstreamError,
    UpstreamTransientError,
    quoted,
)
from shared.idempotency import STATE_PENDING, STATE_STORED, validate_idempotency_key
from shared.identity import Principal, require_sender, user_key
from shared.registration import user_tag
from shared.settings import NotificationSettings
from shared.tables import check_property_size, dump_json
from shared.templates import MAX_ALERT_LENGTH, template_properties

logger = logging.getLogger(__name__)

SEND_FIELDS = {"recipient", "payload", "alert", "ttlSeconds", "readOnce"}
MAX_RECIPIENT_LENGTH = 1024
# A record still "pending" this long after it was made belongs to a request
# that died mid-way. A repeat then pushes again instead of waiting.
PENDING_GRACE = timedelta(minutes=2)
# Seconds a sender is asked to wait when a repeat finds the first request running.
IN_PROGRESS_RETRY_AFTER = 2
# Seconds a sender is asked to wait after a 429 that named no delay.
DEFAULT_RETRY_AFTER = 10


@dataclass(frozen=True)
class SendRequest:
    """A checked SendNotification body."""

    recipient: str
    payload: Any
    alert: str
    ttl_seconds: int
    read_once: bool


@dataclass(frozen=True)
class SendResult:
    """The SendNotification response: a status, a JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def parse_send(body: dict[str, Any], settings: NotificationSettings) -> SendRequest:
    """Check a SendNotification body against the contract and the settings."""
    unknown = sorted(set(body) - SEND_FIELDS)
    if unknown:
        raise InvalidRequestError(
            f"Field '{unknown[0]}' is not accepted. Accepted fields: "
            f"{', '.join(sorted(SEND_FIELDS))}.",
            field=unknown[0],
        )
    if "payload" not in body:
        raise InvalidRequestError("Field 'payload' is missing.", field="payload")
    if body["payload"] is None:
        raise InvalidRequestError("Field 'payload' must not be null.", field="payload")
    # Checked here as well as in the store, so that an oversize payload is a 413
    # before an idempotency record is reserved for it.
    check_property_size(dump_json(body["payload"], "payload"), "payload")
    return SendRequest(
        recipient=_parse_recipient(body.get("recipient")),
        payload=body["payload"],
        alert=_parse_alert(body.get("alert"), settings.default_alert),
        ttl_seconds=_parse_ttl(body.get("ttlSeconds"), settings),
        read_once=_parse_bool(body.get("readOnce"), "readOnce"),
    )


def _parse_recipient(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        shown = "missing" if value is None else f"not {_json_text(value)}"
        raise InvalidRequestError(
            "Field 'recipient' must be the recipient's user id as a non-empty "
            f"string; it is {shown}.",
            field="recipient",
        )
    if len(value) > MAX_RECIPIENT_LENGTH:
        raise InvalidRequestError(
            f"Field 'recipient' is {len(value)} characters; the limit is "
            f"{MAX_RECIPIENT_LENGTH}.",
            field="recipient",
        )
    if _has_control_characters(value):
        raise InvalidRequestError(
            f"Field 'recipient' contains a control character: {quoted(value)}.",
            field="recipient",
        )
    return value


def _parse_alert(value: Any, default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestError(
            f"Field 'alert' must be a non-empty string, not {_json_text(value)}.",
            field="alert",
        )
    if len(value) > MAX_ALERT_LENGTH:
        raise InvalidRequestError(
            f"Field 'alert' is {len(value)} characters; the limit is "
            f"{MAX_ALERT_LENGTH}. It is shown on the lock screen, so keep it generic.",
            field="alert",
        )
    if _has_control_characters(value):
        raise InvalidRequestError(
            f"Field 'alert' contains a control character: {quoted(value)}.",
            field="alert",
        )
    return value


def _parse_ttl(value: Any, settings: NotificationSettings) -> int:
    if value is None:
        return settings.default_ttl_seconds
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequestError(
            f"Field 'ttlSeconds' must be a whole number of seconds, not "
            f"{_json_text(value)}.",
            field="ttlSeconds",
        )
    if not 60 <= value <= settings.max_ttl_seconds:
        raise InvalidRequestError(
            f"Field 'ttlSeconds' must be between 60 and {settings.max_ttl_seconds}, "
            f"not {value}.",
            field="ttlSeconds",
        )
    return value


def _parse_bool(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidRequestError(
            f"Field '{name}' must be true or false, not {_json_text(value)}.",
            field=name,
        )
    return value


def _json_text(value: Any) -> str:
    """Show a client's JSON value in a message, shortened like other values."""
    return quoted(json.dumps(value, ensure_ascii=False))


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in text)


def body_hash(body: dict[str, Any]) -> str:
    """Hash a request body so that key order and spacing do not matter."""
    canonical = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Sender:
    """Store-then-push with idempotency, over the process-wide stores and hub client."""

    def __init__(self, stores: Any, hub: Any, settings: NotificationSettings) -> None:
        self.notifications = stores.notifications
        self.idempotency = stores.idempotency
        self.hub = hub
        self.settings = settings

    def send(
        self, principal: Principal, body: dict[str, Any], idempotency_key: str | None
    ) -> SendResult:
        """Run one SendNotification request and return the response to give."""
        require_sender(principal)
        request = parse_send(body, self.settings)
        recipient_key = user_key(request.recipient)
        if idempotency_key is None:
            notification = self._store(principal, request, recipient_key, None)
            return self._push(notification, record=None)
        validate_idempotency_key(idempotency_key)
        return self._send_once(principal, request, recipient_key, body, idempotency_key)

    def _send_once(
        self,
        principal: Principal,
        request: SendRequest,
        recipient_key: str,
        body: dict[str, Any],
        idempotency_key: str,
    ) -> SendResult:
        notification_id = self.notifications.new_id()
        record = self.idempotency.reserve(
            principal.user_key, idempotency_key, body_hash(body), notification_id
        )
        if not record.is_new:
            return self._repeat(principal, request, recipient_key, record)
        notification = self._store_reserved(principal, request, recipient_key, record)
        stored = self.idempotency.advance(record, state=STATE_STORED)
        if stored is None:
            raise _in_progress()
        return self._push(notification, record=stored)

    def _repeat(
        self,
        principal: Principal,
        request: SendRequest,
        recipient_key: str,
        record: Any,
    ) -> SendResult:
        """Handle a repeat of a key: replay, wait, or take over a failed send."""
        if record.state == "pushed" and record.response:
            first = record.response
            return SendResult(first["status"], first["body"], first.get("headers", {}))
        if record.state in (STATE_PENDING, STATE_STORED) and not self._stale(record):
            raise _in_progress()
        # The earlier push failed, or its request died: take the record over.
        try:
            notification = self.notifications.get(recipient_key, record.notification_id)
        except NotFoundError:
            if record.state != STATE_PENDING:
                raise ConflictError(
                    "The notification of this Idempotency-Key was already read or has "
                    "expired. Send it again with a new key."
                ) from None
            notification = None
        claimed = self.idempotency.advance(record, state=STATE_STORED)
        if claimed is None:
            raise _in_progress()
        if notification is None:
            # NOTE: "pending" with no notification means the first request died
            # before storing it, or within the moment between storing it and
            # moving the record on. Only in that second, rare case could a
            # read-once payload that was already read be stored again.
            notification = self._store(
                principal, request, recipient_key, record.notification_id
            )
        return self._push(notification, record=claimed)

    def _stale(self, record: Any) -> bool:
        moved_at = record.updated_at or record.created_at
        return bool(datetime.now(UTC) - moved_at > PENDING_GRACE)

    def _store_reserved(
        self,
        principal: Principal,
        request: SendRequest,
        recipient_key: str,
        record: Any,
    ) -> Any:
        """Store under a new reservation; on failure, drop it so a retry starts anew."""
        try:
            return self._store(
                principal, request, recipient_key, record.notification_id
            )
        except SecurePushError:
            try:
                self.idempotency.abandon(record)
            except SecurePushError as exc:
                logger.warning(
                    "could not drop idempotency record notification=%s: %s",
                    record.notification_id,
                    exc.message,
                )
            raise

    def _store(
        self,
        principal: Principal,
        request: SendRequest,
        recipient_key: str,
        notification_id: str | None,
    ) -> Any:
        return self.notifications.create(
            recipient_key,
            request.payload,
            sender=principal.user_key,
            alert=request.alert,
            ttl_seconds=request.ttl_seconds,
            read_once=request.read_once,
            notification_id=notification_id,
        )

    def _push(self, notification: Any, *, record: Any) -> SendResult:
        properties = template_properties(notification.id, notification.alert)
        try:
            sent = self.hub.send_template(properties, user_tag(notification.user_key))
        except UpstreamError as exc:
            return self._push_failed(notification, record, exc)
        outcome = {
            "status": "sent",
            "trackingId": sent.tracking_id,
            "hubNotificationId": sent.notification_id,
            "attempts": sent.attempts,
        }
        self._record_outcome(notification, outcome)
        result = SendResult(201, self._body(notification, outcome))
        if record is not None:
            self._complete(record, "pushed", {"status": 201, "body": result.body})
        return result

    def _record_outcome(self, notification: Any, outcome: dict[str, Any]) -> None:
        """Store the push outcome; failing to is logged, not raised.

        The push has happened by now, so an error here must not turn the response
        into a failure that invites the sender to push again. A read-once
        notification may also be consumed already, which is no error at all.
        """
        try:
            self.notifications.record_push_outcome(
                notification.user_key, notification.id, outcome
            )
        except NotFoundError:
            logger.info(
                "notification=%s was read before its push outcome was stored",
                notification.id,
            )
        except UpstreamError as exc:
            logger.warning(
                "push outcome not stored notification=%s: %s",
                notification.id,
                exc.message,
            )

    def _complete(self, record: Any, state: str, response: dict[str, Any]) -> None:
        """Store the response for repeats of the key; failing to is logged."""
        try:
            completed = self.idempotency.complete(
                record, state=state, response=response
            )
        except UpstreamError as exc:
            logger.warning(
                "idempotency record not completed notification=%s: %s",
                record.notification_id,
                exc.message,
            )
            return
        if completed is None:
            logger.warning(
                "idempotency record of notification=%s was taken over meanwhile",
                record.notification_id,
            )

    def _push_failed(
        self, notification: Any, record: Any, exc: UpstreamError
    ) -> SendResult:
        transient = isinstance(exc, UpstreamTransientError)
        hub_status = getattr(exc, "hub_status", None)
        outcome: dict[str, Any] = {
            "status": "failed",
            "retryable": transient,
            "hubStatus": hub_status,
        }
        logger.warning(
            "push failed notification=%s hub_status=%s retryable=%s: %s",
            notification.id,
            hub_status,
            transient,
            exc.message,
        )
        self._record_outcome(notification, outcome)
        body = self._body(notification, outcome)
        body["error"] = _push_error(exc, transient, has_key=record is not None)
        headers = {"x-ms-error-code": body["error"]["code"]}
        retry_after = (
            exc.retry_after if isinstance(exc, UpstreamTransientError) else None
        )
        # Throttling gets 503 with Retry-After. Any other failure gets 502.
        status = 502
        if retry_after is not None or (transient and hub_status == 429):
            status = 503
            delay = retry_after if retry_after is not None else DEFAULT_RETRY_AFTER
            headers["Retry-After"] = str(max(1, math.ceil(delay)))
        if record is not None:
            response = {"status": status, "body": body, "headers": headers}
            self._complete(record, "push_failed", response)
        return SendResult(status, body, headers)

    def _body(self, notification: Any, outcome: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": notification.id,
            "expiresAt": _iso(notification.expires_at),
            "readOnce": notification.read_once,
            "push": outcome,
        }


def _in_progress() -> RequestInProgressError:
    return RequestInProgressError(
        "A request with this Idempotency-Key is still being processed. "
        "Retry after the Retry-After delay.",
        retry_after=IN_PROGRESS_RETRY_AFTER,
    )


def _push_error(
    exc: UpstreamError, transient: bool, *, has_key: bool
) -> dict[str, str]:
    if transient:
        code, what = (
            "PushThrottledOrUnavailable",
            "Notification Hubs is busy or unreachable",
        )
    elif isinstance(exc, HubPermanentError):
        code, what = (
            "PushRejected",
            f"Notification Hubs rejected the push ({exc.hub_status})",
        )
    else:
        code, what = "PushRejected", "the push failed"
    if has_key:
        advice = "Retry with the same Idempotency-Key to push it again."
    else:
        advice = (
            "A retry without an Idempotency-Key stores and pushes a second "
            "notification; send one to make retries safe."
        )
    return {"code": code, "message": f"The payload is stored, but {what}. {advice}"}
