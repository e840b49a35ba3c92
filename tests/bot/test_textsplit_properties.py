"""Properties of message splitting with hostile text: parts parse as Telegram parses them."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.emulator.html import parse_html
from bot.telegram.texts import quote
from bot.textsplit import split_text, utf16_len

ZWJ = "\u200d"
MODIFIERS = {chr(code) for code in range(0x1F3FB, 0x1F400)} | {"\ufe0f", ZWJ}
REGIONAL = {chr(code) for code in range(0x1F1E6, 0x1F200)}
CLUSTERS = ["👩‍👩‍👧‍👦", "e\u0301", "🇩🇪", "👍🏽", "❤️", "a", "&", "<", " ", "\n", "\u202e", "\u200b"]
# Text a user could type, minus what Telegram never delivers: NUL and lone surrogates.
user_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300
)
cluster_text = st.lists(st.sampled_from(CLUSTERS), max_size=200).map("".join)


def starts_mid_cluster(part: str) -> bool:
    first = part[0]
    return first in MODIFIERS or unicodedata.combining(first) > 0


@settings(max_examples=200, deadline=None)
@given(text=user_text, limit=st.integers(16, 200))
def test_escaped_user_text_parts_parse_like_telegram(text, limit):
    message = f"<b>Title</b>\n{quote(text)}\n<i>{quote(text)}</i>"

    parts = split_text(message, limit=limit, html=True)

    plains = [parse_html(part)[0] for part in parts]
    assert all(utf16_len(plain) <= limit for plain in plains)
    expected = "".join(f"Title\n{text}\n{text}".split())
    assert "".join("".join(plains).split()) == expected


@settings(max_examples=200, deadline=None)
@given(text=cluster_text, limit=st.integers(12, 80))
def test_emoji_sequences_never_cut(text, limit):
    parts = split_text(text, limit=limit)

    assert [part for part in parts if starts_mid_cluster(part)] == []
    assert [part for part in parts if part.endswith(ZWJ)] == []
    assert [part for part in parts if sum(char in REGIONAL for char in part) % 2] == []


@settings(max_examples=200, deadline=None)
@given(text=user_text, limit=st.integers(2, 100))
def test_parts_never_start_or_end_with_space(text, limit):
    parts = split_text(text, limit=limit)

    assert [part for part in parts if part != part.strip()] == [] or len(parts) == 1
