"""Organiser event set-up end to end: event, venue, location, times, points and the map."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.services import events
from bot.services.views import EventView
from bot.telegram.factory import create_i18n
from bot.telegram.venue_map import map_methods
from bot.textsplit import utf16_len
from tests.bot.telegram import console_helpers
from tests.bot.telegram.console_helpers import bot_messages, handled, one_reply, say, shown

console = console_helpers.console


async def active(stage):
    return await events.active_event(stage.bot.db)


async def send_map_photo(stage, caption: str, unique_id: str) -> list[dict]:
    chat_id = stage.organisers.id
    before = len(bot_messages(stage, chat_id))
    stage.emulator.send_photo(
        stage.organiser, chat=stage.organisers, caption=caption, file_unique_id=unique_id
    )
    return await stage.emulator.wait_for(lambda: bot_messages(stage, chat_id)[before:])


async def test_event_created_in_settings_zone(console):
    reply = await one_reply(console, "/event Spring night")

    event = await active(console)
    assert reply.startswith("Event created.")
    assert event.title == "Spring night"
    assert event.time_zone == console.bot.settings.time_zone


async def test_event_again_renames(console):
    await one_reply(console, "/event Spring night")

    await one_reply(console, "/event Summer night")

    event = await active(console)
    assert (event.id, event.title) == (1, "Summer night")


async def test_event_without_title_shows_summary(console):
    await one_reply(console, "/event Spring night")

    reply = await one_reply(console, "/event")

    assert reply.startswith("Current event.")
    assert "Spring night (#1)" in reply


async def test_event_summary_without_event_explains(console):
    reply = await one_reply(console, "/event")

    assert reply == "⚠️ No event is set up yet: create one with /event TITLE"


async def test_new_event_starts_another(console):
    await one_reply(console, "/event Spring night")

    await one_reply(console, "/newevent Summer night")

    assert (await active(console)).id == 2


async def test_venue_name_and_address(console):
    await one_reply(console, "/event Spring night")

    reply = await one_reply(console, "/venue Hall <7> | Alexanderplatz 1, Berlin")

    event = await active(console)
    assert (event.venue_name, event.venue_address) == ("Hall <7>", "Alexanderplatz 1, Berlin")
    assert "Venue: Hall <7>, Alexanderplatz 1, Berlin" in reply


async def test_venue_without_name_rejected(console):
    await one_reply(console, "/event Spring night")

    reply = await one_reply(console, "/venue | Somewhere")

    assert reply.startswith("⚠️ Missing venue name: use /venue NAME | ADDRESS")


async def test_location_from_command(console):
    await one_reply(console, "/event Spring night")

    await one_reply(console, "/location 52.5219, 13.4132")

    event = await active(console)
    assert (event.latitude, event.longitude) == (52.5219, 13.4132)


async def test_location_invalid_names_value(console):
    await one_reply(console, "/event Spring night")

    reply = await one_reply(console, "/location north")

    assert reply.startswith('⚠️ Invalid location "north": use /location LAT LON')


async def test_location_out_of_range(console):
    await one_reply(console, "/event Spring night")

    reply = await one_reply(console, "/location 100 13")

    assert reply == "⚠️ Invalid latitude 100.0: use -90 to 90"


async def test_shared_location_sets_position(console):
    await one_reply(console, "/event Spring night")
    group = console.emulator.state.chats[console.organisers.id]
    message = group.add_message(
        console.organiser.to_api(), location={"latitude": 48.1374, "longitude": 11.5755}
    )
    before = len(bot_messages(console, console.organisers.id))

    console.emulator.inject_update({"message": message})
    await console.emulator.wait_for(lambda: bot_messages(console, console.organisers.id)[before:])

    event = await active(console)
    assert (event.latitude, event.longitude) == (48.1374, 11.5755)


def venue_message(stage, sender, chat_id: int) -> dict:
    """Build a shared venue message as Telegram sends it, with the venue and its location."""
    position = {"latitude": 52.5008, "longitude": 13.4197}
    venue = {"location": position, "title": "Hall <7> & Bar", "address": "Oranienstr. 1, Berlin"}
    chat = stage.emulator.state.chats[chat_id]
    return chat.add_message(sender.to_api(), venue=venue, location=position)


async def test_shared_venue_sets_place(console):
    await one_reply(console, "/event Spring night")
    message = venue_message(console, console.organiser, console.organisers.id)
    before = len(bot_messages(console, console.organisers.id))

    console.emulator.inject_update({"message": message})
    replies = await console.emulator.wait_for(
        lambda: bot_messages(console, console.organisers.id)[before:]
    )

    event = await active(console)
    assert event.venue_name == "Hall <7> & Bar"
    assert event.venue_address == "Oranienstr. 1, Berlin"
    assert (event.latitude, event.longitude) == (52.5008, 13.4197)
    assert shown(replies[0]).startswith("Event updated.")
    assert "Venue: Hall <7> & Bar, Oranienstr. 1, Berlin" in shown(replies[0])


@pytest.mark.parametrize("where", ["other group", "guest private chat", "organiser private chat"])
async def test_shared_venue_elsewhere_changes_nothing(console, where):
    await one_reply(console, "/event Spring night")
    await one_reply(console, "/venue Old hall | Alexanderplatz 1, Berlin")
    await one_reply(console, "/location 52.5219, 13.4132")
    before = await active(console)
    organiser_messages = len(bot_messages(console, console.organisers.id))
    if where == "other group":
        sender = console.emulator.user(667, "Fan")
        chat_id = console.emulator.group(-1005550001, "Fans").id
    elif where == "guest private chat":
        sender = console.emulator.user(668, "Ada")
        chat_id = sender.id
    else:
        sender = console.organiser
        chat_id = sender.id

    update_id = console.emulator.inject_update(
        {"message": venue_message(console, sender, chat_id)}
    )
    await handled(console, update_id)

    assert await active(console) == before
    assert len(bot_messages(console, console.organisers.id)) == organiser_messages


async def test_time_zone_set(console):
    await one_reply(console, "/event Spring night")

    await one_reply(console, "/tz Europe/Berlin")

    assert (await active(console)).time_zone == "Europe/Berlin"


async def test_time_zone_unknown_rejected(console):
    await one_reply(console, "/event Spring night")

    reply = await one_reply(console, "/tz Mars/Olympus")

    assert reply == ('⚠️ Invalid time zone "Mars/Olympus": use an IANA name such as Europe/Berlin')


async def test_when_sets_times_in_event_zone(console):
    await one_reply(console, "/event Spring night")
    await one_reply(console, "/tz Europe/Berlin")

    reply = await one_reply(console, "/when 2027-01-15 19:00 01:00")

    event = await active(console)
    assert event.starts_at == datetime(2027, 1, 15, 18, 0, tzinfo=UTC)
    assert event.ends_at == datetime(2027, 1, 16, 0, 0, tzinfo=UTC)
    assert "Times: 2027-01-15 19:00 to 2027-01-16 01:00" in reply


async def test_when_invalid_names_value(console):
    await one_reply(console, "/event Spring night")

    reply = await one_reply(console, "/when 25:70 23:00")

    assert reply.startswith('⚠️ Invalid time "25:70": use YYYY-MM-DD HH:MM')


async def test_when_past_rejected_unchanged(console):
    await one_reply(console, "/event Spring night")
    await one_reply(console, "/tz Europe/Berlin")

    reply = await one_reply(console, "/when 2020-01-01 19:00 23:00")

    event = await active(console)
    assert reply.startswith('⚠️ Invalid times "2020-01-01 19:00 23:00": the event would be over')
    assert "use START END" in reply
    assert "(Europe/Berlin)" in reply
    assert event.starts_at is None
    assert event.ends_at is None


@pytest.mark.parametrize(("span", "hours"), [("19:00 02:00", 7), ("19:00 18:00", 23)])
async def test_when_end_before_start_says_next_day(console, span, hours):
    await one_reply(console, "/event Spring night")
    await one_reply(console, "/tz Europe/Berlin")

    reply = await one_reply(console, f"/when {span}")

    event = await active(console)
    end = span.split()[1]
    assert event.ends_at - event.starts_at == timedelta(hours=hours)
    assert "The event ends the next day, at " in reply
    assert reply.endswith(f" {end}.")


async def test_when_same_day_no_next_day_note(console):
    await one_reply(console, "/event Spring night")

    reply = await one_reply(console, "/when 2027-01-15 19:00 23:00")

    assert "next day" not in reply


async def test_points_added_listed_removed(console):
    await one_reply(console, "/event Spring night")

    added = await one_reply(console, "/poi Bar | Drinks & snacks")
    listed = await one_reply(console, "/pois")
    removed = await one_reply(console, "/unpoi 1")

    assert added == "Point of interest #1 added: Bar"
    assert "#1 Bar - Drinks & snacks" in listed
    assert removed == "Point of interest #1 removed: Bar"
    assert await events.list_points(console.bot.db, 1) == []


async def test_unknown_point_not_found(console):
    await one_reply(console, "/event Spring night")

    reply = await one_reply(console, "/unpoi 42")

    assert reply == "⚠️ Point 42 not found: list the points with /pois"


async def test_point_id_must_be_number(console):
    await one_reply(console, "/event Spring night")

    reply = await one_reply(console, "/unpoi bar")

    assert reply == '⚠️ Invalid point id "bar": use a number shown by /pois'


async def test_map_photo_stores_file_ids(console):
    await one_reply(console, "/event Spring night")

    (reply,) = await send_map_photo(console, "/map Entrance on the left", "AQADmap1")

    event = await active(console)
    group_messages = console.emulator.messages(console.organisers.id, include_incoming=True)
    sent_photo = next(m for m in group_messages if m.get("caption", "").startswith("/map"))
    assert shown(reply) == "Map saved. Attendees get it with /map."
    assert event.map_file_id == sent_photo["photo"][-1]["file_id"]
    assert event.map_file_unique_id == "AQADmap1"
    assert event.map_caption == "Entrance on the left"


async def test_same_map_picture_recognised(console):
    await one_reply(console, "/event Spring night")
    await send_map_photo(console, "/map", "AQADmap1")

    (reply,) = await send_map_photo(console, "/map", "AQADmap1")

    assert shown(reply) == "This picture is already the map."


async def test_attendee_map_sends_photo_venue_and_points(console):
    await one_reply(console, "/event Spring night")
    await one_reply(console, "/venue Hall 7 | Alexanderplatz 1")
    await one_reply(console, "/location 52.5219 13.4132")
    await one_reply(console, "/poi Bar | Drinks")
    await send_map_photo(console, "/map", "AQADmap1")
    ada = console.emulator.user(101, "Ada")
    uploads_before = sum(bool(c.files) for c in console.emulator.calls_to("sendPhoto"))

    photo, venue, points = await say(console, "/map", user=ada, chat=ada.id, count=3)

    event = await active(console)
    assert photo["photo"][-1]["file_unique_id"] == "AQADmap1"
    assert photo["caption"] == "Map of Spring night"
    assert venue["venue"]["title"] == "Hall 7"
    assert venue["location"] == {"latitude": 52.5219, "longitude": 13.4132}
    assert "Bar - Drinks" in points["text"]
    assert console.emulator.calls_to("sendPhoto")[-1].params["photo"] == event.map_file_id
    assert sum(bool(c.files) for c in console.emulator.calls_to("sendPhoto")) == uploads_before


async def test_map_caption_over_limit_continues_in_message(console):
    await one_reply(console, "/event Spring night")
    await send_map_photo(console, "/map", "AQADmap1")
    caption = ("Follow the lights to the courtyard. " * 29)[:1025]
    assert len(caption) == 1025
    # Saved, then the preview: the photo, the rest of the caption, the venue.
    await say(console, f"/map {caption}", count=4)
    ada = console.emulator.user(101, "Ada")

    photo, rest, _ = await say(console, "/map", user=ada, chat=ada.id, count=3)

    assert utf16_len(photo["caption"]) <= 1024
    assert photo["caption"].startswith("Map of Spring night\n\nFollow the lights")
    joined = " ".join((photo["caption"] + " " + rest["text"]).split())
    assert joined == " ".join(("Map of Spring night " + caption).split())


async def test_map_methods_without_coordinates_list_venue():
    event = EventView(
        id=1,
        title="Night",
        venue_name="Hall",
        venue_address="Street 1",
        latitude=None,
        longitude=None,
        time_zone="UTC",
        starts_at=None,
        ends_at=None,
        map_file_id=None,
        map_caption="",
    )

    i18n = create_i18n()
    with i18n.context(), i18n.use_locale("en"):
        methods = [build(5) for build in map_methods(event, [])]

    assert [type(method).__name__ for method in methods] == ["SendMessage", "SendMessage"]
    assert "Street 1" in methods[1].text
