"""Every emulated method called by a real aiogram Bot, whose own types validate each response."""

import io

import aiohttp
import pytest
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BufferedInputFile,
    ChatMemberAdministrator,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
)
from PIL import Image


def keyboard(*data: str) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(text=f"button {item}", callback_data=item) for item in data]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


async def test_get_me_uses_token_id(bot, bot_id):
    me = await bot.get_me()
    assert me.id == bot_id
    assert me.username == "micropop_bot"
    assert me.is_bot


async def test_send_message_records_call(bot, emu, alice):
    sent = await bot.send_message(alice.id, "Doors open at 19:00", reply_markup=keyboard("a"))

    call = emu.calls_to("sendMessage")[-1]
    assert call.params["text"] == "Doors open at 19:00"
    assert call.chat_id == alice.id
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "a"
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "a"


async def test_send_message_stores_message(bot, emu, alice):
    sent = await bot.send_message(alice.id, "hello")

    stored = emu.messages(alice.id)
    assert [message["text"] for message in stored] == ["hello"]
    assert stored[0]["message_id"] == sent.message_id


async def test_send_message_unknown_chat(bot):
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(424242, "hello")


async def test_reply_to_message(bot, alice):
    first = await bot.send_message(alice.id, "first")
    reply = await bot.send_message(
        alice.id, "second", reply_parameters=ReplyParameters(message_id=first.message_id)
    )
    assert reply.reply_to_message.message_id == first.message_id


async def test_reply_to_missing_message(bot, alice):
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(alice.id, "x", reply_parameters=ReplyParameters(message_id=99))


async def test_send_photo_upload(bot, emu, alice, png):
    sent = await bot.send_photo(alice.id, BufferedInputFile(png, "map.png"), caption="Map")

    largest = sent.photo[-1]
    assert (largest.width, largest.height) == (640, 480)
    assert sent.caption == "Map"
    assert emu.calls_to("sendPhoto")[-1].files
    assert next(iter(emu.calls_to("sendPhoto")[-1].files.values())).data == png


async def test_send_photo_by_file_id(bot, alice, png):
    first = await bot.send_photo(alice.id, BufferedInputFile(png, "map.png"))
    again = await bot.send_photo(alice.id, first.photo[-1].file_id)
    assert again.photo[-1].file_unique_id == first.photo[-1].file_unique_id


async def test_send_photo_unknown_file_id(bot, alice):
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(alice.id, "no-such-file")


async def test_send_photo_not_an_image(bot, alice):
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(alice.id, BufferedInputFile(b"not an image", "x.png"))


async def test_send_document_and_download(bot, alice):
    sent = await bot.send_document(alice.id, BufferedInputFile(b"a,b\n1,2\n", "night.csv"))
    file = await bot.get_file(sent.document.file_id)
    downloaded = await bot.download_file(file.file_path)

    assert sent.document.file_name == "night.csv"
    assert sent.document.mime_type == "text/csv"
    assert downloaded.read() == b"a,b\n1,2\n"


async def test_get_file_unknown_id(bot):
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("missing")


async def test_file_download_unknown_path(emu, token):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{emu.base_url}/file/bot{token}/photos/none.jpg") as response:
            assert response.status == 404


async def test_edit_message_text(bot, emu, alice):
    sent = await bot.send_message(alice.id, "3 left", reply_markup=keyboard("claim"))
    edited = await bot.edit_message_text("2 left", chat_id=alice.id, message_id=sent.message_id)

    assert edited.text == "2 left"
    assert edited.edit_date is not None
    assert emu.messages(alice.id)[0]["text"] == "2 left"
    assert "reply_markup" not in emu.messages(alice.id)[0]


async def test_edit_not_modified(bot, alice):
    sent = await bot.send_message(alice.id, "same")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("same", chat_id=alice.id, message_id=sent.message_id)


async def test_edit_missing_message(bot, alice):
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=alice.id, message_id=777)


async def test_edit_incoming_message(bot, emu, alice):
    emu.send_text(alice, "mine")
    incoming = emu.messages(alice.id, include_incoming=True)[0]
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("x", chat_id=alice.id, message_id=incoming["message_id"])


