"""Telegram's text rules: HTML and MarkdownV2 parsing, UTF-16 lengths, reply_markup checks."""

import html

import aiohttp
import pytest
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from hypothesis import given
from hypothesis import strategies as st

from bot.emulator.errors import APIError
from bot.emulator.html import parse_html
from bot.emulator.markdown import parse_markdown, parse_markdown_v2

# Text without surrogates or NUL, which no Telegram client can send.
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
MARKDOWN_V2_SPECIAL = "_*[]()~`>#+-=|{}.!\\"


def escape_markdown_v2(text: str) -> str:
    return "".join("\\" + char if char in MARKDOWN_V2_SPECIAL else char for char in text)


def button(data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Claim", callback_data=data)]]
    )


async def test_html_unescaped_tag_rejected(bot, alice):
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(alice.id, "I like <b> tags", parse_mode="HTML")


async def test_html_escaped_tag_shows_as_typed(bot, emu, alice):
    await bot.send_message(alice.id, "&lt;b&gt;", parse_mode="HTML")
    assert emu.messages(alice.id)[0]["text"] == "<b>"


async def test_html_ampersand_entity(bot, emu, alice):
    await bot.send_message(alice.id, "Tom &amp; Co", parse_mode="HTML")
    assert emu.messages(alice.id)[0]["text"] == "Tom & Co"


async def test_html_user_text_escaped_round_trip(bot, emu, alice):
    typed = '<script>alert("x")</script> & Co'
    await bot.send_message(alice.id, f"<b>Name:</b> {html.escape(typed)}", parse_mode="HTML")
    stored = emu.messages(alice.id)[0]
    assert stored["text"] == f"Name: {typed}"
    assert stored["entities"] == [{"type": "bold", "offset": 0, "length": 5}]


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("Tom & Co", 'Character "&" at byte offset 4 must be escaped as "&amp;"'),
        ("<b>open", "Can't find end tag corresponding to start tag b"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("a <b", "Unclosed start tag at byte offset 2"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("&nbsp;", 'Unsupported HTML entity "&nbsp;" at byte offset 0'),
    ],
)
def test_html_errors(source, reason):
    with pytest.raises(APIError) as raised:
        parse_html(source)
    assert raised.value.status == 400
    assert raised.value.description == f"Bad Request: can't parse entities: {reason}"


def test_html_entities_in_utf16():
    text, entities = parse_html("&#128512; <b>x</b>")
    assert text == "\U0001f600 x"
    assert entities == [{"type": "bold", "offset": 3, "length": 1}]


def test_html_link_and_pre_language():
    text, entities = parse_html(
        '<a href="https://t.me/micropop_bot?start=e42">go</a>'
        '<pre><code class="language-python">x = 1</code></pre>'
    )
    assert text == "gox = 1"
    assert entities[0] == {
        "type": "text_link",
        "offset": 0,
        "length": 2,
        "url": "https://t.me/micropop_bot?start=e42",
    }
    assert entities[1] == {"type": "pre", "offset": 2, "length": 5, "language": "python"}


def test_html_nested_and_expandable_quote():
    text, entities = parse_html("<blockquote expandable><b>a<i>b</i></b></blockquote>")
    assert text == "ab"
    assert [entity["type"] for entity in entities] == ["expandable_blockquote", "bold", "italic"]


def test_html_empty_end_tag_closes():
    assert parse_html("<b>x</>") == ("x", [{"type": "bold", "offset": 0, "length": 1}])


def test_html_link_without_href_uses_text():
    _, entities = parse_html("<a>https://popup.com/e42</a>")
    assert entities[0]["url"] == "https://popup.com/e42"


def test_html_uppercase_tags_and_spoiler():
    text, entities = parse_html('<B>x</B><span class="tg-spoiler">y</span>')
    assert text == "xy"
    assert [entity["type"] for entity in entities] == ["bold", "spoiler"]


@given(texts)
def test_html_escaped_text_round_trips(text):
    assert parse_html(html.escape(text)) == (text, [])


@given(texts)
def test_markdown_v2_escaped_text_round_trips(text):
    assert parse_markdown_v2(escape_markdown_v2(text)) == (text.replace("\r", ""), [])


async def test_markdown_v2_reserved_rejected(bot, alice):
    with pytest.raises(TelegramBadRequest, match="Character '.' is reserved"):
        await bot.send_message(alice.id, "Doors open at 19.00", parse_mode="MarkdownV2")


