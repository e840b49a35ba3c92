"""Splitting of long messages into ordered parts within Telegram's length limit.

Telegram counts a message's length in UTF-16 code units of the text after entity parsing, so in
HTML mode tags count nothing and `&amp;` counts one. Parts end at a paragraph break if one is
in the second half of the allowed length, else at a line break there, else at any whitespace,
else at the limit itself. A cut never falls inside a tag, an HTML escape or a character, and
tags open at a cut are closed at the end of one part and opened again at the start of the next.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

TELEGRAM_TEXT_LIMIT = 4096
TELEGRAM_CAPTION_LIMIT = 1024

# A tag, an escape, or one character. A "<" or "&" that starts neither counts as a character.
HTML_TOKEN_RE = re.compile(
    r"(?P<tag></?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>)"
    r"|(?P<escape>&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});)"
    r"|(?P<char>.)",
    re.DOTALL,
)
TAG_NAME_RE = re.compile(r"</?([A-Za-z][A-Za-z0-9-]*)")
NAMED_ESCAPES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
ZERO_WIDTH_JOINER = "\u200d"
# How far a hard cut may move back to keep a character with the marks that modify it.
MAX_CLUSTER = 32


@dataclass(frozen=True)
class Token:
    """A piece of the source that is never cut: a character, an escape or a tag."""

    raw: str
    width: int
    kind: str  # "text", "open", "close" or "empty" (a self-closing tag)
    name: str = ""  # a tag's name, or the character that a text token shows

    @property
    def is_space(self) -> bool:
        return self.kind == "text" and self.raw.isspace()


def utf16_len(text: str) -> int:
    """Return the length of `text` in UTF-16 code units, as Telegram counts it."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def visible_len(text: str, *, html: bool) -> int:
    """Return the length Telegram counts for `text`, after parsing HTML when `html` is set."""
    if not html:
        return utf16_len(text)
    return sum(token.width for token in tokenize(text, html=True))


def split_text(text: str, limit: int = TELEGRAM_TEXT_LIMIT, html: bool = False) -> list[str]:
    """Split `text` into ordered parts of at most `limit` UTF-16 code units each.

    A text that fits is returned unchanged as the only part, and a blank text gives no parts.
    Whitespace at each cut is dropped, so no part starts or ends with the separator.
    With `html`, the text is Telegram HTML and each part is valid HTML on its own.
    """
    if limit < 2:
        raise ValueError(f"Invalid limit {limit}: use 2 or more, so any character fits a part")
    if not text.strip():
        return []
    tokens = tokenize(text, html=html)
    if sum(token.width for token in tokens) <= limit:
        return [text]
    return _Splitter(tokens, limit).run()


def tokenize(text: str, *, html: bool) -> list[Token]:
    if not html:
        return [Token(char, utf16_len(char), "text", char) for char in text]
    tokens = []
    for match in HTML_TOKEN_RE.finditer(text):
        raw = match.group(0)
        if match.lastgroup == "tag":
            tokens.append(_tag(raw))
        elif match.lastgroup == "escape":
            char = _unescape(raw)
            tokens.append(Token(raw, utf16_len(char), "text", char))
        else:
            tokens.append(Token(raw, utf16_len(raw), "text", raw))
    return tokens


