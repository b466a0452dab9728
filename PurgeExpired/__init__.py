"""PurgeExpired: a timer that deletes expired notifications and idempotency records.

Expired notifications are already unreadable (every read checks the expiry);
this only reclaims their storage, because Table Storage has no TTL.
"""

import logging

import azure.functions as func

from shared.store import stores

logger = logging.getLogger(__name__)


def main(timer: func.TimerRequest) -> None:
    all_stores = stores()
    notifications = all_stores.notifications.purge_expired()
    records = all_stores.idempotency.purge_expired()
    logger.info(
        "operation=PurgeExpired notifications=%d idempotency_records=%d past_due=%s",
        notifications,
        records,
        timer.past_due,
    )