async def test_edit_reply_markup(bot, emu, alice):
    sent = await bot.send_message(alice.id, "Drop", reply_markup=keyboard("a"))
    edited = await bot.edit_message_reply_markup(
        chat_id=alice.id, message_id=sent.message_id, reply_markup=keyboard("b")
    )
    assert edited.reply_markup.inline_keyboard[0][0].callback_data == "b"
    assert emu.messages(alice.id)[0]["reply_markup"]["inline_keyboard"][0][0]["text"] == "button b"


async def test_edit_reply_markup_not_modified(bot, alice):
    sent = await bot.send_message(alice.id, "Drop", reply_markup=keyboard("a"))
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=alice.id, message_id=sent.message_id, reply_markup=keyboard("a")
        )


async def test_edit_caption(bot, alice, png):
    sent = await bot.send_photo(alice.id, BufferedInputFile(png, "p.png"), caption="old")
    edited = await bot.edit_message_caption(
        chat_id=alice.id, message_id=sent.message_id, caption="<i>new</i>", parse_mode="HTML"
    )
    assert edited.caption == "new"
    assert edited.caption_entities[0].type == "italic"


async def test_edit_caption_of_text_message(bot, alice):
    sent = await bot.send_message(alice.id, "text")
    with pytest.raises(TelegramBadRequest, match="no caption in the message"):
        await bot.edit_message_caption(chat_id=alice.id, message_id=sent.message_id, caption="c")


async def test_delete_message(bot, emu, alice):
    sent = await bot.send_message(alice.id, "gone soon")
    assert await bot.delete_message(alice.id, sent.message_id)
    assert emu.messages(alice.id) == []


async def test_delete_missing_message(bot, alice):
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(alice.id, 555)


async def test_answer_callback_query(bot, emu, alice):
    sent = await bot.send_message(alice.id, "Claim?", reply_markup=keyboard("claim"))
    emu.press_button(alice, emu.messages(alice.id)[0], "claim")
    updates = await bot.get_updates()
    query = updates[-1].callback_query

    assert query.data == "claim"
    assert query.message.message_id == sent.message_id
    assert await bot.answer_callback_query(query.id, text="Claimed")
    assert emu.state.callback_queries[query.id]["answer"] == {"text": "Claimed"}


async def test_answer_callback_query_twice(bot, emu, alice):
    await bot.send_message(alice.id, "Claim?", reply_markup=keyboard("claim"))
    emu.press_button(alice, emu.messages(alice.id)[0], "claim")
    query = (await bot.get_updates())[-1].callback_query
    await bot.answer_callback_query(query.id)
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query(query.id)


async def test_get_chat_group(bot, organisers):
    chat = await bot.get_chat(organisers.id)
    assert chat.title == "Organisers"
    assert chat.type == "supergroup"


async def test_get_chat_private(bot, bob):
    chat = await bot.get_chat(bob.id)
    assert chat.first_name == "Bob"
    assert chat.last_name == "Builder"


@pytest.mark.parametrize(
    ("status", "expected_type"),
    [
        ("creator", ChatMemberOwner),
        ("administrator", ChatMemberAdministrator),
        ("member", ChatMemberMember),
        ("restricted", ChatMemberRestricted),
        ("left", ChatMemberLeft),
    ],
)
async def test_get_chat_member_statuses(bot, emu, alice, organisers, status, expected_type):
    emu.set_member(organisers, alice, status)
    member = await bot.get_chat_member(organisers.id, alice.id)
    assert isinstance(member, expected_type)


async def test_get_chat_member_banned(bot, emu, alice, organisers):
    emu.set_member(organisers, alice, "kicked", until_date=0)
    member = await bot.get_chat_member(organisers.id, alice.id)
    assert member.status == "kicked"


async def test_get_chat_member_default_left(bot, alice, organisers):
    member = await bot.get_chat_member(organisers.id, alice.id)
    assert member.status == "left"


async def test_get_chat_member_bot_is_admin(bot, bot_id, organisers):
    member = await bot.get_chat_member(organisers.id, bot_id)
    assert member.status == "administrator"


