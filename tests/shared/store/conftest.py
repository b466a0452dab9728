"""Stores on fresh Azurite tables, one set per test."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.settings import StorageSettings
from shared.store import Stores, build_stores

# A fixed instant, so that expiry and ordering never depend on the wall clock.
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
USER = "user-key-alice"
OTHER_USER = "user-key-bob"
SENDER = "user-key-sender"


@pytest.fixture
def stores(storage_settings: StorageSettings) -> Stores:
    """Stores whose tables exist and are empty."""
    return build_stores(storage_settings)
