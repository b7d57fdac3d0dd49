"""A small evaluator for the subset of Cloudflare's Rules language the edge renders, so tests can
say which rules a request matches instead of comparing expression strings.

Supported: `and`, `or`, `not`, parentheses, `true`, `<field> eq "<s>"`, `<field> contains "<s>"`,
`<field> in {"<s>" ...}` and `starts_with(<field>, "<s>")` over `http.host`, `http.request.uri.path`,
`raw.http.request.uri.path` and their `.extension` (the last path segment's lowercased extension,
without the dot). Anything else raises, so an expression the evaluator cannot read fails its test.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<sym>[(){},])|(?P<word>[A-Za-z_][\w.]*))')
_FIELDS = ("http.host", "http.request.uri.path", "raw.http.request.uri.path")


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError(f"cannot read {text[pos:]!r}")
        out.append(match.group(match.lastgroup or ""))
        pos = match.end()
    return out


def _extension(path: str) -> str:
    last = path.rsplit("/", 1)[-1]
    return last.rsplit(".", 1)[1].lower() if "." in last else ""


class _Parser:
    def __init__(self, text: str, request: Mapping[str, str]) -> None:
        self.tokens, self.at, self.request = _tokens(text), 0, request

    def _peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> str:
        token = self._peek()
        if token is None or (expected is not None and token != expected):
            raise ValueError(f"expected {expected!r}, got {token!r}")
        self.at += 1
        return token

    def _string(self) -> str:
        token = self._take()
        if not token.startswith('"'):
            raise ValueError(f"expected a string, got {token!r}")
        return token[1:-1].replace('\\"', '"')

    def _field(self) -> str:
        name = self._take()
        base = name.removesuffix(".extension")
        if base not in _FIELDS:
            raise ValueError(f"unknown field {name!r}")
        value = self.request[base]
        return _extension(value) if name.endswith(".extension") else value

    def parse(self) -> bool:
        value = self._or()
        if self._peek() is not None:
            raise ValueError(f"unexpected {self._peek()!r}")
        return value

    def _or(self) -> bool:
        value = self._and()
        while self._peek() == "or":
            self._take()
            value = self._and() or value
        return value

    def _and(self) -> bool:
        value = self._not()
        while self._peek() == "and":
            self._take()
            value = self._not() and value
        return value

    def _not(self) -> bool:
        if self._peek() == "not":
            self._take()
            return not self._not()
        return self._atom()

    def _atom(self) -> bool:
        token = self._peek()
        if token == "(":
            self._take()
            value = self._or()
            self._take(")")
            return value
        if token == "true":
            self._take()
            return True
        if token == "starts_with":
            self._take()
            self._take("(")
            field = self._field()
            self._take(",")
            prefix = self._string()
            self._take(")")
            return field.startswith(prefix)
        field = self._field()
        operator = self._take()
        if operator == "eq":
            return field == self._string()
        if operator == "contains":
            return self._string() in field
        if operator == "in":
            self._take("{")
            values = set()
            while self._peek() != "}":
                values.add(self._string())
            self._take("}")
            return field in values
        raise ValueError(f"unknown operator {operator!r}")


def matches(expression: str, *, host: str, path: str, rewritten: str | None = None) -> bool:
    """Whether a request for ``host`` and ``path`` matches ``expression``; ``rewritten`` is the path
    after an earlier phase's URL rewrite (what `http.request.uri.path` then holds)."""
    request = {
        "http.host": host,
        "http.request.uri.path": rewritten if rewritten is not None else path,
        "raw.http.request.uri.path": path,
    }
    return _Parser(expression, request).parse()
