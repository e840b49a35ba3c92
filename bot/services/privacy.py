"""Attendees' personal data: deleted at once by /forget, purged some days after an event ends.

Personal data here is what identifies or reaches a person: the display name, the username, the
Telegram user id, the private chat id and the language. The attendee row itself stays with
those columns cleared, so the night's claims, prints and delivery figures still add up. The
export then shows such an attendee only as a number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database
from bot.db.models import (
    Announcement,
    Attendee,
    AuditEntry,
    Delivery,
    DeliveryStatus,
    EphemeralMessage,
    Event,
    WaitlistEntry,
)
from bot.db.types import utcnow
from bot.services.ephemeral import DELETE_WINDOW

logger = logging.getLogger(__name__)

CLEARED = {
    "telegram_user_id": None,
    "chat_id": None,
    "display_name": "",
    "username": None,
    "language": "",
}
# Audit entries of console commands typed outside the organiser group come from attendees.
OUTSIDER_RESULT = "rejected"
UNSENT = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


@dataclass(frozen=True)
class Forgotten:
    """The outcome of /forget, with the messages the Telegram layer should delete now."""

    attendees: int
    deliveries: int
    audit_entries: int
    messages: tuple[tuple[int, int], ...]  # (chat_id, message_id) of ephemeral messages


@dataclass(frozen=True)
class Purged:
    events: int
    attendees: int
    deliveries: int
    audit_entries: int


async def forget(db: Database, telegram_user_id: int, *, now: datetime | None = None) -> Forgotten:
    """Delete a person's personal data from every event at once; their claims stay anonymised.

    Deliveries not yet sent to them expire. Their ephemeral messages are removed from the
    table and returned, so the caller can delete them from the chat.
    """
    now = now or utcnow()
    async with db.transaction() as session:
        rows = await session.execute(
            select(Attendee.id, Attendee.chat_id).where(
                Attendee.telegram_user_id == telegram_user_id
            )
        )
        attendee_ids, chat_ids = set(), {telegram_user_id}
        for attendee_id, chat_id in rows:
            attendee_ids.add(attendee_id)
            if chat_id is not None:
                chat_ids.add(chat_id)

        selected = Attendee.id.in_(attendee_ids)
        await session.execute(update(Attendee).where(selected).values(forgotten_at=now))
        attendees, deliveries = await _anonymise(session, selected)
        messages = await _drop_ephemeral(session, chat_ids)
        audit_entries = await _anonymise_audit(
            session, AuditEntry.actor_user_id == telegram_user_id
        )
    logger.info(
        "Attendee data forgotten: attendees=%s deliveries=%s audit_entries=%s messages=%s",
        attendees,
        deliveries,
        audit_entries,
        len(messages),
    )
    return Forgotten(attendees, deliveries, audit_entries, messages)


def purge_deadline(event: Event, after_days: int) -> datetime:
    """Return when an event's personal data is purged: `after_days` after the event ends.

    An event without an end time ends at its start time, and one without either at its creation.
    """
    # NOTE: an event run without /when counts from its creation, so its data may go while the
    # event is still in use if it was created more than `after_days` before the night.
    ended = event.ends_at or event.starts_at or event.created_at
    return ended + timedelta(days=after_days)


async def purge_expired(db: Database, *, after_days: int, now: datetime | None = None) -> Purged:
    """Anonymise every attendee of events that ended more than `after_days` ago.

    Runs again over the same events each time, so a person who arrives at an old event after
    its purge is anonymised on the next run. Audit entries of outsiders older than
    `after_days` are anonymised too.
    """
    now = now or utcnow()
    async with db.transaction() as session:
        events = (await session.scalars(select(Event))).all()
        expired = [event for event in events if purge_deadline(event, after_days) <= now]
        attendees = deliveries = 0
        for event in expired:
            counted = await _anonymise(session, Attendee.event_id == event.id)
            attendees += counted[0]
            deliveries += counted[1] + await _clear_event_chats(session, event.id)
            if event.purged_at is None:
                event.purged_at = now
        cutoff = now - timedelta(days=after_days)
        audit_entries = await _anonymise_audit(session, AuditEntry.at < cutoff)
        stale = await _drop_undeletable(session, now)
    purged = Purged(len(expired), attendees, deliveries, audit_entries)
    if stale:
        # The deleter runs every half minute, so this only happens after a long outage.
        logger.warning(
            "Ephemeral messages past Telegram's deletion window dropped: count=%s", stale
        )
    if attendees or deliveries or audit_entries:
        logger.info(
            "Personal data purged: events=%s attendees=%s deliveries=%s audit_entries=%s",
            purged.events,
            attendees,
            deliveries,
            audit_entries,
        )
    return purged


async def _anonymise(session: AsyncSession, selected) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Clear the personal columns of the selected attendees and their deliveries' chat ids."""
    attendee_ids = select(Attendee.id).where(selected).scalar_subquery()
    identifiable = or_(
        Attendee.telegram_user_id.is_not(None),
        Attendee.chat_id.is_not(None),
        Attendee.display_name != "",
        Attendee.username.is_not(None),
        Attendee.language != "",
    )
    attendees = await session.execute(
        update(Attendee)
        .where(selected, identifiable)
        .values(**CLEARED, subscribed=False)
        .execution_options(synchronize_session=False)
    )
    # Unsent deliveries cannot go anywhere without a chat id: they expire first.
    await session.execute(
        update(Delivery)
        .where(Delivery.attendee_id.in_(attendee_ids), Delivery.status.in_(UNSENT))
        .values(status=DeliveryStatus.EXPIRED, error="attendee data deleted")
        .execution_options(synchronize_session=False)
    )
    deliveries = await session.execute(
        update(Delivery)
        .where(Delivery.attendee_id.in_(attendee_ids), Delivery.chat_id.is_not(None))
        .values(chat_id=None)
        .execution_options(synchronize_session=False)
    )
    # A unit cannot be offered without a chat, so the waiting list passes to the others.
    await session.execute(
        delete(WaitlistEntry)
        .where(WaitlistEntry.attendee_id.in_(attendee_ids), WaitlistEntry.status == "waiting")
        .execution_options(synchronize_session=False)
    )
    return attendees.rowcount or 0, deliveries.rowcount or 0


