"""Validation of Notification Hubs tags and tag expressions.

Notification Hubs rules, as its routing documentation states them: a tag has
1 to 120 characters from letters, digits and `_ @ # . : -`. An expression combines tags
with `&&`, `||`, `!` and parentheses, and may contain at most 20 tags when it
uses only `||`, or at most 6 tags when it uses `&&` or `!`. The system tags
`$InstallationId:{id}` and `$UserId:{id}` are valid in expressions only.
"""

from __future__ import annotations

import re

from shared.errors import InvalidRequestError

MAX_TAG_LENGTH = 120
MAX_TAGS_OR_ONLY = 20
MAX_TAGS_WITH_AND_OR_NOT = 6

TAG_PATTERN = re.compile(r"[A-Za-z0-9_@#.:-]{1,120}")
# NOTE: the characters the service allows inside the braces of a system tag
# are not documented; this accepts the documented userId alphabet plus `=`.
SYSTEM_TAG_PATTERN = re.compile(r"\$(?:InstallationId|UserId):\{[A-Za-z0-9_@#.:=-]+\}")
# One token of an expression: an operator, a parenthesis, a system tag, or a
# run of anything else up to the next operator, parenthesis or space.
TOKEN_PATTERN = re.compile(
    r"\s*(&&|\|\||!|\(|\)|\$(?:InstallationId|UserId):\{[^{}]*\}|[^\s&|!()]+|[&|])"
)
OPERATORS = ("&&", "||")


def validate_tag(tag: str) -> str:
    """Validate a tag that an installation will carry and return it unchanged.

    Raises InvalidRequestError for an empty tag, a tag over 120 characters or
    one with a character outside letters, digits and `_ @ # . : -`.
    """
    if len(tag) > MAX_TAG_LENGTH:
        raise InvalidRequestError(
            f"Tag {_preview(tag)} has {len(tag)} characters; the maximum is "
            f"{MAX_TAG_LENGTH}.",
            field="tags",
        )
    if not TAG_PATTERN.fullmatch(tag):
        raise InvalidRequestError(
            f"Tag {_preview(tag)} is invalid: use 1 to {MAX_TAG_LENGTH} letters, "
            "digits or the characters _ @ # . : -",
            field="tags",
        )
    return tag


def validate_tag_expression(expression: str) -> str:
    """Validate a send's tag expression and return it without outer whitespace.

    Raises InvalidRequestError for an empty expression (a send without one
    would reach every device of the hub), a bad tag, a misplaced operator,
    unbalanced parentheses, or more tags than the service allows.
    """
    stripped = expression.strip()
    if not stripped:
        raise InvalidRequestError(
            "The tag expression is empty; a send without one would reach every "
            "device of the hub, so name the tags to send to.",
            field="tag_expression",
        )
    tokens = _tokenize(stripped)
    _ExpressionChecker(tokens).check()
    _check_tag_count(tokens)
    return stripped


def _tokenize(expression: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(expression):
        match = TOKEN_PATTERN.match(expression, position)
        if match is None:  # only trailing whitespace is left
            break
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def _is_tag(token: str) -> bool:
    return token not in ("&&", "||", "!", "(", ")", "&", "|")


def _check_tag(token: str) -> None:
    if token in ("&", "|"):
        raise _invalid_expression(f"use {token * 2} instead of a single {token}")
    if token.startswith("$"):
        if not SYSTEM_TAG_PATTERN.fullmatch(token):
            raise _invalid_expression(
                f"{_preview(token)} is not a valid $InstallationId:{{id}} or "
                "$UserId:{id} system tag"
            )
        return
    validate_tag(token)


def _check_tag_count(tokens: list[str]) -> None:
    count = sum(1 for token in tokens if _is_tag(token))
    strict = "&&" in tokens or "!" in tokens
    limit = MAX_TAGS_WITH_AND_OR_NOT if strict else MAX_TAGS_OR_ONLY
    if count > limit:
        kind = "with && or !" if strict else "joined only by ||"
        raise _invalid_expression(
            f"it has {count} tags, but an expression {kind} may have at most {limit}"
        )


class _ExpressionChecker:
    """Recursive-descent checker of `expr := term (op term)*` and
    `term := !term | (expr) | tag`.

    Operator precedence does not matter for validity, so the grammar ignores it.
    """

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.position = 0

    def check(self) -> None:
        self._expression()
        if self.position < len(self.tokens):
            token = self.tokens[self.position]
            if token in ("&", "|"):
                _check_tag(token)  # raises with the operator that was meant
            problem = (
                "unbalanced parentheses" if token == ")" else f"unexpected {token!r}"
            )
            raise _invalid_expression(problem)

    def _expression(self) -> None:
        self._term()
        while self._peek() in OPERATORS:
            self.position += 1
            self._term()

    def _term(self) -> None:
        token = self._peek()
        self.position += 1
        if token is None:
            raise _invalid_expression("it ends where a tag was expected")
        if token == "!":
            self._term()
        elif token == "(":
            self._expression()
            if self._peek() != ")":
                raise _invalid_expression("unbalanced parentheses")
            self.position += 1
        elif token in ("&&", "||", ")"):
            raise _invalid_expression(f"a tag is missing before {token!r}")
        else:
            _check_tag(token)

    def _peek(self) -> str | None:
        if self.position < len(self.tokens):
            return self.tokens[self.position]
        return None


def _invalid_expression(problem: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"The tag expression is invalid: {problem}.", field="tag_expression"
    )


def _preview(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")
