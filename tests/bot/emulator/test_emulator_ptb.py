"""python-telegram-bot's Bot against the emulator, through base_url and base_file_url."""

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest


@pytest.fixture
async def ptb(emu, token):
    async with Bot(
        token, base_url=f"{emu.base_url}/bot", base_file_url=f"{emu.base_url}/file/bot"
    ) as ptb_bot:
        yield ptb_bot


async def test_ptb_get_me(ptb, bot_id):
    me = await ptb.get_me()
    assert me.id == bot_id
    assert me.username == "micropop_bot"


async def test_ptb_send_message(ptb, emu, alice):
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Claim", callback_data="claim:1")]])
    sent = await ptb.send_message(
        alice.id, "<b>Drop</b> at 20:00", parse_mode="HTML", reply_markup=markup
    )

    call = emu.calls_to("sendMessage")[-1]
    assert sent.text == "Drop at 20:00"
    assert call.params["chat_id"] == alice.id
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "claim:1"


async def test_ptb_sees_bad_request(ptb, alice):
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await ptb.send_message(alice.id, "1 < 2", parse_mode="HTML")