async def test_markdown_v2_escaped_accepted(bot, emu, alice):
    await bot.send_message(alice.id, r"*Doors* open at 19\.00\!", parse_mode="MarkdownV2")
    stored = emu.messages(alice.id)[0]
    assert stored["text"] == "Doors open at 19.00!"
    assert stored["entities"] == [{"type": "bold", "offset": 0, "length": 5}]


@pytest.mark.parametrize(
    ("source", "expected_types"),
    [
        ("_i_ __u__ ~s~ ||p||", ["italic", "underline", "strikethrough", "spoiler"]),
        ("[link](https://example.org/a\\)b)", ["text_link"]),
        ("`a.b` and ```py\nx.y```", ["code", "pre"]),
        (">quoted\n>still\nafter", ["blockquote"]),
        ("**>hidden\n>more||", ["expandable_blockquote"]),
        ("___iu_\r__", ["underline", "italic"]),
    ],
)
def test_markdown_v2_entities(source, expected_types):
    _, entities = parse_markdown_v2(source)
    assert [entity["type"] for entity in entities] == expected_types


@pytest.mark.parametrize("source", ["*open", "_a *b_ c*", "[text](no end", "a | b"])
def test_markdown_v2_errors(source):
    with pytest.raises(APIError, match="can't parse entities"):
        parse_markdown_v2(source)


def test_markdown_legacy():
    text, entities = parse_markdown("*bold* _it_ `co.de` [a](https://x.org) 1.5!")
    assert text == "bold it co.de a 1.5!"
    assert [entity["type"] for entity in entities] == ["bold", "italic", "code", "text_link"]


async def test_text_4096_accepted(bot, alice):
    assert len((await bot.send_message(alice.id, "a" * 4096)).text) == 4096


async def test_text_4097_rejected(bot, alice):
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(alice.id, "a" * 4097)


async def test_text_length_counts_utf16(bot, alice):
    await bot.send_message(alice.id, "\U0001f600" * 2048)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(alice.id, "\U0001f600" * 2049)


async def test_text_length_after_parsing(bot, alice):
    sent = await bot.send_message(alice.id, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")
    assert len(sent.text) == 4096


async def test_text_trimmed_like_telegram(bot, alice):
    assert (await bot.send_message(alice.id, "  hi \n")).text == "hi"


async def test_text_only_markup_is_empty(bot, alice):
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(alice.id, "<b> </b>", parse_mode="HTML")


async def test_caption_limit(bot, alice, png):
    await bot.send_photo(alice.id, BufferedInputFile(png, "p.png"), caption="c" * 1024)
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(alice.id, BufferedInputFile(png, "p.png"), caption="c" * 1025)


async def test_callback_data_64_bytes_accepted(bot, alice):
    await bot.send_message(alice.id, "x", reply_markup=button("d" * 64))


async def test_callback_data_65_bytes_rejected(bot, alice):
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(alice.id, "x", reply_markup=button("d" * 65))


async def test_callback_data_counts_utf8_bytes(bot, alice):
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(alice.id, "x", reply_markup=button("\u00e9" * 33))


@pytest.mark.parametrize(
    ("markup", "reason"),
    [
        ('{"inline_keyboard": [[{"text": "", "callback_data": "a"}]]}', "non-empty text"),
        ('{"inline_keyboard": [[{"text": "x"}]]}', "Text buttons are unallowed"),
        ('{"inline_keyboard": [[{"text": "x", "url": "javascript:alert(1)"}]]}', "Wrong HTTP URL"),
        ('{"inline_keyboard": {"text": "x"}}', "can't parse reply keyboard markup"),
        ("not json", "can't parse reply keyboard markup"),
    ],
)
async def test_reply_markup_errors(emu, token, alice, markup, reason):
    url = f"{emu.base_url}/bot{token}/sendMessage"
    form = {"chat_id": str(alice.id), "text": "x", "reply_markup": markup}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=form) as response:
            body = await response.json()
    assert response.status == 400
    assert reason in body["description"]


async def test_url_button_accepted(bot, alice):
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Map", url="https://popup.com/e42")]]
    )
    sent = await bot.send_message(alice.id, "x", reply_markup=markup)
    assert sent.reply_markup.inline_keyboard[0][0].url == "https://popup.com/e42"
