"""Tag and tag-expression validation."""

from __future__ import annotations

import pytest

from shared.errors import InvalidRequestError
from shared.hubtags import validate_tag, validate_tag_expression


def ored(count: int) -> str:
    return " || ".join(f"tag{index}" for index in range(count))


def anded(count: int) -> str:
    return "&&".join(f"tag{index}" for index in range(count))


@pytest.mark.parametrize(
    "tag",
    [
        pytest.param("a", id="one-char"),
        pytest.param("x" * 120, id="120-chars"),
        pytest.param("user:4f2a_b-c.d@e#f", id="every-allowed-symbol"),
        pytest.param("ABCxyz0123456789", id="letters-digits"),
    ],
)
def test_tag_valid(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        pytest.param("", "is invalid", id="empty"),
        pytest.param("x" * 121, "121 characters", id="121-chars"),
        pytest.param("has space", "is invalid", id="space"),
        pytest.param("a/b", "is invalid", id="slash"),
        pytest.param("$InstallationId:{abc}", "is invalid", id="system-tag"),
        pytest.param("ünïcode", "is invalid", id="non-ascii"),
        pytest.param("a&&b", "is invalid", id="operator"),
    ],
)
def test_tag_invalid(tag: str, expected: str) -> None:
    with pytest.raises(InvalidRequestError, match=expected) as caught:
        validate_tag(tag)

    assert caught.value.field == "tags"


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param("user:abc", id="single-tag"),
        pytest.param(ored(20), id="20-ored"),
        pytest.param(anded(6), id="6-anded"),
        pytest.param("(a || b) && !c", id="parentheses-and-not"),
        pytest.param("((a))", id="nested-parentheses"),
        pytest.param("a&&!b", id="no-spaces"),
        pytest.param("!!a", id="double-not"),
        pytest.param("$InstallationId:{3f1c-9a}", id="installation-system-tag"),
        pytest.param("secureTemplate && $UserId:{u@x.org}", id="user-system-tag"),
        pytest.param("  a || b  ", id="surrounding-space"),
    ],
)
def test_expression_valid(expression: str) -> None:
    assert validate_tag_expression(expression) == expression.strip()


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("   \t\n", "empty", id="whitespace-only"),
        pytest.param(ored(21), "21 tags", id="21-ored"),
        pytest.param(anded(7), "7 tags", id="7-anded"),
        pytest.param(ored(6) + " || !x", "7 tags", id="7-with-not"),
        pytest.param("a || b/c", "is invalid", id="bad-character"),
        pytest.param("x" * 121, "121 characters", id="121-char-tag"),
        pytest.param("(a || b", "unbalanced", id="missing-close"),
        pytest.param("a || b)", "unbalanced", id="extra-close"),
        pytest.param(")a(", "missing before", id="reversed-parentheses"),
        pytest.param("a && ", "ends where a tag", id="trailing-operator"),
        pytest.param("|| a", "missing before", id="leading-operator"),
        pytest.param("a b", "unexpected 'b'", id="missing-operator"),
        pytest.param("a & b", "use && instead", id="single-ampersand"),
        pytest.param("a | b", "use || instead", id="single-bar"),
        pytest.param("()", "missing before", id="empty-parentheses"),
        pytest.param("$UserId:abc", "system tag", id="system-tag-without-braces"),
        pytest.param("$UserId:{a b}", "system tag", id="space-in-system-tag"),
        pytest.param("$Tags:{x}", "system tag", id="unknown-system-tag"),
    ],
)
def test_expression_invalid(expression: str, expected: str) -> None:
    with pytest.raises(InvalidRequestError, match=expected):
        validate_tag_expression(expression)
