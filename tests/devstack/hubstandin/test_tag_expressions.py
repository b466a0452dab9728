"""Tag expression parsing, limits and evaluation in the hub stand-in."""

from __future__ import annotations

import pytest

from devstack.hubstandin import tags

TARGET = tags.target_tags(
    "inst-1", "user-1", ["news", "sports", "loc:Boston", "a_b@c#d.e-f"]
)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param("news", True, id="single-present"),
        pytest.param("weather", False, id="single-absent"),
        pytest.param("news&&sports", True, id="and-both"),
        pytest.param("news && weather", False, id="and-one-missing"),
        pytest.param("weather || sports", True, id="or-one"),
        pytest.param("weather||rain", False, id="or-none"),
        pytest.param("!weather", True, id="not-absent"),
        pytest.param("!news", False, id="not-present"),
        pytest.param("!!news", True, id="double-not"),
        pytest.param("(weather || news) && loc:Boston", True, id="group-and"),
        pytest.param("weather || news && rain", False, id="and-binds-tighter"),
        pytest.param("(weather || news) && !sports", False, id="group-and-not"),
        pytest.param("  ( news )  ", True, id="whitespace"),
        pytest.param("a_b@c#d.e-f", True, id="full-alphabet"),
        pytest.param("$InstallationId:{inst-1}", True, id="installation-id"),
        pytest.param("$InstallationId:{inst-2}", False, id="other-installation"),
        pytest.param("$UserId:{user-1} && news", True, id="user-id"),
        pytest.param("$userid:{user-1}", True, id="system-tag-any-case"),
        pytest.param("$UserId:{user-2}", False, id="other-user"),
        pytest.param("News", False, id="case-sensitive-tag"),
    ],
)
def test_tag_expression_evaluates(expression: str, expected: bool) -> None:
    assert tags.evaluate(tags.parse(expression), TARGET) is expected


@pytest.mark.parametrize(
    ("expression", "detail"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("   ", "empty", id="blank"),
        pytest.param("a &&", "ends where a tag", id="dangling-and"),
        pytest.param("|| a", "'||' where a tag", id="leading-or"),
        pytest.param("a b", "unexpected 'b'", id="missing-operator"),
        pytest.param("(a || b", "unclosed", id="unclosed-group"),
        pytest.param("a)", "unexpected ')'", id="extra-close"),
        pytest.param("a & b", "Invalid character '&'", id="single-ampersand"),
        pytest.param("a | b", "Invalid character '|'", id="single-bar"),
        pytest.param("tag with/slash", "Invalid character '/'", id="slash"),
        pytest.param("$Device:{x}", "Unknown system tag", id="unknown-system-tag"),
        pytest.param("$UserId:x", "Invalid character '$'", id="system-tag-no-braces"),
        pytest.param("x" * 121, "longer than 120", id="tag-121-chars"),
    ],
)
def test_tag_expression_rejects_syntax(expression: str, detail: str) -> None:
    with pytest.raises(tags.TagExpressionError) as caught:
        tags.parse(expression)
    assert detail in str(caught.value)


def joined(operator: str, count: int) -> str:
    return f" {operator} ".join(f"t{i}" for i in range(count))


@pytest.mark.parametrize(
    ("expression", "allowed"),
    [
        pytest.param(joined("||", 20), True, id="20-or-tags"),
        pytest.param(joined("||", 21), False, id="21-or-tags"),
        pytest.param(joined("&&", 6), True, id="6-and-tags"),
        pytest.param(joined("&&", 7), False, id="7-and-tags"),
        pytest.param(f"({joined('||', 5)}) && x", True, id="6-mixed-tags"),
        pytest.param(f"({joined('||', 6)}) && x", False, id="7-mixed-tags"),
        pytest.param(f"!({joined('||', 7)})", False, id="7-tags-with-not"),
        pytest.param(f"!({joined('||', 6)})", True, id="6-tags-with-not"),
        pytest.param("x" * 120, True, id="tag-120-chars"),
    ],
)
def test_tag_expression_limits(expression: str, allowed: bool) -> None:
    if allowed:
        tags.parse(expression)
    else:
        with pytest.raises(tags.TagExpressionError, match="may name at most"):
            tags.parse(expression)
