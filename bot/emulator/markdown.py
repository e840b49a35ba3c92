"""Parse Telegram's MarkdownV2 and legacy Markdown parse modes into plain text and entities.

MarkdownV2 follows the Bot API "Formatting options" page. Outside code, the characters
_*[]()~`>#+-=|{}.! are reserved and must be escaped with a backslash. The parser recognises
`*bold*`, `_italic_`, `__underline__`, `~strike~`, `||spoiler||`, `[text](url)`,
`![emoji](tg://emoji?id=N)`, inline code, pre blocks, and `>` blockquotes at the start of a line
(expandable ones start with `**>` and end with `||`).
"""

import re
from dataclasses import dataclass, field
from typing import Any

from bot.emulator.errors import APIError, bad_request
from bot.emulator.text import sort_entities, utf16_len

RESERVED_V2 = set("_*[]()~`>#+-=|{}.!")
TOGGLES = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler"}
ENTITY_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}
EMOJI_URL_RE = re.compile(r"tg://emoji\?id=(\d+)$")


@dataclass
class _Open:
    marker: str
    start: int
    byte_offset: int


@dataclass
class _Output:
    source: str
    chars: list[str] = field(default_factory=list)
    length16: int = 0
    entities: list[dict[str, Any]] = field(default_factory=list)

    def append(self, text: str) -> None:
        self.chars.append(text)
        self.length16 += utf16_len(text)

    def add(self, kind: str, start: int, **extra: Any) -> None:
        if self.length16 > start:
            entity = {"type": kind, "offset": start, "length": self.length16 - start}
            self.entities.append(entity | extra)

    def byte_offset(self, index: int) -> int:
        return len(self.source[:index].encode("utf-8"))

    def fail(self, reason: str) -> APIError:
        return bad_request(f"can't parse entities: {reason}")

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        return "".join(self.chars), sort_entities(self.entities)


