"""The template expression language of the hub stand-in."""

from __future__ import annotations

import json

import pytest

from devstack.hubstandin import templates

PROPERTIES = {
    "Message": 'He said "hi" <now> & left',
    "badge": "40",
    "price": "-1.5e3",
    "code": "007",
    "first": "Ann",
    "last": "Lee",
    "long": "abcdefghij",
    "url": "a b/c?d=é",
}


def render_json(template: object) -> object:
    return json.loads(templates.render(json.dumps(template), "json", PROPERTIES))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            "$(message)", PROPERTIES["Message"], id="property-case-insensitive"
        ),
        pytest.param("$(missing)", "", id="missing-is-empty"),
        pytest.param("$(long, 3)", "abc", id="clip"),
        pytest.param("$(long,20)", "abcdefghij", id="clip-longer-than-value"),
        pytest.param(".(long, 6)", "abc...", id="ellipsis"),
        pytest.param(".(long, 10)", "abcdefghij", id="ellipsis-fits"),
        pytest.param(".(long, 2)", "..", id="ellipsis-tiny"),
        pytest.param("%(url)", "a%20b%2Fc%3Fd%3D%C3%A9", id="uri-encode"),
        pytest.param("#(badge)", 40, id="number-bare"),
        pytest.param("#(price)", -1500.0, id="number-exponent"),
        pytest.param("#(code)", "007", id="leading-zero-stays-string"),
        pytest.param("#(first)", "Ann", id="number-of-text-stays-string"),
        pytest.param("#(missing)", "", id="number-missing"),
        pytest.param("{#(badge) + ''}", "40", id="number-in-braces-is-string"),
        pytest.param("n=#(badge)", "n=40", id="number-inside-text-is-string"),
        pytest.param("{$(first) + ' ' + $(last)}", "Ann Lee", id="concatenation"),
        pytest.param('{"x" + $(first)}', "xAnn", id="double-quoted-literal"),
        pytest.param("{'only'}", "only", id="literal-alone"),
        pytest.param("Hi $(first)!", "Hi Ann!", id="mixed-text"),
        pytest.param(
            "e.g.(this) {not an expression}",
            "e.g.(this) {not an expression}",
            id="prose-kept",
        ),
    ],
)
def test_template_json_value(value: str, expected: object) -> None:
    assert render_json({"aps": {"alert": value}}) == {"aps": {"alert": expected}}


def test_template_json_escapes_values() -> None:
    rendered = templates.render('{"a":"$(message)"}', "json", PROPERTIES)
    assert json.loads(rendered) == {"a": PROPERTIES["Message"]}
    assert '\\"hi\\"' in rendered


def test_template_json_keys_untouched() -> None:
    assert render_json({"$(first)": ["$(last)", 1, None]}) == {
        "$(first)": ["Lee", 1, None]
    }


def test_template_xml_escapes_values() -> None:
    body = (
        '<toast><visual><text id="1" hint="$(first)">$(message)</text></visual></toast>'
    )
    rendered = templates.render(body, "xml", PROPERTIES)
    assert rendered == (
        '<toast><visual><text id="1" hint="Ann">'
        "He said &quot;hi&quot; &lt;now&gt; &amp; left</text></visual></toast>"
    )


def test_template_text_is_not_escaped() -> None:
    rendered = templates.render("id=$(message)", "text", PROPERTIES)
    assert rendered == 'id=He said "hi" <now> & left'


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        pytest.param('{"a":"$(x"}', "json", id="unclosed-call"),
        pytest.param('{"a":"#(x, 2)"}', "json", id="number-with-length"),
        pytest.param('{"a":"%(x, 2)"}', "json", id="uri-with-length"),
        pytest.param('{"a":"$()"}', "json", id="empty-name"),
        pytest.param("{nope", "json", id="invalid-json"),
        pytest.param("<a>$(x)</b>", "xml", id="invalid-xml"),
    ],
)
def test_template_check_rejects(body: str, kind: str) -> None:
    with pytest.raises(templates.TemplateError):
        templates.check(body, kind)
