"""Parse Telegram's HTML parse mode into plain text and entities, rejecting what Telegram rejects.

Supported tags and entities follow the Bot API "Formatting options" page: b, strong, i, em, u, ins,
s, strike, del, tg-spoiler, span class="tg-spoiler", a href, tg-emoji emoji-id, code, pre
(pre > code class="language-x" sets the language), blockquote [expandable]; the named entities
&lt; &gt; &amp; &quot; and every numeric entity. Offsets are in UTF-16 code units.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from bot.emulator.errors import APIError, bad_request
from bot.emulator.text import sort_entities, utf16_len

TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
ENTITY_RE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,15});")
ATTRIBUTE_RE = re.compile(r"""\s*([A-Za-z-]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>"']+))?""")
USER_LINK_RE = re.compile(r"tg://user\?id=(\d+)$")


@dataclass
class _OpenTag:
    name: str
    start: int
    byte_offset: int
    attributes: dict[str, str]
    char_index: int = 0
    language: str | None = None


@dataclass
class _Parser:
    source: str
    chars: list[str] = field(default_factory=list)
    length16: int = 0
    stack: list[_OpenTag] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, reason: str) -> APIError:
        return bad_request(f"can't parse entities: {reason}")

    def byte_offset(self, index: int) -> int:
        return len(self.source[:index].encode("utf-8"))

    def append(self, text: str) -> None:
        self.chars.append(text)
        self.length16 += utf16_len(text)


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse `source` as parse_mode HTML.

    Returns the plain text and its entities sorted by offset. Raises APIError 400 "can't parse
    entities" for unsupported or unbalanced tags and for a `<` or `&` that is not escaped.
    """
    parser = _Parser(source)
    index = 0
    while index < len(source):
        char = source[index]
        if char == "&":
            index = _read_entity(parser, index)
        elif char == "<" and source.startswith("</", index):
            index = _read_end_tag(parser, index)
        elif char == "<":
            index = _read_start_tag(parser, index)
        else:
            parser.append(char)
            index += 1

    if parser.stack:
        raise parser.fail(f"Can't find end tag corresponding to start tag {parser.stack[-1].name}")
    return "".join(parser.chars), sort_entities(parser.entities)


def _read_entity(parser: _Parser, index: int) -> int:
    match = ENTITY_RE.match(parser.source, index)
    name = match.group(1) if match else ""
    if name.startswith("#"):
        code = int(name[2:], 16) if name[1:2] in ("x", "X") else int(name[1:])
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise parser.fail(f"Invalid numeric entity at byte offset {parser.byte_offset(index)}")
        parser.append(chr(code))
        return match.end()
    if name in NAMED_ENTITIES:
        parser.append(NAMED_ENTITIES[name])
        return match.end()

    # NOTE: the real Bot API keeps an "&" that starts no known entity as a literal character
    # (TDLib's parser in td/telegram/MessageEntity.cpp). The Bot API documentation requires
    # "&amp;", and the emulator enforces it, so that unescaped user text fails in tests.
    offset = parser.byte_offset(index)
    if match:
        raise parser.fail(f'Unsupported HTML entity "&{name};" at byte offset {offset}')
    raise parser.fail(f'Character "&" at byte offset {offset} must be escaped as "&amp;"')


def _read_start_tag(parser: _Parser, index: int) -> int:
    source = parser.source
    offset = parser.byte_offset(index)
    cursor = index + 1
    while cursor < len(source) and not source[cursor].isspace() and source[cursor] != ">":
        cursor += 1
    if cursor >= len(source):
        raise parser.fail(f"Unclosed start tag at byte offset {offset}")
    name = source[index + 1 : cursor].lower()
    if name not in TAG_TYPES:
        raise parser.fail(f'Unsupported start tag "{name}" at byte offset {offset}')

    attributes: dict[str, str] = {}
    while True:
        match = ATTRIBUTE_RE.match(source, cursor)
        if not match or match.end() == cursor:
            break
        value = match.group(2) or ""
        if value[:1] in ('"', "'"):
            value = value[1:-1]
        attributes[match.group(1).lower()] = _decode_attribute(parser, value, index)
        cursor = match.end()
    while cursor < len(source) and source[cursor].isspace():
        cursor += 1
    if cursor >= len(source) or source[cursor] != ">":
        raise parser.fail(f"Unclosed start tag at byte offset {offset}")

    if name == "span" and attributes.get("class") != "tg-spoiler":
        raise parser.fail(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
    if name == "tg-emoji" and not attributes.get("emoji-id", "").isdigit():
        raise parser.fail(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {offset}')
    opened = _OpenTag(name, parser.length16, offset, attributes, len(parser.chars))
    parser.stack.append(opened)
    return cursor + 1


def _decode_attribute(parser: _Parser, value: str, tag_index: int) -> str:
    nested = _Parser(value)
    position = 0
    while position < len(value):
        if value[position] == "&":
            try:
                position = _read_entity(nested, position)
            except APIError:
                offset = parser.byte_offset(tag_index)
                raise parser.fail(f"Invalid attribute value at byte offset {offset}") from None
        else:
            nested.append(value[position])
            position += 1
    return "".join(nested.chars)


def _read_end_tag(parser: _Parser, index: int) -> int:
    source = parser.source
    offset = parser.byte_offset(index)
    close = source.find(">", index)
    if close < 0:
        raise parser.fail(f"Unclosed end tag at byte offset {offset}")
    name = source[index + 2 : close].strip().lower()
    if not parser.stack:
        raise parser.fail(f"Unexpected end tag at byte offset {offset}")
    opened = parser.stack[-1]
    # "</>" closes whichever tag is open.
    if name and name != opened.name:
        raise parser.fail(
            f'Unmatched end tag at byte offset {offset}, expected "</{opened.name}>", '
            f'found "</{name}>"'
        )

    parser.stack.pop()
    _close_entity(parser, opened)
    return close + 1


def _close_entity(parser: _Parser, opened: _OpenTag) -> None:
    parent = parser.stack[-1] if parser.stack else None
    language_class = opened.attributes.get("class", "")
    if opened.name == "code" and parent and parent.name == "pre":
        # Telegram takes the language of a pre block from a code tag nested directly in it.
        if language_class.startswith("language-"):
            parent.language = language_class.removeprefix("language-")
            return

    length = parser.length16 - opened.start
    if length == 0:
        return
    entity: dict[str, Any] = {"type": TAG_TYPES[opened.name], "offset": opened.start}
    entity["length"] = length
    if opened.name == "a":
        # Telegram links an <a> without href to its own text.
        text = "".join(parser.chars[opened.char_index :])
        if not _add_link(entity, opened.attributes.get("href") or text):
            return
    elif opened.name == "tg-emoji":
        entity["custom_emoji_id"] = opened.attributes["emoji-id"]
    elif opened.name == "pre" and opened.language:
        entity["language"] = opened.language
    elif opened.name == "blockquote" and "expandable" in opened.attributes:
        entity["type"] = "expandable_blockquote"
    parser.entities.append(entity)


def _add_link(entity: dict[str, Any], href: str) -> bool:
    """Fill a text_link or text_mention entity, or return False when Telegram drops the link."""
    href = href.strip()
    if not href:
        return False
    mention = USER_LINK_RE.match(href)
    if mention:
        entity["type"] = "text_mention"
        entity["user"] = {"id": int(mention.group(1)), "is_bot": False, "first_name": ""}
        return True
    if "://" not in href and not href.startswith(("tg:", "mailto:")):
        href = "http://" + href
    entity["url"] = href
    return True