async def test_get_chat_member_private(bot, alice):
    member = await bot.get_chat_member(alice.id, alice.id)
    assert member.status == "member"


async def test_get_chat_administrators(bot, emu, bot_id, alice, bob, organisers):
    emu.set_member(organisers, alice, "creator")
    emu.set_member(organisers, bob, "member")
    admins = await bot.get_chat_administrators(organisers.id)
    assert {admin.user.id for admin in admins} == {alice.id, bot_id}


async def test_get_chat_administrators_private(bot, alice):
    with pytest.raises(TelegramBadRequest, match="no administrators in the private chat"):
        await bot.get_chat_administrators(alice.id)


async def test_send_location(bot, alice):
    sent = await bot.send_location(alice.id, latitude=52.52, longitude=13.405)
    assert sent.location.latitude == pytest.approx(52.52)


async def test_send_location_invalid_latitude(bot, alice):
    with pytest.raises(TelegramBadRequest, match="wrong latitude"):
        await bot.send_location(alice.id, latitude=91, longitude=0)


async def test_send_venue(bot, alice):
    sent = await bot.send_venue(
        alice.id, latitude=52.5, longitude=13.4, title="Back room", address="Hof 2"
    )
    assert sent.venue.title == "Back room"
    assert sent.venue.address == "Hof 2"


async def test_pin_and_unpin(bot, emu, organisers):
    sent = await bot.send_message(organisers.id, "Run sheet")
    assert await bot.pin_chat_message(organisers.id, sent.message_id)
    pinned = (await bot.get_chat(organisers.id)).pinned_message
    assert pinned.message_id == sent.message_id
    assert await bot.unpin_chat_message(organisers.id, message_id=sent.message_id)
    assert emu.state.chats[organisers.id].pinned == []


async def test_pin_missing_message(bot, organisers):
    with pytest.raises(TelegramBadRequest, match="message to pin not found"):
        await bot.pin_chat_message(organisers.id, 404)


async def test_send_chat_action(bot, emu, alice):
    assert await bot.send_chat_action(alice.id, ChatAction.TYPING)
    assert emu.state.chats[alice.id].actions == ["typing"]


async def test_send_chat_action_invalid(bot, alice):
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        await bot.send_chat_action(alice.id, "dancing")


async def test_commands_per_scope(bot):
    group_scope = BotCommandScopeAllGroupChats()
    await bot.set_my_commands([BotCommand(command="start", description="Begin")])
    await bot.set_my_commands(
        [BotCommand(command="announce", description="Announce now")], scope=group_scope
    )

    assert [command.command for command in await bot.get_my_commands()] == ["start"]
    group_commands = await bot.get_my_commands(scope=group_scope)
    assert [command.command for command in group_commands] == ["announce"]
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == []


async def test_set_commands_invalid_name(bot):
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Not Valid", description="x")])


async def test_unknown_method_not_found(emu, token):
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{emu.base_url}/bot{token}/sendHologram") as response:
            body = await response.json()
    assert response.status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_malformed_token_unauthorized(emu):
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{emu.base_url}/botnot-a-token/getMe") as response:
            assert response.status == 401


async def test_urlencoded_and_json_bodies(emu, token, alice):
    url = f"{emu.base_url}/bot{token}/sendMessage"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data={"chat_id": str(alice.id), "text": "form"}) as first:
            assert (await first.json())["ok"]
        async with session.post(url, json={"chat_id": alice.id, "text": "json"}) as second:
            assert (await second.json())["ok"]
    assert [message["text"] for message in emu.messages(alice.id)] == ["form", "json"]


async def test_send_photo_invalid_dimensions(bot, alice):
    buffer = io.BytesIO()
    Image.new("RGB", (2100, 100)).save(buffer, format="PNG")
    with pytest.raises(TelegramBadRequest, match="PHOTO_INVALID_DIMENSIONS"):
        await bot.send_photo(alice.id, BufferedInputFile(buffer.getvalue(), "wide.png"))


def test_messages_of_unknown_chat_empty(emu):
    assert emu.messages(999) == []
