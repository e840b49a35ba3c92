"""Errors raised by the venue daemon, each naming the bad value and the fix."""


class HardwareError(Exception):
    """Base of every error the venue daemon raises on purpose."""


class ConfigError(HardwareError):
    """A daemon setting (beacon list, printer URI, bot URL) is malformed."""


class InvalidURL(HardwareError):
    """A URL cannot be put into an Eddystone-URL or URI beacon frame."""


class URLTooLong(InvalidURL):
    """A URL encodes to more bytes than an Eddystone-URL frame carries."""

    def __init__(self, url: str, encoded_length: int, limit: int) -> None:
        self.url = url
        self.encoded_length = encoded_length
        self.limit = limit
        super().__init__(
            f'URL "{url}" encodes to {encoded_length} bytes, over the Eddystone-URL limit of '
            f"{limit}: use a shorter public base URL (MICROPOP_PUBLIC_BASE_URL), ideally a short "
            "domain ending in .com, .org, .edu, .net, .info, .biz or .gov such as "
            "https://popup.com, whose ending encodes to one byte"
        )


class BeaconError(HardwareError):
    """A beacon could not be found, connected or written."""


class PrinterError(HardwareError):
    """A printer could not be opened, or did not accept a whole job."""


class FeedError(HardwareError):
    """The bot service's hardware feed rejected a request or could not be reached."""
