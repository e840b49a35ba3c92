"""Texts of /forget: the confirmation, its buttons and the outcome (HTML parse mode)."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _


def confirm_forget() -> str:
    return _(
        "Delete your data? micropop then removes your name, username, Telegram ids and "
        "language, and sends you no more announcements.\n\n"
        "Claims you made stay without your name, so the organisers can settle the night, "
        "but their receipts no longer open for you. Claim codes and countdowns in this chat "
        "are deleted too."
    )


def button_forget() -> str:
    return _("Delete my data")


def button_keep() -> str:
    return _("Keep my data")


def forgotten() -> str:
    return _("Your data is deleted. Send /start if you want to join again.")


def nothing_to_forget() -> str:
    return _("micropop holds no data about you.")


def kept() -> str:
    return _("Nothing was deleted.")
