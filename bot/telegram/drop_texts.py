"""Drop, claim and receipt texts: catalogue messages filled with escaped user data (HTML)."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiogram.utils.i18n import gettext as _

from bot.services.claims import ClaimOutcome, ClaimResult
from bot.services.drop_cards import DropCard, DropOverview
from bot.services.drop_stats import DropStats
from bot.services.holds import JoinOutcome, Notice
from bot.services.receipts import Receipt
from bot.telegram.texts import local_time, quote

# Telegram shows at most 64 characters of a button comfortably on a phone.
BUTTON_TITLE = 40


def time_left(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if delta.total_seconds() < 60:
        return _("under a minute")
    if minutes < 60:
        return _("{minutes} min").format(minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    return _("{hours} h {minutes} min").format(hours=hours, minutes=minutes)


def clock(moment: datetime, zone: str) -> str:
    return local_time(moment, zone).split(", ")[-1]


def drop_list(overview: DropOverview, now: datetime) -> str:
    if overview.event is None:
        return _("Nothing is on yet: the organisers have not set up an event.")
    if not overview.cards:
        return _("No drops are planned for {title} yet.").format(title=quote(overview.event.title))
    lines = [_("<b>Drops at {title}</b>").format(title=quote(overview.event.title)), ""]
    for card in overview.cards:
        lines.append(f"• <b>{quote(card.drop.title)}</b> - {_state(card, now)}")
        if card.claims:
            codes = ", ".join(claim.code for claim in card.claims if claim.status != "released")
            if codes:
                lines.append("  " + _("Your claims: {codes}").format(codes=codes))
    return "\n".join(lines)


def drop_card(card: DropCard, now: datetime) -> str:
    drop = card.drop
    lines = [f"<b>{quote(drop.title)}</b>"]
    if drop.description:
        lines.append(quote(drop.description))
    lines += ["", _state(card, now)]
    if not drop.cancelled:
        lines.append(
            _("Drops at {time}. Limit: {limit} per person.").format(
                time=clock(drop.starts_at, card.time_zone), limit=drop.per_person_limit
            )
        )
    for claim in card.claims:
        lines.append(_claim_line(claim.code, claim.status, claim.hold_expires_at, card.time_zone))
    if card.wait is not None:
        lines.append(_wait_line(card, now))
    return "\n".join(lines)


def _state(card: DropCard, now: datetime) -> str:
    drop = card.drop
    if drop.cancelled:
        return _("Cancelled.")
    if not drop.is_live(now):
        return _("Starts in {left}. {stock} available.").format(
            left=time_left(drop.time_left(now)), stock=drop.stock
        )
    if drop.remaining == 0:
        return _("Sold out.")
    return _("Live now: {remaining} of {stock} left.").format(
        remaining=drop.remaining, stock=drop.stock
    )


def _claim_line(code: str, status: str, hold_until: datetime | None, zone: str) -> str:
    if status == "collected":
        return _("✅ Claimed and collected: <code>{code}</code>").format(code=code)
    if status == "released":
        return _("⌛ Your claim <code>{code}</code> was not collected in time.").format(code=code)
    if hold_until is not None:
        return _("🎟 Your claim: <code>{code}</code>, collect it by {time}.").format(
            code=code, time=clock(hold_until, zone)
        )
    return _("🎟 Your claim: <code>{code}</code>").format(code=code)


def _wait_line(card: DropCard, now: datetime) -> str:
    wait = card.wait
    assert wait is not None
    if wait.status == "offered" and wait.offer_expires_at and wait.offer_expires_at > now:
        return _("A unit is set aside for you until {time}: press Take it.").format(
            time=clock(wait.offer_expires_at, card.time_zone)
        )
    if wait.status == "waiting":
        return _("You are on the waiting list.")
    return ""


def claim_answer(result: ClaimResult) -> str:
    """Return the answerCallbackQuery text for a claim press (Telegram allows 200 characters)."""
    outcome = result.outcome
    if outcome in (ClaimOutcome.CLAIMED, ClaimOutcome.REPLAYED):
        assert result.claim is not None
        return _("Claimed! Your code is {code}. The receipt follows.").format(
            code=result.claim.code
        )
    if outcome is ClaimOutcome.SOLD_OUT:
        if result.drop is not None and result.drop.waitlist:
            return _("Sold out. Join the waiting list to get a unit that is not collected.")
        return _("Sold out, sorry.")
    if outcome is ClaimOutcome.NOT_STARTED and result.drop is not None:
        left = result.drop.starts_at - datetime.now(result.drop.starts_at.tzinfo)
        return _("Not yet: the drop opens in {left}.").format(left=time_left(left))
    return {
        ClaimOutcome.LIMIT_REACHED: _("You already have as many as one person may claim."),
        ClaimOutcome.CANCELLED: _("This drop was cancelled."),
        ClaimOutcome.NOT_FOUND: _("This drop does not exist any more."),
        ClaimOutcome.NOT_REGISTERED: _("Send /start first to join tonight's event."),
        ClaimOutcome.NO_OFFER: _("This offer has expired or was passed on."),
    }.get(outcome, _("Not possible right now."))


def join_answer(outcome: JoinOutcome) -> str:
    return {
        JoinOutcome.JOINED: _("You are on the waiting list. We will message you."),
        JoinOutcome.ALREADY: _("You are already on the waiting list."),
        JoinOutcome.NOT_REGISTERED: _("Send /start first to join tonight's event."),
    }.get(outcome, _("The waiting list is not open for this drop."))


def reminders_answer(enabled: bool) -> str:
    return _("Reminders for this drop are on.") if enabled else _("No reminders for this drop.")


def receipt_caption(receipt: Receipt, zone: str) -> str:
    lines = [
        _("🎟 <b>{item}</b>").format(item=quote(receipt.drop_title)),
        _("Code: <code>{code}</code>").format(code=receipt.code),
        quote(receipt.event_title),
    ]
    lines.append(receipt_status(receipt, zone))
    return "\n".join(line for line in lines if line)


def receipt_status(receipt: Receipt, zone: str) -> str:
    if receipt.status == "collected" and receipt.collected_at is not None:
        return _("Collected at {time} by {name}.").format(
            time=clock(receipt.collected_at, zone), name=quote(receipt.collected_by or "?")
        )
    if receipt.status == "released":
        return _("Not collected in time: the unit went back to stock.")
    if receipt.hold_expires_at is not None:
        return _("Show this at the counter by {time}.").format(
            time=clock(receipt.hold_expires_at, zone)
        )
    return _("Show this at the counter to collect it.")


def receipt_for_organiser(receipt: Receipt, zone: str) -> str:
    return "\n".join(
        [
            _("Receipt <code>{code}</code>: <b>{item}</b>").format(
                code=receipt.code, item=quote(receipt.drop_title)
            ),
            _("Claimed by {name} at {time}.").format(
                name=quote(receipt.owner_name), time=clock(receipt.claimed_at, zone)
            ),
            receipt_status(receipt, zone),
        ]
    )


def receipt_not_yours() -> str:
    return _("This receipt belongs to someone else.")


def receipt_missing() -> str:
    return _("This receipt is not valid.")


def collected_answer(changed: bool) -> str:
    return _("Marked collected.") if changed else _("Already settled: nothing changed.")


def not_organiser() -> str:
    return _("Only organisers can do that.")


def status_board(stats: DropStats, zone: str) -> str:
    claimed = stats.held + stats.collected
    lines = [
        _("📦 <b>{title}</b>").format(title=quote(stats.title)),
        _("{remaining} of {stock} left, {claimed} claimed, {collected} collected.").format(
            remaining=stats.remaining,
            stock=stats.stock,
            claimed=claimed,
            collected=stats.collected,
        ),
    ]
    if stats.sold_out_at is not None:
        lines.append(_("Sold out at {time}.").format(time=clock(stats.sold_out_at, zone)))
    if stats.status == "cancelled":
        lines.append(_("Cancelled."))
    return "\n".join(lines)


def sold_out(title: str, after: timedelta, stock: int) -> str:
    return _("🔥 <b>{title}</b> sold out: {stock} claimed in {seconds} s.").format(
        title=quote(title), stock=stock, seconds=f"{after.total_seconds():.1f}"
    )


def hold_released(notice: Notice) -> str:
    return _(
        "⌛ Your claim <code>{code}</code> for <b>{title}</b> was not collected in time and "
        "went back to stock."
    ).format(code=notice.code or "", title=quote(notice.drop_title))


def offer_made(notice: Notice, zone: str) -> str:
    until = clock(notice.expires_at, zone) if notice.expires_at else "?"
    return _(
        "🎁 A unit of <b>{title}</b> is free for you until {time}. Press Take it to claim it."
    ).format(title=quote(notice.drop_title), time=until)


def offer_expired(notice: Notice) -> str:
    return _("Your offer for <b>{title}</b> expired and was passed on.").format(
        title=quote(notice.drop_title)
    )


def button_open(title: str) -> str:
    short = title if len(title) <= BUTTON_TITLE else title[: BUTTON_TITLE - 1] + "…"
    return "🛍 " + short


def button_claim() -> str:
    return _("Claim")


def button_refresh() -> str:
    return _("Refresh")


def button_reminders(enabled: bool) -> str:
    return _("🔔 Reminders on") if enabled else _("🔕 Reminders off")


def button_wait() -> str:
    return _("Join the waiting list")


def button_accept() -> str:
    return _("Take it")


def button_collect() -> str:
    return _("Mark collected")
