"""Drop-card and receipt buttons: ids only, within Telegram's 64-byte callback data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiogram.utils.i18n import I18n

from bot.db.types import MAX_ROW_ID
from bot.services.claims import ClaimView
from bot.services.drop_cards import DropCard, DropOverview, WaitView
from bot.services.drops import DropView
from bot.services.receipts import Receipt
from bot.telegram import drop_keyboards
from bot.telegram.factory import LOCALES_DIR

NOW = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)
TITLE = "Édition limitée – Çà et là, Größe XXL ✨ " * 4
BIG_ID = MAX_ROW_ID  # the largest id a button can carry


def drop(**overrides) -> DropView:
    values = {
        "id": BIG_ID,
        "event_id": 1,
        "title": TITLE,
        "description": "Ünïcödé",
        "starts_at": NOW,
        "stock": 50,
        "remaining": 10,
        "per_person_limit": 1,
        "status": "scheduled",
        "hold_minutes": 15,
        "waitlist": True,
        "sold_out_at": None,
        "status_message_id": None,
    }
    values.update(overrides)
    return DropView(**values)


def cards() -> list[DropCard]:
    claim = ClaimView(BIG_ID, BIG_ID, 1, 1, "ABC234", "held", NOW, None)
    return [
        DropCard(drop(starts_at=NOW + timedelta(hours=1)), "UTC", (), True, None, True),
        DropCard(drop(), "UTC", (claim,), True, None, True),
        DropCard(drop(remaining=0), "UTC", (), False, None, True),
        DropCard(drop(remaining=0), "UTC", (), True, WaitView("offered", NOW), True),
    ]


def all_buttons(markup):
    return [button for row in markup.inline_keyboard for button in row] if markup else []


def test_every_callback_data_fits_64_bytes():
    i18n = I18n(path=LOCALES_DIR, default_locale="de", domain="messages")
    receipt = Receipt(
        BIG_ID, "ABC234", "held", BIG_ID, TITLE, TITLE, 1, "Zoë", NOW, None, None, None, None
    )
    with i18n.context():
        markups = [drop_keyboards.drop_card(card, NOW) for card in cards()]
        markups.append(drop_keyboards.drop_list(DropOverview(None, tuple(cards()))))
        markups.append(drop_keyboards.receipt_actions(receipt))

    buttons = [button for markup in markups for button in all_buttons(markup)]
    assert len(buttons) >= 10
    for button in buttons:
        assert len(button.callback_data.encode()) <= 64, button.callback_data


def test_callback_data_carries_no_title():
    with I18n(path=LOCALES_DIR, default_locale="en", domain="messages").context():
        markup = drop_keyboards.drop_card(cards()[1], NOW)

    for button in all_buttons(markup):
        assert "É" not in button.callback_data


def test_live_card_has_claim_button():
    with I18n(path=LOCALES_DIR, default_locale="en", domain="messages").context():
        markup = drop_keyboards.drop_card(cards()[1], NOW)

    actions = [button.callback_data.split(":")[1] for button in all_buttons(markup)]
    assert actions == ["c", "r"]


def test_upcoming_card_has_no_claim_button():
    with I18n(path=LOCALES_DIR, default_locale="en", domain="messages").context():
        markup = drop_keyboards.drop_card(cards()[0], NOW)

    actions = [button.callback_data.split(":")[1] for button in all_buttons(markup)]
    assert actions == ["r", "m"]
