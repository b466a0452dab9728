"""The user key: the hashed user id used as PartitionKey, userId and tag."""

from __future__ import annotations

import re

import pytest

from shared.errors import InvalidRequestError
from shared.identity import USER_KEY_LENGTH, user_key

# Table Storage key rules: no / \ # ? and no control characters U+0000-U+001F
# or U+007F-U+009F.
FORBIDDEN_IN_PARTITION_KEY = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")
# Notification Hubs tag: up to 120 characters from this alphabet.
TAG = re.compile(r"[A-Za-z0-9_@#.:-]{1,120}")
# Installation userId: alphanumerics and - _ @ # . : =
INSTALLATION_USER_ID = re.compile(r"[A-Za-z0-9\-_@#.:=]+")

AWKWARD_USER_IDS = [
    pytest.param("alice", id="plain"),
    pytest.param("tenant|user", id="pipe"),
    pytest.param("tenant/user", id="slash"),
    pytest.param("a\\b", id="backslash"),
    pytest.param("user#1", id="hash"),
    pytest.param("who?", id="question-mark"),
    pytest.param("with space", id="space"),
    pytest.param("Zoë Ωμέγα 東京 🚀", id="non-ascii"),
    pytest.param("x" * 300, id="300-characters"),
    pytest.param("tab\tnul\x00del\x7f", id="control-characters"),
    pytest.param("\ud800", id="lone-surrogate"),
    pytest.param(" ", id="single-space"),
]


@pytest.mark.parametrize("user_id", AWKWARD_USER_IDS)
def test_key_valid_everywhere(user_id: str) -> None:
    key = user_key(user_id)

    assert len(key) == USER_KEY_LENGTH
    assert not FORBIDDEN_IN_PARTITION_KEY.search(key)
    assert TAG.fullmatch(f"user:{key}")
    assert INSTALLATION_USER_ID.fullmatch(key)


@pytest.mark.parametrize("user_id", AWKWARD_USER_IDS)
def test_key_deterministic(user_id: str) -> None:
    rebuilt = "".join(list(user_id))

    assert user_key(user_id) == user_key(rebuilt)


def test_keys_differ_between_ids() -> None:
    user_ids = [param.values[0] for param in AWKWARD_USER_IDS]
    user_ids += ["Alice", "alice ", "x" * 299, "tenant\\user"]

    keys = {user_key(user_id) for user_id in user_ids}

    assert len(keys) == len(user_ids)


def test_key_is_truncated_sha256() -> None:
    """Pinned, because stored rows and hub tags are addressed by this value."""
    assert user_key("alice") == "2bd806c97f0e00af1a1fc3328fa763a9"


def test_empty_user_id_rejected() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        user_key("")

    assert "empty" in caught.value.message
    assert caught.value.status == 400
