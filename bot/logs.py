"""Logging set-up: one line per record, secrets redacted, token-bearing URLs kept quiet."""

from __future__ import annotations

import logging

# The HTTP client loggers print request URLs, and Bot API URLs carry the bot token. aiosqlite
# logs every statement with its parameters (attendees' names and ids) at DEBUG.
QUIET_LOGGERS = ("httpx", "httpcore", "aiohttp.client", "urllib3", "aiosqlite")


class RedactingFilter(logging.Filter):
    """Replace every secret that reaches a log record with a placeholder."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if len(secret) >= 8]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self.secrets:
            redacted = redacted.replace(secret, "[redacted]")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(level: str, secrets: list[str]) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    )
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # aiogram logs one INFO line per handled update; keep it for DEBUG runs only.
    logging.getLogger("aiogram.event").setLevel(max(logging.getLevelName(level), logging.WARNING))
