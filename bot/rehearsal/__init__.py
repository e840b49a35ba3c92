"""Rehearsal: a whole night offline against the built-in Bot API emulator."""
