"""Message catalogues: every text translated, compiled catalogues up to date."""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

LOCALES = Path(__file__).resolve().parents[3] / "bot" / "locales"


def catalogue(language: str):
    with open(LOCALES / language / "LC_MESSAGES" / "messages.po", "rb") as source:
        return read_po(source)


def compiled(language: str):
    with open(LOCALES / language / "LC_MESSAGES" / "messages.mo", "rb") as source:
        return read_mo(source)


def test_template_entries_all_in_german_catalogue():
    with open(LOCALES / "messages.pot", "rb") as source:
        template = {message.id for message in read_po(source) if message.id}

    german = {message.id for message in catalogue("de") if message.id}

    assert template - german == set()


def test_every_german_entry_translated():
    untranslated = [
        message.id for message in catalogue("de") if message.id and not message.string
    ]

    assert untranslated == []


def hashable(value):  # type: ignore[no-untyped-def]
    """Return a plural entry's forms as a tuple, so singular and plural entries compare alike."""
    return tuple(value) if isinstance(value, list | tuple) else value


def test_compiled_german_matches_source():
    source = {
        hashable(m.id): hashable(m.string)
        for m in catalogue("de")
        if m.id and m.string and not m.fuzzy
    }
    binary = {hashable(m.id): hashable(m.string) for m in compiled("de") if m.id}

    assert binary == source


def test_template_matches_source_code(tmp_path):
    from babel.messages.frontend import CommandLineInterface

    root = LOCALES.parents[1]
    fresh = tmp_path / "messages.pot"
    CommandLineInterface().run(
        ["pybabel", "-q", "extract", "-F", str(root / "babel.cfg"), "-k", "_", "-k", "__",
         "--no-location", "--omit-header", "-o", str(fresh), str(root)]
    )
    with open(fresh, "rb") as source:
        extracted = {message.id for message in read_po(source) if message.id}
    with open(LOCALES / "messages.pot", "rb") as source:
        committed = {message.id for message in read_po(source) if message.id}

    assert extracted == committed
