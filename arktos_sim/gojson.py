"""Go ``encoding/json``-style syntax error messages, so malformed bodies are rejected with Arktos's words.

Only used after orjson has already refused a body, to produce e.g.
``invalid character 'n' looking for beginning of object key string``.
"""

from __future__ import annotations


def _quote(ch: str) -> str:
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    if ord(ch) < 0x20:
        return repr(ch)
    return f"'{ch}'"


class _SyntaxError(Exception):
    pass


class _Scanner:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def _ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t\r\n":
            self.i += 1

    def _peek(self) -> str | None:
        return self.s[self.i] if self.i < len(self.s) else None

    def _fail(self, context: str) -> _SyntaxError:
        ch = self._peek()
        if ch is None:
            return _SyntaxError("unexpected end of JSON input")
        return _SyntaxError(f"invalid character {_quote(ch)} {context}")

    def value(self) -> None:
        self._ws()
        ch = self._peek()
        if ch == "{":
            self.i += 1
            self._object()
        elif ch == "[":
            self.i += 1
            self._array()
        elif ch == '"':
            self.i += 1
            self._string()
        elif ch is not None and (ch == "-" or ch.isdigit()):
            self._number()
        elif ch in ("t", "f", "n"):
            word = {"t": "true", "f": "false", "n": "null"}[ch]
            for expected in word:
                got = self._peek()
                if got is None:
                    raise _SyntaxError("unexpected end of JSON input")
                if got != expected:
                    raise _SyntaxError(
                        f"invalid character {_quote(got)} in literal {word} (expecting {_quote(expected)})"
                    )
                self.i += 1
        else:
            raise self._fail("looking for beginning of value")

    def _object(self) -> None:
        self._ws()
        if self._peek() == "}":
            self.i += 1
            return
        while True:
            self._ws()
            if self._peek() != '"':
                raise self._fail("looking for beginning of object key string")
            self.i += 1
            self._string()
            self._ws()
            if self._peek() != ":":
                raise self._fail("after object key")
            self.i += 1
            self.value()
            self._ws()
            ch = self._peek()
            if ch == ",":
                self.i += 1
                continue
            if ch == "}":
                self.i += 1
                return
            raise self._fail("after object key:value pair")

    def _array(self) -> None:
        self._ws()
        if self._peek() == "]":
            self.i += 1
            return
        while True:
            self.value()
            self._ws()
            ch = self._peek()
            if ch == ",":
                self.i += 1
                continue
            if ch == "]":
                self.i += 1
                return
            raise self._fail("after array element")

    def _string(self) -> None:
        while True:
            ch = self._peek()
            if ch is None:
                raise _SyntaxError("unexpected end of JSON input")
            self.i += 1
            if ch == '"':
                return
            if ch == "\\":
                esc = self._peek()
                if esc is None:
                    raise _SyntaxError("unexpected end of JSON input")
                if esc not in '"\\/bfnrtu':
                    raise _SyntaxError(f"invalid character {_quote(esc)} in string escape code")
                self.i += 1
            elif ord(ch) < 0x20:
                raise _SyntaxError(f"invalid character {_quote(ch)} in string literal")

    def _number(self) -> None:
        if self._peek() == "-":
            self.i += 1
        ch = self._peek()
        if ch is None or not ch.isdigit():
            raise self._fail("in numeric literal")
        while (ch := self._peek()) is not None and (ch.isdigit() or ch in ".eE+-"):
            self.i += 1


def syntax_error(data: bytes) -> str:
    """Go's message for why ``data`` is not JSON (best effort for unusual inputs)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid character looking for beginning of value"
    scanner = _Scanner(text)
    try:
        scanner.value()
        scanner._ws()
        if scanner._peek() is not None:
            raise scanner._fail("after top-level value")
    except _SyntaxError as exc:
        return str(exc)
    return "unexpected end of JSON input"


def summarize(data: bytes, limit: int = 30) -> str:
    """How the API server quotes a body it could not decode (``summarizeData`` in apimachinery)."""
    if not data:
        return "<empty>"
    if data[:1] == b"{":
        text = data.decode("utf-8", "replace")
        return text[:limit] + " ..." if len(data) > limit else text
    return data[:limit].hex() + (" ..." if len(data) > limit else "")
