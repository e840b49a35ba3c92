"""Driving the emulator from a test: users, groups, deep links, buttons, waiting and reset."""

import pytest

from bot.emulator import BotAPIEmulator


def last_update(emu: BotAPIEmulator) -> dict:
    return emu.updates.pending[-1]


def test_start_payload_in_text(emu, alice):
    emu.send_start(alice, "e42-A_b")
    message = last_update(emu)["message"]
    assert message["text"] == "/start e42-A_b"
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]


def test_start_without_payload(emu, alice):
    emu.send_start(alice)
    assert last_update(emu)["message"]["text"] == "/start"


@pytest.mark.parametrize("payload", ["a" * 65, "has space", "umlaut-\u00e4", "dot.dot", "a+b"])
def test_start_payload_rejected(emu, alice, payload):
    with pytest.raises(ValueError, match="Invalid start payload"):
        emu.send_start(alice, payload)


def test_start_payload_64_chars(emu, alice):
    emu.send_start(alice, "a" * 64)
    assert last_update(emu)["message"]["text"] == "/start " + "a" * 64


def test_command_with_bot_username(emu, alice, organisers):
    emu.send_text(alice, "/announce@micropop_bot now", chat=organisers)
    message = last_update(emu)["message"]
    assert message["entities"][0]["length"] == len("/announce@micropop_bot")
    assert message["chat"]["id"] == organisers.id


def test_plain_text_has_no_entities(emu, alice):
    emu.send_text(alice, "hello /start")
    assert "entities" not in last_update(emu)["message"]


def test_group_message_makes_member(emu, alice, organisers):
    emu.send_text(alice, "hi", chat=organisers)
    assert emu.state.chats[organisers.id].members[alice.id] == {"status": "member"}


def test_sender_chat_and_automatic_forward(emu, alice, organisers):
    channel = emu.group(-1009, "News", type="channel")
    emu.send_text(alice, "post", chat=organisers, sender_chat=channel, is_automatic_forward=True)
    message = last_update(emu)["message"]
    assert message["sender_chat"]["id"] == channel.id
    assert message["is_automatic_forward"] is True


def test_send_photo_with_unique_id(emu, alice):
    emu.send_photo(alice, caption="receipt", file_unique_id="UNIQ1")
    message = last_update(emu)["message"]
    assert message["photo"][-1]["file_unique_id"] == "UNIQ1"
    assert message["caption"] == "receipt"


def test_message_ids_shared_in_chat(emu, alice):
    emu.send_text(alice, "one")
    emu.send_text(alice, "two")
    ids = [message["message_id"] for message in emu.messages(alice.id, include_incoming=True)]
    assert ids == [1, 2]


def test_unknown_chat_raises(emu, alice):
    with pytest.raises(KeyError, match="Unknown chat 77"):
        emu.send_text(alice, "x", chat=77)


def test_inject_update_keeps_given_id(emu, alice):
    update_id = emu.inject_update({"update_id": 500, "message": {"text": "raw"}})
    assert update_id == 500
    assert emu.send_text(alice, "next") == 501


async def test_press_button_update(bot, emu, alice):
    await bot.send_message(alice.id, "Claim?")
    message = emu.messages(alice.id)[0]
    emu.press_button(alice, message, "claim:7")
    query = last_update(emu)["callback_query"]
    assert query["data"] == "claim:7"
    assert query["from"]["id"] == alice.id
    assert query["message"]["message_id"] == message["message_id"]


async def test_wait_for_message_matches(bot, emu, alice):
    await bot.send_message(alice.id, "first")
    await bot.send_message(alice.id, "second")
    found = await emu.wait_for_message(alice.id, lambda message: message["text"] == "second")
    assert found["text"] == "second"


async def test_wait_for_message_timeout_lists_texts(bot, emu, alice):
    await bot.send_message(alice.id, "only this")
    with pytest.raises(TimeoutError, match=r"Messages: \[.only this.\]"):
        await emu.wait_for_message(alice.id, lambda message: "never" in message["text"], 0.2)


async def test_reset_forgets_everything(bot, emu, alice):
    await bot.send_message(alice.id, "before")
    emu.faults.add(kind="blocked")
    emu.reset()

    assert emu.calls == []
    assert emu.messages() == []
    assert emu.faults.rules == []
    assert emu.state.users == {}


def test_host_must_be_loopback():
    with pytest.raises(ValueError, match="binds only to 127.0.0.1"):
        BotAPIEmulator(host="0.0.0.0")


def test_base_url_needs_start():
    with pytest.raises(RuntimeError, match="call start"):
        _ = BotAPIEmulator().base_url
