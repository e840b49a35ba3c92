"""Splitting long messages: limits, boundaries, escapes, surrogate pairs and HTML tags."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.textsplit import split_text, utf16_len, visible_len

ESCAPE_RE = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
Styled = tuple[str, tuple[tuple[str, tuple[tuple[str, str | None], ...]], ...]]


class StyledText(HTMLParser):
    """Read HTML as the characters Telegram shows, each with the tags around it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, tuple[tuple[str, str | None], ...]]] = []
        self.chars: list[Styled] = []

    def handle_starttag(self, tag, attrs):
        self.open.append((tag, tuple(attrs)))

    def handle_endtag(self, tag):
        assert self.open, f"</{tag}> closes nothing"
        assert self.open[-1][0] == tag, f"</{tag}> closes <{self.open[-1][0]}>"
        self.open.pop()

    def handle_data(self, data):
        self.chars.extend((char, tuple(self.open)) for char in data)


def styled(text: str) -> list[Styled]:
    parser = StyledText()
    parser.feed(text)
    parser.close()
    assert not parser.open, f"unclosed tags {parser.open} in {text!r}"
    return parser.chars


def assert_rejoins(original: list, parts: list[list]) -> None:
    """Assert that the parts, in order, are the original with only whitespace left out."""
    position = 0
    for part in parts:
        while position < len(original) and original[position] != part[0]:
            assert original[position][0].isspace(), f"dropped {original[position]!r}"
            position += 1
        assert original[position : position + len(part)] == part
        position += len(part)
    assert all(item[0].isspace() for item in original[position:])


def plain_items(text: str) -> list[tuple[str]]:
    return [(char,) for char in text]


def test_short_text_is_one_part():
    assert split_text("Doors open at 19:00") == ["Doors open at 19:00"]


def test_blank_text_has_no_parts():
    assert split_text("  \n ") == []


def test_4097_characters_split_in_two():
    text = "word " * 819 + "ab"  # 4097 characters

    parts = split_text(text)

    assert len(parts) == 2
    assert utf16_len(parts[0]) <= 4096
    assert " ".join(parts) == text


def test_paragraph_break_preferred_over_line():
    first = "a" * 60 + "\n\n" + "b" * 25 + "\n" + "c" * 10
    parts = split_text(first + " " + "d" * 10, limit=100)

    assert parts[0] == "a" * 60


def test_line_break_preferred_over_space():
    text = "a" * 60 + "\n" + "b" * 20 + " " + "c" * 30

    assert split_text(text, limit=100)[0] == "a" * 60


def test_early_paragraph_break_loses_to_late_line():
    text = "a" * 10 + "\n\n" + "b" * 70 + "\n" + "c" * 40

    assert split_text(text, limit=100)[0] == "a" * 10 + "\n\n" + "b" * 70


def test_word_without_spaces_cut_at_limit():
    parts = split_text("x" * 250, limit=100)

    assert parts == ["x" * 100, "x" * 100, "x" * 50]


def test_surrogate_pair_counts_two_units():
    parts = split_text("😀" * 3, limit=5)

    assert parts == ["😀😀", "😀"]


def test_combining_mark_stays_with_letter():
    parts = split_text("e" * 9 + "e\u0301" + "e" * 5, limit=10)

    assert parts[0] == "e" * 9


def test_zero_width_joiner_sequence_kept_whole():
    parts = split_text("a" * 7 + "👩\u200d💻", limit=10)

    assert parts == ["a" * 7, "👩\u200d💻"]


def test_html_tag_before_space_moves_to_next_part():
    assert split_text("aaaa<b> bbbb</b>", limit=6, html=True) == ["aaaa", "<b> bbbb</b>"]


def test_html_tag_at_hard_cut_moves():
    assert split_text("aaaa<b>bbbb</b>", limit=4, html=True) == ["aaaa", "<b>bbbb</b>"]


def test_html_escape_counts_one_unit():
    text = "&amp;" * 10

    assert split_text(text, limit=10, html=True) == [text]