async def _clear_event_chats(session: AsyncSession, event_id: int) -> int:
    """Clear chat ids left on the event's deliveries whatever their attendee link."""
    announcement_ids = select(Announcement.id).where(Announcement.event_id == event_id)
    result = await session.execute(
        update(Delivery)
        .where(Delivery.announcement_id.in_(announcement_ids), Delivery.chat_id.is_not(None))
        .values(chat_id=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def _drop_ephemeral(
    session: AsyncSession, chat_ids: set[int]
) -> tuple[tuple[int, int], ...]:
    rows = await session.execute(
        select(EphemeralMessage.chat_id, EphemeralMessage.message_id).where(
            EphemeralMessage.chat_id.in_(chat_ids)
        )
    )
    messages = tuple((chat_id, message_id) for chat_id, message_id in rows)
    await session.execute(
        delete(EphemeralMessage)
        .where(EphemeralMessage.chat_id.in_(chat_ids))
        .execution_options(synchronize_session=False)
    )
    return messages


async def _drop_undeletable(session: AsyncSession, now: datetime) -> int:
    """Forget ephemeral messages that Telegram no longer lets the bot delete."""
    result = await session.execute(
        delete(EphemeralMessage)
        .where(EphemeralMessage.sent_at < now - DELETE_WINDOW)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def _anonymise_audit(session: AsyncSession, condition) -> int:  # type: ignore[no-untyped-def]
    """Clear who typed console commands outside the organiser group, and what they typed."""
    result = await session.execute(
        update(AuditEntry)
        .where(
            condition,
            AuditEntry.result == OUTSIDER_RESULT,
            or_(AuditEntry.actor_user_id.is_not(None), AuditEntry.chat_id.is_not(None)),
        )
        .values(actor_user_id=None, actor_name="", chat_id=None, detail="")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0