class _Splitter:
    def __init__(self, tokens: list[Token], limit: int) -> None:
        self.tokens = tokens
        self.limit = limit
        self.stack: list[Token] = []  # tags open at the current position
        self.offsets = [0]  # self.offsets[i] is the width of tokens[:i]
        for token in tokens:
            self.offsets.append(self.offsets[-1] + token.width)

    def run(self) -> list[str]:
        parts = []
        position = 0
        while position < len(self.tokens):
            position = self._skip_cut_padding(position)
            reopened = "".join(tag.raw for tag in self.stack)
            end = self._fitting_end(position)
            if end < len(self.tokens):
                end = self._choose_cut(position, end)
            body = self.tokens[position:end]
            for token in body:
                self._track(token)
            while body and body[-1].is_space:
                body.pop()
            closing = "".join(f"</{tag.name}>" for tag in reversed(self.stack))
            if any(token.kind == "text" and not token.is_space for token in body):
                parts.append(reopened + "".join(token.raw for token in body) + closing)
            position = end
        return parts

    def _skip_cut_padding(self, position: int) -> int:
        # Whitespace at a cut is dropped, and a closing tag there would close an empty element.
        while position < len(self.tokens):
            token = self.tokens[position]
            if token.is_space or (token.kind == "close" and self._closes_open_tag(token)):
                self._track(token)
                position += 1
            else:
                break
        return position

    def _fitting_end(self, start: int) -> int:
        end = start
        while end < len(self.tokens) and self._width(start, end + 1) <= self.limit:
            end += 1
        return end

    def _choose_cut(self, start: int, end: int) -> int:
        """Return where the part starting at `start` ends, at most at `end`."""
        runs = self._space_runs(start, end)
        half_width = self.limit // 2
        for newlines in (2, 1):
            for run_start, run_newlines in reversed(runs):
                if run_newlines >= newlines and self._width(start, run_start) >= half_width:
                    return run_start
        if runs:
            return runs[-1][0]
        return self._keep_cluster(start, end)

    def _space_runs(self, start: int, end: int) -> list[tuple[int, int]]:
        """List the whitespace runs after `start` that begin before `end`, with their newlines."""
        runs = []
        index = start + 1
        while index < len(self.tokens) and index <= end:
            if not self.tokens[index].is_space:
                index += 1
                continue
            run_start, newlines = index, 0
            while index < len(self.tokens) and self.tokens[index].is_space:
                newlines += self.tokens[index].raw.count("\n")
                index += 1
            cut = self._before_open_tags(start, run_start)
            if cut > start:
                runs.append((cut, newlines))
        return runs

    def _before_open_tags(self, start: int, index: int) -> int:
        # A tag opened right before a cut would stay empty in this part: move it to the next.
        while index > start + 1 and self.tokens[index - 1].kind == "open":
            index -= 1
        return index

    def _keep_cluster(self, start: int, end: int) -> int:
        cut = end
        while cut > start + 1 and end - cut < MAX_CLUSTER and self._joins(cut):
            cut -= 1
        if cut == start + 1 and self._joins(cut):
            cut = end  # one cluster longer than a whole part: cut it at the limit
        return self._before_open_tags(start, cut)

    def _joins(self, index: int) -> bool:
        """Tell whether the character at `index` belongs with the one before it."""
        current, previous = self.tokens[index], self.tokens[index - 1]
        if current.kind != "text" or previous.kind != "text":
            return False
        if ZERO_WIDTH_JOINER in (previous.name, current.name):
            return True
        if _is_regional(current.name) and _is_regional(previous.name):
            # A flag is a pair of regional indicators, so the second of each pair joins the first.
            return self._regional_run(index - 1) % 2 == 1
        return _is_mark(current.name) or (previous.name == "\r" and current.name == "\n")

    def _regional_run(self, index: int) -> int:
        """Count the regional indicators that end at `index`."""
        count = 0
        while index >= 0 and self.tokens[index].kind == "text":
            if not _is_regional(self.tokens[index].name):
                break
            count += 1
            index -= 1
        return count

    def _width(self, start: int, end: int) -> int:
        return self.offsets[end] - self.offsets[start]

    def _closes_open_tag(self, token: Token) -> bool:
        return any(tag.name == token.name for tag in self.stack)

    def _track(self, token: Token) -> None:
        if token.kind == "open":
            self.stack.append(token)
        elif token.kind == "close" and self._closes_open_tag(token):
            while self.stack:
                if self.stack.pop().name == token.name:
                    break


def _is_mark(char: str) -> bool:
    # Combining marks, variation selectors and emoji skin tones modify the character before.
    if len(char) != 1:
        return False
    code = ord(char)
    return (
        unicodedata.combining(char) > 0
        or unicodedata.category(char) in {"Mn", "Me", "Mc"}
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
    )


def _is_regional(char: str) -> bool:
    return len(char) == 1 and 0x1F1E6 <= ord(char) <= 0x1F1FF


def _tag(raw: str) -> Token:
    match = TAG_NAME_RE.match(raw)
    assert match is not None
    name = match.group(1).lower()
    if raw.startswith("</"):
        return Token(raw, 0, "close", name)
    if raw.endswith("/>"):
        return Token(raw, 0, "empty", name)
    return Token(raw, 0, "open", name)


def _unescape(escape: str) -> str:
    body = escape[1:-1]
    if body.startswith(("#x", "#X")):
        return _code_point(int(body[2:], 16))
    if body.startswith("#"):
        return _code_point(int(body[1:]))
    # Telegram rejects other named escapes. Counted as one character, they cannot overflow.
    return NAMED_ESCAPES.get(body, "?")


def _code_point(value: int) -> str:
    return chr(value) if 0 < value <= 0x10FFFF else "\ufffd"