def test_html_escape_never_cut():
    parts = split_text("a" + "&amp;" * 10, limit=5, html=True)

    assert parts == ["a&amp;&amp;&amp;&amp;", "&amp;&amp;&amp;&amp;&amp;", "&amp;"]


def test_html_tags_reopened_in_next_part():
    parts = split_text("<b>one two <i>three four</i></b>", limit=10, html=True)

    assert parts == ["<b>one two</b>", "<b><i>three four</i></b>"]


def test_html_link_reopened_with_href():
    parts = split_text('<a href="https://x.org/?a=1&amp;b=2">aaaa bbbb</a>', limit=5, html=True)

    assert parts[1] == '<a href="https://x.org/?a=1&amp;b=2">bbbb</a>'


def test_html_pre_block_keeps_language():
    code = '<pre><code class="language-python">' + "x = 1\n" * 4 + "</code></pre>"

    parts = split_text(code, limit=12, html=True)

    assert all(part.startswith('<pre><code class="language-python">') for part in parts)


def test_limit_below_two_rejected():
    with pytest.raises(ValueError, match="Invalid limit 1"):
        split_text("abc", limit=1)


def test_long_announcement_cut_at_lines():
    parts = split_text(("word " * 12 + "\n") * 400, limit=4096)

    assert len(parts) == 6


plain_alphabet = st.sampled_from(["a", "b", " ", "\n", "\n\n", "é", "e\u0301", "😀", "👩‍💻", "&"])
plain_texts = st.lists(plain_alphabet, max_size=400).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=plain_texts, limit=st.integers(2, 60))
def test_plain_parts_fit_and_rejoin(text, limit):
    parts = split_text(text, limit=limit)

    for part in parts:
        assert utf16_len(part) <= limit
        assert part.strip(), f"blank part in {parts!r}"
        part.encode("utf-16-le")  # raises on a lone surrogate
    if visible_len(text, html=False) > limit:
        assert_rejoins(plain_items(text), [plain_items(part) for part in parts])
    else:
        assert parts == ([text] if text.strip() else [])


char_texts = st.lists(
    st.sampled_from(["a", "bc", " ", "\n", "&", "<", ">", '"', "😀", "é", "\u0301"]), max_size=12
).map("".join)


def render_text(text: str, numeric: bool) -> str:
    escaped = html.escape(text, quote=False)
    return escaped.replace("é", "&#233;").replace("😀", "&#x1F600;") if numeric else escaped


text_nodes = st.builds(render_text, char_texts, st.booleans())
TAGS = [
    ("<b>", "</b>"),
    ("<i>", "</i>"),
    ("<u>", "</u>"),
    ("<s>", "</s>"),
    ('<span class="tg-spoiler">', "</span>"),
    ('<a href="https://popup.com/?a=1&amp;b=2">', "</a>"),
    ("<blockquote expandable>", "</blockquote>"),
    ('<pre><code class="language-python">', "</code></pre>"),
]
html_texts = st.recursive(
    text_nodes,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=5).map("".join),
        st.tuples(st.sampled_from(TAGS), children).map(
            lambda pair: pair[0][0] + pair[1] + pair[0][1]
        ),
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(text=html_texts, limit=st.integers(2, 40))
def test_html_parts_fit_and_keep_formatting(text, limit):
    parts = split_text(text, limit=limit, html=True)

    for part in parts:
        assert utf16_len("".join(char for char, _ in styled(part))) <= limit
        assert visible_len(part, html=True) <= limit
        part.encode("utf-16-le")
        for fragment in re.split(r"(?=&)", part)[1:]:
            assert ESCAPE_RE.match(fragment), f"part cuts an escape: {part!r}"
    if visible_len(text, html=True) > limit:
        assert_rejoins(styled(text), [styled(part) for part in parts])


@settings(max_examples=100, deadline=None)
@given(text=html_texts)
def test_visible_len_matches_html_parser(text):
    assert visible_len(text, html=True) == utf16_len("".join(char for char, _ in styled(text)))