def parse_markdown_v2(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse `source` as parse_mode MarkdownV2, raising APIError 400 where Telegram does."""
    out = _Output(source.replace("\r", ""))
    source = out.source
    stack: list[_Open] = []
    quote: _Open | None = None
    index = 0
    while index < len(source):
        at_line_start = index == 0 or source[index - 1] == "\n"
        if at_line_start:
            quote, index = _line_start(out, quote, index)
            if index >= len(source):
                break

        if quote and quote.marker == "**>" and _ends_expandable(source, index):
            out.add("expandable_blockquote", quote.start)
            quote, index = None, index + 2
        else:
            index = _step(out, stack, index)

    if quote:
        out.add("blockquote" if quote.marker == ">" else "expandable_blockquote", quote.start)
    if stack:
        opened = stack[-1]
        name = ENTITY_NAMES.get(TOGGLES.get(opened.marker, "text_link"), "TextUrl")
        raise out.fail(f"Can't find end of {name} entity at byte offset {opened.byte_offset}")
    return out.result()


def _step(out: _Output, stack: list[_Open], index: int) -> int:
    """Consume one token outside code at `index` and return the index after it."""
    source = out.source
    char = source[index]
    if char == "\\":
        return _escaped(out, index)
    if char == "`":
        return _code(out, index)
    if source.startswith(("__", "||"), index) and not _closes_single(stack, source, index):
        return _toggle(out, stack, source[index : index + 2], index)
    if char in "*_~":
        return _toggle(out, stack, char, index)
    if char == "[" or source.startswith("![", index):
        marker = "![" if char == "!" else "["
        stack.append(_Open(marker, out.length16, out.byte_offset(index)))
        return index + len(marker)
    if char == "]" and stack and stack[-1].marker in ("[", "!["):
        return _link(out, stack.pop(), index)
    if char in RESERVED_V2:
        reason = f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        raise out.fail(reason)
    out.append(char)
    return index + 1


def _line_start(out: _Output, quote: _Open | None, index: int) -> tuple[_Open | None, int]:
    source = out.source
    if source.startswith("**>", index):
        marker = "**>"
    elif source[index] == ">":
        marker = ">"
    else:
        marker = ""
    if quote and (not marker or marker == "**>"):
        # A blockquote ends at the last line that starts with ">"; the newline stays outside it.
        end = out.length16 - 1 if out.chars and out.chars[-1] == "\n" else out.length16
        if end > quote.start:
            entity = {"type": "blockquote", "offset": quote.start, "length": end - quote.start}
            out.entities.append(entity)
        quote = None
    if marker and not quote:
        quote = _Open(marker, out.length16, out.byte_offset(index))
    return quote, index + len(marker)


def _ends_expandable(source: str, index: int) -> bool:
    return source.startswith("||", index) and source[index + 2 : index + 3] in ("", "\n")


def _closes_single(stack: list[_Open], source: str, index: int) -> bool:
    """True when the first "_" of "__" closes an open italic entity, as in `___a_\r__`."""
    return source[index] == "_" and bool(stack) and stack[-1].marker == "_"


def _escaped(out: _Output, index: int) -> int:
    if index + 1 >= len(out.source) or not 1 <= ord(out.source[index + 1]) <= 126:
        offset = out.byte_offset(index)
        raise out.fail(f"Character '\\' at byte offset {offset} must escape a character")
    out.append(out.source[index + 1])
    return index + 2


def _toggle(out: _Output, stack: list[_Open], marker: str, index: int) -> int:
    if stack and stack[-1].marker == marker:
        opened = stack.pop()
        out.add(TOGGLES[marker], opened.start)
        return index + len(marker)
    if any(opened.marker == marker for opened in stack):
        opened = next(opened for opened in stack if opened.marker == marker)
        name = ENTITY_NAMES[TOGGLES[marker]]
        raise out.fail(f"Can't find end of {name} entity at byte offset {opened.byte_offset}")
    stack.append(_Open(marker, out.length16, out.byte_offset(index)))
    return index + len(marker)


def _code(out: _Output, index: int) -> int:
    source = out.source
    fence = "```" if source.startswith("```", index) else "`"
    cursor = index + len(fence)
    language = ""
    if fence == "```":
        newline = source.find("\n", cursor)
        closing = source.find("```", cursor)
        if 0 <= newline < closing and source[cursor:newline].strip():
            language, cursor = source[cursor:newline].strip(), newline + 1
    start = out.length16
    while not source.startswith(fence, cursor):
        if cursor >= len(source):
            name = "Pre" if fence == "```" else "Code"
            offset = out.byte_offset(index)
            raise out.fail(f"Can't find end of {name} entity at byte offset {offset}")
        if source[cursor] == "\\" and cursor + 1 < len(source):
            cursor += 1
        out.append(source[cursor])
        cursor += 1

    if fence == "`":
        out.add("code", start)
    elif language:
        out.add("pre", start, language=language)
    else:
        out.add("pre", start)
    return cursor + len(fence)


def _link(out: _Output, opened: _Open, index: int) -> int:
    source = out.source
    if not source.startswith("(", index + 1):
        # Telegram keeps "[text]" without a URL as plain text.
        return index + 1
    cursor = index + 2
    url: list[str] = []
    while cursor < len(source) and source[cursor] != ")":
        if source[cursor] == "\\" and cursor + 1 < len(source):
            cursor += 1
        url.append(source[cursor])
        cursor += 1
    if cursor >= len(source):
        raise out.fail(f"Can't find end of a URL at byte offset {out.byte_offset(index + 1)}")

    target = "".join(url).strip()
    if opened.marker == "![":
        emoji = EMOJI_URL_RE.match(target)
        if not emoji:
            raise out.fail(f"Custom emoji URL is invalid at byte offset {opened.byte_offset}")
        out.add("custom_emoji", opened.start, custom_emoji_id=emoji.group(1))
    elif target.startswith("tg://user?id=") and target[13:].isdigit():
        user = {"id": int(target[13:]), "is_bot": False, "first_name": ""}
        out.add("text_mention", opened.start, user=user)
    elif target:
        out.add("text_link", opened.start, url=target if "://" in target else "http://" + target)
    return cursor + 1


def parse_markdown(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse `source` as the legacy parse_mode Markdown: *bold*, _italic_, `code`, ```pre```,
    [text](url); entities cannot nest and a backslash escapes _ * ` [."""
    out = _Output(source)
    index = 0
    while index < len(source):
        char = source[index]
        if char == "\\" and source[index + 1 : index + 2] in ("_", "*", "`", "["):
            out.append(source[index + 1])
            index += 2
        elif char in "*_`" or char == "[":
            index = _legacy_entity(out, index)
        else:
            out.append(char)
            index += 1
    return out.result()


def _legacy_entity(out: _Output, index: int) -> int:
    source = out.source
    marker = "```" if source.startswith("```", index) else source[index]
    closing = "]" if marker == "[" else marker
    end = source.find(closing, index + len(marker))
    if end < 0:
        offset = out.byte_offset(index)
        raise out.fail(f"Can't find end of the entity starting at byte offset {offset}")

    start = out.length16
    out.append(source[index + len(marker) : end])
    if marker == "[":
        url_end = source.find(")", end) if source.startswith("(", end + 1) else -1
        if url_end < 0:
            return end + 1
        out.add("text_link", start, url=source[end + 2 : url_end])
        return url_end + 1
    kinds = {"*": "bold", "_": "italic", "`": "code", "```": "pre"}
    out.add(kinds[marker], start)
    return end + len(closing)
