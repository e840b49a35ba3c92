"""/forget end to end: confirmation first, then no trace of the person in any table."""

from __future__ import annotations

from bot.services import attendees, events
from bot.services.events import EventFields
from tests.bot.privacy_traces import personal_traces
from tests.bot.telegram.stage_helpers import button, claim, live_drop

ZORA = 7_000_000_401
BOB = 7_000_000_402


async def zora_traces(stage) -> list[str]:
    return await personal_traces(stage.bot.db, numbers=[ZORA], words=["Zora Quintessa", "zoraq"])


async def ask_to_forget(stage, user) -> dict:
    stage.emulator.send_text(user, "/forget")
    return await stage.emulator.wait_for_message(user.id, lambda m: button(m, "fg:yes"))


async def outcome_shown(stage, user_id: int, confirmation: dict) -> dict:
    """Wait until the confirmation message is replaced by the outcome."""
    return await stage.emulator.wait_for_message(
        user_id, lambda m: m["message_id"] == confirmation["message_id"] and "edit_date" in m
    )


async def joined(stage, user_id: int, name: str, username: str):
    await events.create_event(stage.bot.db, EventFields(title="Spring night"))
    user = stage.emulator.user(user_id, name, last_name="Quintessa", username=username)
    stage.emulator.send_start(user)
    await stage.emulator.wait_for_message(user_id, lambda m: "Spring night" in m.get("text", ""))
    return user


async def test_forget_asks_before_deleting(stage):
    zora = await joined(stage, ZORA, "Zora", "zoraq")

    confirmation = await ask_to_forget(stage, zora)

    assert button(confirmation, "fg:no") == "fg:no"
    assert await zora_traces(stage) != []


async def test_forget_confirmed_leaves_no_trace(stage):
    drop = await live_drop(stage)
    zora = stage.emulator.user(ZORA, "Zora", last_name="Quintessa", username="zoraq")
    receipt = await claim(stage, zora, drop.id)
    confirmation = await ask_to_forget(stage, zora)

    stage.emulator.press_button(zora, confirmation, "fg:yes")
    await outcome_shown(stage, ZORA, confirmation)

    assert await zora_traces(stage) == []
    assert receipt["message_id"] not in {m["message_id"] for m in stage.emulator.messages(ZORA)}


async def test_forget_reply_has_no_buttons(stage):
    zora = await joined(stage, ZORA, "Zora", "zoraq")
    confirmation = await ask_to_forget(stage, zora)

    stage.emulator.press_button(zora, confirmation, "fg:yes")
    edited = await outcome_shown(stage, ZORA, confirmation)

    assert edited["text"] == "Your data is deleted. Send /start if you want to join again."
    assert "reply_markup" not in edited


async def test_keep_changes_nothing(stage):
    zora = await joined(stage, ZORA, "Zora", "zoraq")
    confirmation = await ask_to_forget(stage, zora)

    stage.emulator.press_button(zora, confirmation, "fg:no")
    kept = await outcome_shown(stage, ZORA, confirmation)

    assert kept["text"] == "Nothing was deleted."

    event = await events.active_event(stage.bot.db)
    assert await attendees.find(stage.bot.db, event.id, ZORA) is not None


async def test_press_by_other_user_forgets_only_them(stage):
    zora = await joined(stage, ZORA, "Zora", "zoraq")
    bob = stage.emulator.user(BOB, "Bob")
    confirmation = await ask_to_forget(stage, zora)

    # A modified client can press a button under someone else's message.
    stage.emulator.press_button(bob, confirmation, "fg:yes")
    await stage.emulator.wait_for(lambda: stage.emulator.calls_to("answerCallbackQuery"))
    await stage.emulator.wait_for(lambda: stage.emulator.calls_to("editMessageText"))

    assert await zora_traces(stage) != []


async def test_forget_without_data_says_so(stage):
    await events.create_event(stage.bot.db, EventFields(title="Spring night"))
    bob = stage.emulator.user(BOB, "Bob")
    confirmation = await ask_to_forget(stage, bob)

    stage.emulator.press_button(bob, confirmation, "fg:yes")

    reply = await outcome_shown(stage, BOB, confirmation)
    assert reply["text"] == "micropop holds no data about you."


async def test_start_after_forget_joins_again(stage):
    zora = await joined(stage, ZORA, "Zora", "zoraq")
    confirmation = await ask_to_forget(stage, zora)
    stage.emulator.press_button(zora, confirmation, "fg:yes")
    await outcome_shown(stage, ZORA, confirmation)

    stage.emulator.send_start(zora)
    await stage.emulator.wait_for(
        lambda: (
            sum("Spring night" in m.get("text", "") for m in stage.emulator.messages(ZORA)) == 2
        )
    )

    event = await events.active_event(stage.bot.db)
    again = await attendees.find(stage.bot.db, event.id, ZORA)
    assert again is not None
    assert again.subscribed is True
