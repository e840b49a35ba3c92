"""Turn sent text with its parse_mode or entities into the plain text and entities to store."""

from typing import Any

from bot.emulator.errors import bad_request
from bot.emulator.html import parse_html
from bot.emulator.markdown import parse_markdown, parse_markdown_v2
from bot.emulator.text import check_entities, utf16_len


def parse_formatted(
    text: str, parse_mode: str | None, entities: Any
) -> tuple[str, list[dict[str, Any]]]:
    """Return the plain text and entities Telegram would store for `text`.

    `entities` (a list or its JSON string) wins over `parse_mode`, as in the Bot API. Leading and
    trailing whitespace is trimmed the way Telegram trims it, with entity offsets shifted to match.
    """
    if entities:
        plain, parsed = text, check_entities(entities, text)
    elif not parse_mode:
        plain, parsed = text, []
    elif parse_mode.lower() == "html":
        plain, parsed = parse_html(text)
    elif parse_mode.lower() == "markdownv2":
        plain, parsed = parse_markdown_v2(text)
    elif parse_mode.lower() == "markdown":
        plain, parsed = parse_markdown(text)
    else:
        raise bad_request(f"unsupported parse_mode {parse_mode!r}")
    return _trim(plain, parsed)


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    stripped = text.lstrip()
    shift = utf16_len(text) - utf16_len(stripped)
    stripped = stripped.rstrip()
    end = utf16_len(stripped)

    trimmed = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        stop = min(entity["offset"] + entity["length"] - shift, end)
        if stop > start:
            trimmed.append({**entity, "offset": start, "length": stop - start})
    return stripped, trimmed
