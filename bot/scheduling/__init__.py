"""Scheduling: APScheduler with a persistent job store in the bot's own database."""
