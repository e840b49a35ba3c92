"""Errors raised by the bot service, each naming the bad value and the fix."""


class MicropopError(Exception):
    """Base of every error the bot service raises on purpose."""


class ConfigError(MicropopError):
    """A setting is missing or malformed."""


class InputError(MicropopError):
    """User input (a command argument, a payload) was rejected."""


class NotFoundError(MicropopError):
    """A referenced row does not exist."""


class ForbiddenError(MicropopError):
    """The caller may not perform the action."""


class SchedulingError(MicropopError):
    """A job could not be scheduled."""
